"""The review API under /api/hubgate/v1: reviews, decisions, audit trail, downloads and prefetch."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from mirror.blobs.gate import covered_interpretations
from mirror.errors import BadRequest, MirrorError, NotFound
from mirror.http.handlers.common import public_base, services
from mirror.http.openapi import OPENAPI
from mirror.http.routes import RouteMatch
from mirror.hub.models import RepoRef, RepoType
from mirror.hub.pathtext import hidden_characters, visible
from mirror.hub.rules import parse_repo_id, parse_revision
from mirror.inventory.records import upstream_text
from mirror.review.audit_verify import verify_trail
from mirror.review.auth import Principal, authenticate, require
from mirror.review.checkpoints import AuditChainBroken
from mirror.review.service import ReviewService, revision_key
from mirror.review.transitions import MAX_WAIVER, SERVABLE, TRANSITIONS, Action, ReviewState, Role
from scanners import interpretation
from storage.records import AuditEvent, RepoKey, ReviewRecord, ReviewRequest
from storage.signature_store import SignatureStore

_PAGE_MAX = 500
_DECISIONS = {
    "approve": Action.WAIVE,
    "block": Action.BLOCK,
    "revoke": Action.REVOKE,
    "reopen": Action.REOPEN,
}
# The least role each /reviews/{id}/{action} needs (the transition table may ask for more).
_ACTION_ROLES = {
    "request": Role.REQUESTER,
    "rescan": Role.APPROVER,
    "approve": Role.APPROVER,
    "block": Role.APPROVER,
    "revoke": Role.APPROVER,
    "reopen": Role.ADMIN,
}
# The longest waiver: a decision nobody looks at again for more than a year is not a review.


async def _principal(request: web.Request, role: Role) -> Principal:
    principal = await authenticate(request, services(request).tokens)
    require(principal, role)
    return principal


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, *, required: bool = False, limit: int = 4000) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise BadRequest(f"{key!r} must be a non-empty string of at most {limit} characters")
    return value


def _int_query(request: web.Request, key: str, default: int, *, low: int = 0, high: int = 10**12) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}")
    return int(raw)


def review_json(review: ReviewRecord) -> dict[str, Any]:
    return {
        "id": review.id,
        "subject_kind": review.subject_kind,
        "subject": review.subject,
        "state": review.state,
        "severity": review.severity,
        "reasons": json.loads(review.reasons),
        "repo": f"{review.repo_type}s/{review.repo_id}" if review.repo_id else "",
        "repo_type": review.repo_type,
        "repo_id": review.repo_id,
        "commit": review.commit,
        "path": review.path,
        # A path upstream listed may hold characters that hide or reorder text: said here, and escaped.
        "path_hidden_characters": list(hidden_characters(review.path or "")),
        "path_display": visible(review.path or ""),
        "size": review.size,
        "policy_version": review.policy_version,
        "scanner_version": review.scanner_version,
        "waiver": None
        if review.waiver_by is None
        else {
            "by": review.waiver_by,
            "reason": review.waiver_reason,
            "expires_at": None if review.waiver_expires_at is None else review.waiver_expires_at.isoformat(),
            "rules": json.loads(review.waived_rules or "[]"),
        },
        "request": None
        if review.requested_by is None
        else {"by": review.requested_by, "justification": review.request_justification},
        "created_at": review.created_at.isoformat(),
        "updated_at": review.updated_at.isoformat(),
    }


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "token": event.actor_token,
        "role": event.role,
        "action": event.action,
        "review_id": event.review_id,
        "subject": event.subject,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "reason": event.reason,
        "rule_ids": event.rule_ids.split(",") if event.rule_ids else [],
        "report_digest": event.report_digest,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


async def openapi(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    return web.json_response(OPENAPI)


async def whoami(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    principal = await _principal(request, Role.VIEWER)
    return web.json_response(
        {"name": principal.name, "subject": principal.person, "role": principal.role.name.lower()}
    )


async def list_reviews(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _principal(request, Role.VIEWER)
    # One state or several, comma-separated: the review page's default view is QUARANTINED,PENDING.
    states = [part.strip().upper() for part in request.query.get("state", "").split(",") if part.strip()]
    unknown_states = [state for state in states if state not in ReviewState.__members__]
    if unknown_states:
        raise BadRequest(
            f"unknown state {unknown_states[0]!r}: use one or more of {', '.join(ReviewState.__members__)}"
        )
    severity = request.query.get("severity")
    limit = _int_query(request, "limit", 100, low=1, high=_PAGE_MAX)
    after = _int_query(request, "after", 0)
    repo = request.query.get("repo")
    if repo is not None:
        repo = parse_repo_id(
            repo.split("/", 1)[1] if repo.startswith(("models/", "datasets/", "spaces/")) else repo
        )
    items = await services(request).reviews.store.list_reviews(
        states=states,
        repo=repo,
        severity=severity,
        after_id=after,
        limit=limit,
    )
    body: dict[str, Any] = {"items": [review_json(item) for item in items], "next": None}
    if len(items) == limit:
        query = {k: v for k, v in request.query.items() if k != "after"} | {"after": str(items[-1].id)}
        body["next"] = f"{public_base(request)}{request.path}?{urlencode(query)}"
    return web.json_response(body)


async def show_review(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    principal = await _principal(request, Role.VIEWER)
    mirror = services(request)
    review = await mirror.reviews.current_by_id(int(match.param("id")))
    body = review_json(review)
    body["actions"] = allowed_actions(review, principal.role)
    if review.subject_kind == "blob":
        body["reports"] = [
            {"scanner_version": version, "created_at": at, **json.loads(report)}
            for version, at, report in await mirror.reviews.store.reports(review.subject)
        ]
        downloads = await mirror.download_records.downloads(blob_sha256=review.subject, limit=_PAGE_MAX)
        body["downloads"] = {
            "count": len(downloads),
            "identities": sorted({event.identity for _, event in downloads}),
            "latest": [_download_json(i, e) for i, e in downloads[-20:]],
        }
        body["licence_review"] = await _licence_review(mirror.reviews, review)
        # What the verdict covers, and every name the same bytes are served under: a reviewer approving
        # `notes.txt` must see that it is also `modeling_x.py` somewhere.
        body["interpretations"] = sorted(covered_interpretations(review))
        body["paths"] = [
            {
                "repo": f"{repo.repo_type}s/{repo.repo_id}",
                "commit": commit,
                "path": path,
                "interpretation": interpretation(path),
                "covered": interpretation(path) in body["interpretations"],
            }
            for repo, commit, path in await mirror.repository.paths_of_blob(review.subject)
        ]
    body["requests"] = [_request_json(item) for item in await mirror.reviews.requests(review.id)]
    body["signature"] = await _signature_check(mirror.signature_checks, review)
    if review.repo_id:
        # Whether the Hub still serves the repository: a reviewer deciding on a continuity review (or on
        # anything) should know that it vanished or was gated, and since when.
        upstream = await mirror.continuity.status(
            RepoRef(repo_type=RepoType(review.repo_type), repo_id=review.repo_id)
        )
        body["upstream_state"] = upstream_text(upstream)
        body["upstream"] = {
            "state": upstream.state,
            "since": None if upstream.since is None else upstream.since.isoformat(),
            "detail": upstream.detail,
        }
    body["audit"] = [event_json(e) for e in await mirror.audit_trail.audit_events(review_id=review.id)]
    return web.json_response(body)


def _request_json(item: ReviewRequest) -> dict[str, Any]:
    return {
        "by": item.subject,
        "token": item.token_name,
        "role": item.role,
        "justification": item.justification,
        "state": item.review_state,
        "at": item.at.isoformat(),
    }


async def _signature_check(checks: SignatureStore, review: ReviewRecord) -> dict[str, str] | None:
    """How the model signature of the review's revision was judged (None: no trust rule checked it)."""
    if not review.repo_id or not review.commit:
        return None
    check = await checks.get(RepoKey(review.repo_type, review.repo_id), review.commit)
    return None if check is None else check.to_dict()


_ACTIONS = (
    ("approve", Action.WAIVE),
    ("block", Action.BLOCK),
    ("revoke", Action.REVOKE),
    ("reopen", Action.REOPEN),
    ("rescan", Action.RESCAN),
)


def allowed_actions(review: ReviewRecord, role: Role) -> list[str]:
    """The endpoints under /reviews/{id}/ this role may call in the review's current state.

    Derived from the one transition table, so a client (the review page) never keeps its own copy of the
    state machine. Four-eyes is left to the decision itself, whose refusal says why (a hidden button would
    not).
    """
    state = ReviewState(review.state)
    names = [
        name
        for name, action in _ACTIONS
        if (rule := TRANSITIONS.get((state, action))) is not None and role >= rule.least_role
    ]
    # Asking for a review is accepted in any state, but only means something while the subject is refused.
    if role >= Role.REQUESTER and state not in SERVABLE:
        names.append("request")
    return names


async def _licence_review(reviews: ReviewService, review: ReviewRecord) -> dict[str, Any] | None:
    """The licence review of the commit a blob was first seen in, if its licence needed one."""
    if not review.repo_id or not review.commit:
        return None
    revision = await reviews.current(
        "revision", revision_key(review.repo_type, review.repo_id, review.commit)
    )
    if revision is None:
        return None
    return {"id": revision.id, "state": revision.state, "reasons": json.loads(revision.reasons)}


async def review_action(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    action = match.param("action")
    mirror = services(request)
    review_id = int(match.param("id"))
    # Who asks is settled before the body is read: a caller without a token (or the role) gets 401 (403)
    # whatever it sent, never a 400 or 413 that reveals how its body was parsed.
    principal = await authenticate(request, mirror.tokens)
    require(principal, _ACTION_ROLES[action])
    data = await _body(request)
    if action == "request":
        review = await mirror.reviews.request(
            review_id, principal, justification=_text(data, "justification")
        )
    elif action == "rescan":
        current = await mirror.reviews.current_by_id(review_id)
        review = await mirror.reevaluator.rescan(current, principal, reason=_text(data, "reason"))
    else:
        review = await mirror.reviews.act(
            review_id,
            _DECISIONS[action],
            principal,
            reason=_text(data, "reason", required=True),
            expires_at=_expiry(data),
        )
    return web.json_response(review_json(review))


def _expiry(data: dict[str, Any]) -> datetime | None:
    """When a waiver ends: `expires_in_s` seconds from now or `expires_at`, at most MAX_WAIVER ahead."""
    now = datetime.now(UTC)
    longest = f"at most {MAX_WAIVER.days} days"
    if "expires_in_s" in data:
        seconds = data["expires_in_s"]
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not math.isfinite(seconds)
            or not 0 < seconds <= MAX_WAIVER.total_seconds()
        ):
            raise BadRequest(f"expires_in_s must be a positive number of seconds, {longest}")
        return now + timedelta(seconds=float(seconds))
    raw = data.get("expires_at")
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        raise BadRequest("expires_at must be an ISO 8601 date and time") from None
    parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if parsed - now > MAX_WAIVER:
        raise BadRequest(f"expires_at must lie {longest} ahead")
    return parsed


async def audit(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _principal(request, Role.VIEWER)
    limit = _int_query(request, "limit", 500, low=1, high=5000)
    after = _int_query(request, "after", 0)
    review_id = request.query.get("review_id")
    events = await services(request).audit_trail.audit_events(
        after_id=after,
        limit=limit,
        review_id=None if review_id is None else _int_query(request, "review_id", 0),
    )
    return web.json_response({"items": [event_json(event) for event in events]})


async def audit_verify(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _principal(request, Role.VIEWER)
    mirror = services(request)
    result = await verify_trail(mirror.checkpoints, store=mirror.audit_trail, objects=mirror.store)
    return web.json_response(result, status=200 if result["ok"] else 409)


async def audit_checkpoint(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    """Anchor the audit trail now (admin): a signed checkpoint of its head, exported to the object store."""
    await _principal(request, Role.ADMIN)
    try:
        exported = await services(request).checkpoints.checkpoint()
    except AuditChainBroken as exc:
        raise MirrorError(str(exc), status=409, code="AuditChainBroken") from exc
    if exported is None:
        return web.json_response({"created": False, "reason": "nothing new since the last checkpoint"})
    return web.json_response(
        {
            "created": True,
            "name": exported.name,
            "digest": exported.digest,
            "last_event_id": exported.checkpoint.last_event_id,
            "head_hash": exported.checkpoint.head_hash,
        }
    )


def _download_json(row_id: int, event: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "at": None if event.at is None else event.at.isoformat(),
        "repo": f"{event.repo_type}s/{event.repo_id}",
        "commit": event.commit,
        "path": event.path,
        "path_display": visible(event.path),
        "identity": event.identity,
        "client": event.client,
        "state": event.state,
        "range_start": event.range_start,
        "bytes": event.bytes,
    }


async def blob_downloads(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _principal(request, Role.VIEWER)
    after = _int_query(request, "after", 0)
    rows = await services(request).download_records.downloads(
        blob_sha256=match.param("sha256"), after_id=after, limit=_PAGE_MAX
    )
    return web.json_response({"items": [_download_json(i, e) for i, e in rows]})


async def start_prefetch(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _principal(request, Role.REQUESTER)
    data = await _body(request)
    repo_type = _text(data, "repo_type") or "model"
    if repo_type not in ("model", "dataset", "space"):
        raise BadRequest("repo_type must be model, dataset or space")
    repo = RepoRef(repo_type=RepoType(repo_type), repo_id=parse_repo_id(_text(data, "repo", required=True)))
    revision = parse_revision(_text(data, "revision") or "main")
    patterns = {key: data.get(key, []) for key in ("include", "exclude")}
    for key, value in patterns.items():
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise BadRequest(f"{key} must be a list of glob patterns")
    # The caller's Authorization is a hubgate token, never relayed: upstream sees the Hub token given in
    # the body (for gated or private repos) or hubgate's service token.
    hf_token = _text(data, "hf_token") or None
    upstream_credentials = services(request).hub.credentials(hf_token)
    spelling, repo = repo, await services(request).names.canonical(repo, upstream_credentials)
    services(request).admission.admit_repo(repo, aliases=(spelling,))
    job = services(request).prefetcher.start(
        repo, revision, upstream_credentials, include=patterns["include"], exclude=patterns["exclude"]
    )
    return web.json_response(job.to_dict(), status=202)


async def prefetch_job(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _principal(request, Role.VIEWER)
    job = services(request).prefetcher.get(match.param("job"))
    if job is None:
        raise NotFound(f"no prefetch job {match.param('job')} on this replica")
    return web.json_response(job.to_dict())


async def unknown(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    raise NotFound(
        f"hubgate's API has no endpoint {request.method} {request.path}; see /api/hubgate/v1/openapi.json"
    )
