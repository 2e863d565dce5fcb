"""What `lock` and `check` ask a running hubgate, over HTTP: metadata only, never a file's bytes.

Two kinds of question, with two different credentials:
- the Hub protocol hubgate serves (`/api/{type}s/{repo}/revision/{rev}`, `.../tree/{commit}`), exactly
  as a client would see it: which commit a branch resolves to (approved-revision pinning included) and
  every file's path, size, git blob id and LFS sha256. hubgate relays a bearer token there to the Hub as
  the caller's Hub token, so only the Hub token (`HF_TOKEN`, for gated or private repos) goes there,
  never the hubgate API token;
- hubgate's own API with the API token (a viewer's is enough): the gate's view of a revision (licence,
  origin, signature, the review state of the revision and of every file) and a review's sign-off.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from mirror.errors import InvalidRepoId
from mirror.hub.rules import parse_repo_id

API = "/api/hubgate/v1"
_TIMEOUT_S = 60
_MAX_PAGES = 1000  # a tree listing of 1000 pages is not a model repository
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GatewayError(Exception):
    """hubgate answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Resolved:
    commit: str
    repo_id: str  # canonical


@dataclass(frozen=True, slots=True)
class RemoteFile:
    path: str
    size: int
    git_oid: str
    sha256: str | None  # LFS files: from the Hub's metadata


class Gateway:
    def __init__(self, url: str, *, token: str | None, hf_token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._hf_token = hf_token

    # -- the Hub protocol, as clients see it -----------------------------------------------------------

    def resolve(self, repo_type: str, repo: str, revision: str) -> Resolved:
        """The commit `revision` resolves to through hubgate now, and the repository's canonical id (a
        legacy or renamed id, or another case, names the repository hubgate judged under its own id)."""
        body, _ = self._get(f"/api/{repo_type}s/{repo}/revision/{quote(revision, safe='')}", hub=True)
        answer = _json(body)
        sha, canonical = answer.get("sha"), answer.get("id")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise GatewayError(502, f"hubgate's answer for {repo}@{revision} names no commit")
        try:
            repo_id = parse_repo_id(canonical) if isinstance(canonical, str) else repo
        except InvalidRepoId:
            repo_id = repo
        return Resolved(commit=sha, repo_id=repo_id)

    def files(self, repo_type: str, repo: str, commit: str) -> list[RemoteFile]:
        """Every file of the commit, from the tree listing (all pages)."""
        path: str | None = f"/api/{repo_type}s/{repo}/tree/{commit}?recursive=true"
        found: list[RemoteFile] = []
        for _page in range(_MAX_PAGES):
            if path is None:
                return sorted(found, key=lambda item: item.path)
            body, headers = self._get(path, hub=True)
            items = json.loads(body)
            if not isinstance(items, list):
                raise GatewayError(502, f"hubgate's tree listing of {repo}@{commit} is not a list")
            found.extend(_remote_file(item) for item in items if item.get("type") == "file")
            path = self._next_page(headers.get("Link", ""))
        raise GatewayError(502, f"the tree listing of {repo}@{commit} has more than {_MAX_PAGES} pages")

    def _next_page(self, link: str) -> str | None:
        found = _NEXT.search(link)
        if found is None:
            return None
        target, own = urlsplit(found.group(1)), urlsplit(self.url)
        # Tokens go to hubgate only: a next link elsewhere is not followed.
        if (target.scheme, target.netloc) != (own.scheme, own.netloc):
            raise GatewayError(502, f"hubgate's next-page link leaves hubgate: {found.group(1)}")
        return target.path.removeprefix(own.path) + (f"?{target.query}" if target.query else "")

    # -- hubgate's API ---------------------------------------------------------------------------------

    def revision_status(self, repo_type: str, repo: str, commit: str) -> dict[str, Any] | None:
        """The gate's view of a revision (the inventory's record), None when hubgate never judged it."""
        try:
            body, _ = self._get(f"{API}/inventory/{repo_type}/{repo}/{commit}", hub=False)
        except GatewayError as exc:
            if exc.status == 404 and exc.code in ("NotFound", "RevisionNotJudged"):
                return None
            raise
        return _json(body)

    def review(self, review_id: int) -> dict[str, Any]:
        body, _ = self._get(f"{API}/reviews/{review_id}", hub=False)
        return _json(body)

    def prefetch(self, repo_type: str, repo: str, commit: str, include: list[str]) -> dict[str, Any]:
        """Start hubgate's prefetch of exactly these paths (needs a requester token)."""
        body = {"repo": repo, "revision": commit, "repo_type": repo_type, "include": include}
        if self._hf_token:
            body["hf_token"] = self._hf_token
        answer, _ = self._request("POST", f"{API}/prefetch", hub=False, body=body)
        return _json(answer)

    def prefetch_job(self, job_id: str) -> dict[str, Any]:
        body, _ = self._get(f"{API}/prefetch/{job_id}", hub=False)
        return _json(body)

    # -- transport -------------------------------------------------------------------------------------

    def _get(self, path: str, *, hub: bool) -> tuple[bytes, dict[str, str]]:
        return self._request("GET", path, hub=hub)

    def _request(
        self, method: str, path: str, *, hub: bool, body: dict[str, Any] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        token = self._hf_token if hub else self._token
        if not hub and not token:
            raise GatewayError(
                401, "no hubgate API token: pass --token or set HUBGATE_TOKEN (a viewer's token is enough)"
            )
        headers = {"Accept": "application/json", "User-Agent": "hubgate-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own hubgate
            self.url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310
                return bytes(response.read()), dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            message = exc.headers.get("X-Error-Message") or str(exc.reason)
            raise GatewayError(exc.code, message, exc.headers.get("X-Error-Code") or "") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GatewayError(0, f"cannot reach hubgate at {self.url}: {reason}") from None


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise GatewayError(502, "hubgate's answer is not JSON") from None
    if not isinstance(value, dict):
        raise GatewayError(502, "hubgate's answer is not a JSON object")
    return value


def _remote_file(item: dict[str, Any]) -> RemoteFile:
    lfs = item.get("lfs")
    sha256 = lfs.get("oid") if isinstance(lfs, dict) else None
    return RemoteFile(
        path=str(item["path"]),
        size=int(item.get("size") or 0),
        git_oid=str(item.get("oid") or ""),
        sha256=sha256 if isinstance(sha256, str) else None,
    )
