"""Parse the Hub's URL surface from the raw (still percent-encoded) path.

aiohttp's router decodes `%2F` before matching, but the Hub's URLs depend on it: `refs%2Fpr%2F1` is one
revision, and 2.x sends a tree sub-path as one encoded segment. So the fake splits the raw path on `/`
and decodes each segment itself. Repo ids have one or two segments; when the URL alone is ambiguous,
the repos that exist decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from tests.fakehub import errors
from tests.fakehub.repo import DEFAULT_BRANCH, RepoType, ResolvedRevision

ApiAction = Literal["info", "tree", "paths-info", "auth-check", "xet-read-token", "refs"]
# The word after the repo id, and the action it names (`/revision/{rev}` is the info of that revision).
_ACTIONS: dict[str, ApiAction] = {
    "revision": "info",
    "tree": "tree",
    "paths-info": "paths-info",
    "auth-check": "auth-check",
    "xet-read-token": "xet-read-token",
    "refs": "refs",
}
_PLURAL_TYPES: dict[str, RepoType] = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX_TYPES: dict[str, RepoType] = {"datasets": "dataset", "spaces": "space"}
# The Hub's naming rule (the client's validator mirrors it): letters, digits, `_.-`, at most 96 chars,
# no `--` or `..`, and not starting or ending with `.` or `-`.
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,94}[A-Za-z0-9_])?")

RepoExists = Callable[[RepoType, str], bool]


@dataclass(frozen=True)
class RepoAddress:
    repo_type: RepoType
    repo_id: str


@dataclass(frozen=True)
class ApiCall:
    """`/api/{type}s/{repo}/{action}/...`; `rest` holds the decoded segments after the action.

    `repo_span`: which path segments (start, stop) spell the repo id, to redirect to another id."""

    action: ApiAction
    repo: RepoAddress
    rest: tuple[str, ...]
    repo_span: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ResolveCall:
    """`/{prefix}{repo}/resolve/{revision}/{path}`; `rest` is `revision` and `path` still unsplit."""

    repo: RepoAddress
    rest: tuple[str, ...]
    repo_span: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class WhoAmICall:
    pass


Route = ApiCall | ResolveCall | WhoAmICall


def with_repo_id(raw_path: str, span: tuple[int, int], repo_id: str) -> str:
    """`raw_path` with the segments in `span` replaced by `repo_id`; the other segments stay as sent
    (an encoded `refs%2Fpr%2F1` stays encoded)."""
    raw = raw_path.strip("/").split("/")
    new = [quote(part, safe="") for part in repo_id.split("/")]
    return "/" + "/".join([*raw[: span[0]], *new, *raw[span[1] :]])


def decoded_segments(raw_path: str) -> tuple[str, ...]:
    """Raise HubError 400 for empty, `.` or `..` segments (after decoding) and NUL bytes."""
    segments = tuple(unquote(s) for s in raw_path.strip("/").split("/")) if raw_path.strip("/") else ()
    for segment in segments:
        if segment in ("", ".", "..") or "\0" in segment or any(p in (".", "..") for p in segment.split("/")):
            raise errors.bad_request(f"Invalid path: {raw_path}")
    return segments


def parse_route(raw_path: str, exists: RepoExists) -> Route:
    """Raise HubError 404 for URLs the Hub does not serve, 400 for malformed ones."""
    segments = decoded_segments(raw_path)
    if segments == ("api", "whoami-v2"):
        return WhoAmICall()
    if len(segments) >= 3 and segments[0] == "api" and segments[1] in _PLURAL_TYPES:
        return _api_call(_PLURAL_TYPES[segments[1]], segments[2:], exists)
    if segments and segments[0] != "api":
        return _resolve_call(segments, exists)
    raise errors.route_not_found()


def split_repo_id(repo_id: str) -> tuple[str, ...]:
    """Raise HubError 400 unless `repo_id` is `name` or `namespace/name` with valid names."""
    parts = tuple(repo_id.split("/"))
    if len(parts) > 2 or not all(_NAME.fullmatch(p) and "--" not in p and ".." not in p for p in parts):
        raise errors.bad_request(f"Invalid repo id: {repo_id!r}")
    return parts


def _api_call(repo_type: RepoType, segments: tuple[str, ...], exists: RepoExists) -> ApiCall:
    repo_id, rest = _pick_repo_id(repo_type, segments, exists, keyword=None)
    span = (2, 2 + len(segments) - len(rest))  # after `api` and the type
    if not rest:
        return ApiCall(action="info", repo=RepoAddress(repo_type, repo_id), rest=(), repo_span=span)
    action = _ACTIONS.get(rest[0])
    if action is None:
        raise errors.route_not_found()
    return ApiCall(action=action, repo=RepoAddress(repo_type, repo_id), rest=rest[1:], repo_span=span)


def _resolve_call(segments: tuple[str, ...], exists: RepoExists) -> ResolveCall:
    repo_type: RepoType = "model"
    start = 0
    if segments[0] in _URL_PREFIX_TYPES:
        repo_type, segments, start = _URL_PREFIX_TYPES[segments[0]], segments[1:], 1
    repo_id, rest = _pick_repo_id(repo_type, segments, exists, keyword="resolve")
    if not rest or rest[0] != "resolve" or len(rest) < 3:
        raise errors.route_not_found()
    span = (start, start + len(segments) - len(rest))
    return ResolveCall(repo=RepoAddress(repo_type, repo_id), rest=rest[1:], repo_span=span)


def _pick_repo_id(
    repo_type: RepoType, segments: tuple[str, ...], exists: RepoExists, *, keyword: str | None
) -> tuple[str, tuple[str, ...]]:
    """Choose between `namespace/name` and a legacy one-segment id; returns (repo id, what follows)."""
    two = ("/".join(segments[:2]), segments[2:]) if len(segments) >= 2 else None
    one = (segments[0], segments[1:]) if segments else None
    candidates = [c for c in (two, one) if c is not None]
    if not candidates:
        raise errors.route_not_found()
    existing = [c for c in candidates if exists(repo_type, c[0]) and _follows(c[1], keyword)]
    if existing:
        chosen = existing[0]
    elif two is not None and segments[1] not in (set(_ACTIONS) if keyword is None else {keyword}):
        chosen = two
    else:
        chosen = candidates[-1]
    split_repo_id(chosen[0])
    return chosen


def _follows(rest: tuple[str, ...], keyword: str | None) -> bool:
    return keyword is None or (bool(rest) and rest[0] == keyword)


def split_revision(
    rest: tuple[str, ...], resolve: Callable[[str], ResolvedRevision | None], *, keep: int
) -> tuple[str, ResolvedRevision | None, tuple[str, ...]]:
    """Split `rest` into (revision, what it resolves to, remaining segments), leaving at least `keep`.

    Clients percent-encode revisions into one segment, but an unencoded `refs/pr/1` or `feature/x`
    spans several: the shortest run of segments naming a known ref wins.
    """
    if not rest:
        return DEFAULT_BRANCH, resolve(DEFAULT_BRANCH), ()
    for length in range(1, max(1, len(rest) - keep) + 1):
        name = "/".join(rest[:length])
        resolved = resolve(name)
        if resolved is not None:
            return name, resolved, rest[length:]
    return rest[0], None, rest[1:]
