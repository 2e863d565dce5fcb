"""CLI commands that drive a running hubgate through its API: reviews, prefetch and attestations."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from tqdm import tqdm

API = "/api/hubgate/v1"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return json.loads(call_raw(args, method, path, body) or b"null")


def call_raw(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
    """The answer's bytes as sent (signed documents must be written out unchanged)."""
    if not args.token:
        raise ApiError(401, "no API token: pass --token or set HUBGATE_TOKEN (see `hubgate token create`)")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own hubgate
        args.url.rstrip("/") + API + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        message = exc.headers.get("X-Error-Message") or exc.reason
        raise ApiError(exc.code, str(message)) from None
    except urllib.error.URLError as exc:
        raise ApiError(0, f"cannot reach hubgate at {args.url}: {exc.reason}") from None


def _line(review: dict[str, Any]) -> str:
    where = review["repo"] + (f" {review['path']}" if review["path"] else "") + f" @{review['commit'][:10]}"
    return f"{review['id']:>6}  {review['state']:<11} {review['severity'] or '-':<8} {where}"


def review_list(args: argparse.Namespace) -> int:
    query = {
        k: v for k, v in {"state": args.state, "repo": args.repo, "severity": args.severity}.items() if v
    }
    after = 0
    shown = 0
    while shown < args.limit:
        page = call(
            args, "GET", "/reviews?" + urlencode({**query, "after": after, "limit": min(500, args.limit)})
        )
        for review in page["items"][: args.limit - shown]:
            print(_line(review))
            shown += 1
        if not page["next"] or not page["items"]:
            break
        after = page["items"][-1]["id"]
    if shown == 0:
        print("no reviews match", file=sys.stderr)
    return 0


def review_show(args: argparse.Namespace) -> int:
    review = call(args, "GET", f"/reviews/{args.id}")
    if args.json:
        print(json.dumps(review, indent=2))
        return 0
    print(_line(review))
    print(f"subject  {review['subject_kind']} {review['subject']}")
    print(f"policy   {review['policy_version']}   scanner {review['scanner_version'] or '-'}")
    for reason in review["reasons"]:
        audit = " (audit only)" if reason.get("audit_only") else ""
        print(f"reason   {reason['rule_id']}: {reason['message']}{audit}")
    for report in review.get("reports", []):
        message = report.get("message", "")
        print(f"report   {report['scanner']}: {report['status']} ({report['format']}) {message}")
        for finding in report.get("findings", []):
            print(
                f"  - [{finding['severity']}] {finding['rule_id']} {finding.get('location', '')}: "
                f"{finding['message']} {finding.get('evidence', '')}"
            )
    if review.get("sign_off"):
        signed = review["sign_off"]
        token = signed["token"] or "-"
        rules = ", ".join(signed["rules"])
        print(
            f"sign-off {signed['kind']} by {signed['by']} (token {token}) on {signed['at']}: "
            f"{signed['reason']} (expires {signed['expires_at'] or 'never'}; waived {rules})"
        )
    elif review.get("waiver"):
        waiver = review["waiver"]
        print(f"waiver   by {waiver['by']}: {waiver['reason']} (expires {waiver['expires_at'] or 'never'})")
    requests = review.get("requests") or ([review["request"]] if review.get("request") else [])
    for asked in requests:
        token = f" (token {asked['token']})" if asked.get("token") else ""
        when = f" {asked['at']}" if asked.get("at") else ""
        print(f"request {when} by {asked['by']}{token}: {asked['justification']}")
    downloads = review.get("downloads")
    if downloads:
        print(f"pulled   {downloads['count']} times by {len(downloads['identities'])} identities")
    attempts = review.get("attempts")
    if attempts and attempts["count"]:
        # Who was refused what this review refuses (HEAD and GET answered 403), most attempts first.
        print(
            f"refused  {attempts['count']} attempts by {attempts['identity_count']} identities, "
            f"{attempts['first_at']} to {attempts['last_at']}"
        )
        for item in attempts["by_identity"]:
            clients = "; ".join(item["clients"]) or "-"
            print(f"  - {item['identity']}: {item['count']} (last {item['last_at']}) client {clients}")
        if attempts["unnamed"]:
            print(f"  - {attempts['unnamed']} more by identities past the record's daily bound")
    for event in review.get("audit", []):
        print(
            f"audit    #{event['id']} {event['at']} {event['actor']}"
            f"{_token_note(event)} {event['action']} "
            f"{event['from_state']}->{event['to_state']} {event['reason'][:80]}"
        )
    return 0


def _token_note(event: dict[str, Any]) -> str:
    token = event.get("token") or ""
    return f" (token {token})" if token and token != event["actor"] else ""


def review_decide(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason}
    if getattr(args, "expires_in", None) is not None:
        body["expires_in_s"] = args.expires_in.total_seconds()
    review = call(args, "POST", f"/reviews/{args.id}/{args.decision}", body)
    print(_line(review))
    return 0


def review_request(args: argparse.Namespace) -> int:
    review = call(args, "POST", f"/reviews/{args.id}/request", {"justification": args.justification})
    print(_line(review))
    return 0


def review_rescan(args: argparse.Namespace) -> int:
    review = call(
        args, "POST", f"/reviews/{args.id}/rescan", {"reason": args.reason or "rescan from the CLI"}
    )
    print(_line(review))
    return 0


def prefetch(args: argparse.Namespace) -> int:
    repo, _, revision = args.repo.partition("@")
    body = {
        "repo": repo,
        "revision": revision or "main",
        "repo_type": args.repo_type,
        "include": args.include or [],
        "exclude": args.exclude or [],
    }
    if args.hf_token:
        body["hf_token"] = args.hf_token
    job = call(args, "POST", "/prefetch", body)
    bar = tqdm(total=None, unit="B", unit_scale=True, desc=args.repo, disable=not sys.stderr.isatty())
    while job["state"] == "running":
        time.sleep(0.5)
        job = call(args, "GET", f"/prefetch/{job['id']}")
        bar.total = job["total_bytes"] or None
        bar.n = job["done_bytes"]
        bar.refresh()
    bar.close()
    if job["state"] == "failed":
        print(f"prefetch failed: {job['error']}", file=sys.stderr)
        return 2
    print(f"{job['repo']}@{job['commit']}: {job['done_files']} files, {job['counts']}")
    if job["licence"]:
        print(f"licence: {job['licence']}")
    for result in job["files"]:
        why = result["error"] or "; ".join(f"{r['rule_id']}: {r['message']}" for r in result["reasons"][:2])
        review = f"review {result['review_id']}" if result["review_id"] else ""
        print(f"  {result['state']:<11} {result['path']}  {review}  {why}".rstrip())
    blocked = [r for r in job["files"] if r["state"] != "APPROVED"]
    return 1 if blocked or job["licence"] else 0


def attest(args: argparse.Namespace) -> int:
    """Write hubgate's attestation of an approved revision (a model.sig, or the review statement)."""
    name, _, revision = args.repo.partition("@")
    path = f"/attestations/{args.repo_type}/{name}/{quote(revision or 'main', safe='')}"
    if args.kind != "model-signature":
        path += f"?kind={args.kind}"
    body = call_raw(args, "GET", path)
    if args.output == "-":
        sys.stdout.buffer.write(body)
    else:
        Path(args.output).write_bytes(body)
        print(
            f"wrote {args.output}: verify with `model_signing verify key --signature {args.output} "
            "--public_key <hubgate key> <model dir>`",
            file=sys.stderr,
        )
    return 0
