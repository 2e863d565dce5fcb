"""The whole URL surface in one table. Repo ids, revisions and paths are parsed and validated here, once
(with the Hub's rules from mirror/hub/rules.py).

Matching runs on the raw (percent-encoded) path so that a revision like `refs%2Fpr%2F1` stays one
segment; each captured part is then decoded and validated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

from aiohttp import web

from mirror.errors import InvalidRepoId, NotFound
from mirror.hub.models import RepoRef, RepoType
from mirror.hub.rules import parse_path, parse_repo_id, parse_revision


class Route(StrEnum):
    REPO_INFO = "repo_info"
    TREE = "tree"
    PATHS_INFO = "paths_info"
    XET_READ_TOKEN = "xet_read_token"  # noqa: S105 - a route name, not a secret
    AUTH_CHECK = "auth_check"
    RESOLVE = "resolve"
    HEALTHZ = "healthz"
    READYZ = "readyz"
    METRICS = "metrics"
    ADMIN_OPENAPI = "admin_openapi"
    ADMIN_WHOAMI = "admin_whoami"
    ADMIN_REVIEWS = "admin_reviews"
    ADMIN_REVIEW = "admin_review"
    ADMIN_REVIEW_ACTION = "admin_review_action"
    ADMIN_AUDIT = "admin_audit"
    ADMIN_AUDIT_VERIFY = "admin_audit_verify"
    ADMIN_AUDIT_CHECKPOINT = "admin_audit_checkpoint"
    ADMIN_BLOB_DOWNLOADS = "admin_blob_downloads"
    ADMIN_PREFETCH = "admin_prefetch"
    ADMIN_PREFETCH_JOB = "admin_prefetch_job"
    ADMIN_INVENTORY = "admin_inventory"
    ADMIN_INVENTORY_SBOM = "admin_inventory_sbom"
    ADMIN_REVISION_SBOM = "admin_revision_sbom"
    ADMIN_REVISION_STATUS = "admin_revision_status"
    ADMIN_REPORT = "admin_report"
    ADMIN_REPORT_TIMELINE = "admin_report_timeline"
    ADMIN_ATTESTATION_KEY = "admin_attestation_key"
    ADMIN_ATTESTATION = "admin_attestation"
    WELL_KNOWN_KEY = "well_known_key"
    ADMIN_UNKNOWN = "admin_unknown"
    WEB_PAGE = "web_page"
    WEB_STATIC = "web_static"


ROUTE = web.RequestKey("route", str)  # the matched route's name, on the request, for metrics


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    repo: RepoRef | None = None
    revision: str | None = None  # None: the repository's default branch
    path: str = ""
    params: tuple[tuple[str, str], ...] = ()  # other named parts of the URL (review id, sha256, job id)

    def param(self, name: str) -> str:
        return dict(self.params)[name]

    @property
    def target(self) -> RepoRef:
        """The repository of a repository route (the route table guarantees one)."""
        if self.repo is None:
            raise NotFound(f"{self.route} names no repository")
        return self.repo

    @property
    def pinned_revision(self) -> str:
        """The revision of a route whose URL always carries one (tree, paths-info, resolve)."""
        if self.revision is None:
            raise NotFound(f"{self.route} names no revision")
        return self.revision


_REPO = r"(?P<repo>[^/]+(?:/[^/]+)?)"
_API = r"/api/(?P<type>[^/]+)/" + _REPO
_REV = r"(?P<rev>[^/]+)"

_ADMIN = "/api/hubgate/v1"
# The review page. Its URLs have at most three segments and never `resolve` as the second or third, so no
# Hub URL (`/{repo}/resolve/...`, `/api/...`, `/datasets/...`, `/spaces/...`) can match them, nor the
# reverse, whatever the order of the table: tests/mirror/http/test_web_routes.py checks both directions.
_WEB = "/hubgate"

_TABLE: tuple[tuple[frozenset[str], re.Pattern[str], Route], ...] = (
    (frozenset({"GET"}), re.compile(r"/healthz"), Route.HEALTHZ),
    (frozenset({"GET"}), re.compile(r"/readyz"), Route.READYZ),
    (frozenset({"GET"}), re.compile(r"/metrics"), Route.METRICS),
    # hubgate's own API comes before the Hub's /api/{type}/... patterns, which would swallow it.
    (frozenset({"GET"}), re.compile(_ADMIN + r"/openapi\.json"), Route.ADMIN_OPENAPI),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/whoami"), Route.ADMIN_WHOAMI),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/reviews"), Route.ADMIN_REVIEWS),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/reviews/(?P<id>[0-9]{1,12})"), Route.ADMIN_REVIEW),
    (
        frozenset({"POST"}),
        re.compile(
            _ADMIN + r"/reviews/(?P<id>[0-9]{1,12})/(?P<action>request|approve|block|revoke|reopen|rescan)"
        ),
        Route.ADMIN_REVIEW_ACTION,
    ),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/audit"), Route.ADMIN_AUDIT),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/audit/verify"), Route.ADMIN_AUDIT_VERIFY),
    (frozenset({"POST"}), re.compile(_ADMIN + r"/audit/checkpoints"), Route.ADMIN_AUDIT_CHECKPOINT),
    (
        frozenset({"GET"}),
        re.compile(_ADMIN + r"/blobs/(?P<sha256>[0-9a-f]{64})/downloads"),
        Route.ADMIN_BLOB_DOWNLOADS,
    ),
    (frozenset({"POST"}), re.compile(_ADMIN + r"/prefetch"), Route.ADMIN_PREFETCH),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/prefetch/(?P<job>[0-9a-f]{1,32})"), Route.ADMIN_PREFETCH_JOB),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/inventory"), Route.ADMIN_INVENTORY),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/inventory/sbom"), Route.ADMIN_INVENTORY_SBOM),
    (
        frozenset({"GET"}),
        # No `repo` group: the repo type here is singular (model, dataset, space); the handler validates.
        re.compile(
            _ADMIN + r"/inventory/(?P<repo_type>model|dataset|space)/(?:(?P<org>[^/]+)/)?(?P<name>[^/]+)"
            r"/(?P<commit>[0-9a-f]{40})/sbom"
        ),
        Route.ADMIN_REVISION_SBOM,
    ),
    (
        frozenset({"GET"}),
        # What `hubgate check` asks: the gate's view of one revision, served or only judged.
        re.compile(
            _ADMIN + r"/inventory/(?P<repo_type>model|dataset|space)/(?:(?P<org>[^/]+)/)?(?P<name>[^/]+)"
            r"/(?P<commit>[0-9a-f]{40})"
        ),
        Route.ADMIN_REVISION_STATUS,
    ),
    (
        frozenset({"GET"}),
        re.compile(_ADMIN + r"/reports/(?P<kind>origins|licences|continuity)"),
        Route.ADMIN_REPORT,
    ),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/reports/timeline"), Route.ADMIN_REPORT_TIMELINE),
    (frozenset({"GET"}), re.compile(_ADMIN + r"/attestation-key"), Route.ADMIN_ATTESTATION_KEY),
    (
        frozenset({"GET"}),
        # As the inventory's links: a singular repo type, then the repo id, then a revision (any ref).
        re.compile(
            _ADMIN + r"/attestations/(?P<repo_type>model|dataset|space)/(?P<repo_id>[^/]+(?:/[^/]+)?)"
            r"/(?P<revision>[^/]+)"
        ),
        Route.ADMIN_ATTESTATION,
    ),
    (frozenset({"GET", "POST"}), re.compile(_ADMIN + r"(?:/.*)?"), Route.ADMIN_UNKNOWN),
    (frozenset({"GET"}), re.compile(r"/\.well-known/hubgate/attestation-key\.pem"), Route.WELL_KNOWN_KEY),
    (frozenset({"GET", "HEAD"}), re.compile(_WEB + r"/?"), Route.WEB_PAGE),
    (
        frozenset({"GET", "HEAD"}),
        re.compile(_WEB + r"/static/(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*\.(?:js|css|svg))"),
        Route.WEB_STATIC,
    ),
    (frozenset({"GET"}), re.compile(_API + r"/revision/" + _REV), Route.REPO_INFO),
    (frozenset({"GET"}), re.compile(_API + r"/tree/" + _REV + r"(?:/(?P<path>.*))?"), Route.TREE),
    (frozenset({"POST"}), re.compile(_API + r"/paths-info/" + _REV), Route.PATHS_INFO),
    (frozenset({"GET"}), re.compile(_API + r"/xet-read-token/" + _REV), Route.XET_READ_TOKEN),
    (frozenset({"GET"}), re.compile(_API + r"/auth-check"), Route.AUTH_CHECK),
    (frozenset({"GET"}), re.compile(_API), Route.REPO_INFO),
    (
        frozenset({"GET", "HEAD"}),
        re.compile(r"/(?:(?P<prefix>datasets|spaces)/)?" + _REPO + r"/resolve/" + _REV + r"/(?P<path>.+)"),
        Route.RESOLVE,
    ),
)


class MethodNotAllowed(NotFound):
    status = 405
    code = "MethodNotAllowed"


def match(method: str, raw_path: str) -> RouteMatch:
    """Find the route for a request. Raises NotFound, MethodNotAllowed or a BadRequest subclass."""
    allowed_elsewhere = False
    for methods, pattern, route in _TABLE:
        found = pattern.fullmatch(raw_path)
        if found is None:
            continue
        if method not in methods:
            allowed_elsewhere = True
            continue
        return _build(route, found)
    if allowed_elsewhere:
        raise MethodNotAllowed(f"{method} is not allowed on {raw_path}")
    raise NotFound(f"hubgate has no endpoint {raw_path}")


def _build(route: Route, found: re.Match[str]) -> RouteMatch:
    groups = found.groupdict()
    if "repo" not in groups:
        return RouteMatch(route=route, params=tuple((k, v) for k, v in groups.items() if v is not None))
    repo_type = _repo_type(groups)
    repo = RepoRef(repo_type=repo_type, repo_id=parse_repo_id(unquote(groups["repo"])))
    raw_rev = groups.get("rev")
    revision = None if raw_rev is None else parse_revision(unquote(raw_rev))
    raw_path = groups.get("path") or ""
    path = parse_path(raw_path, allow_empty=route is Route.TREE) if raw_path or route is Route.RESOLVE else ""
    return RouteMatch(route=route, repo=repo, revision=revision, path=path)


def _repo_type(groups: dict[str, str | None]) -> RepoType:
    api_type = groups.get("type")
    if api_type is not None:
        if api_type not in ("models", "datasets", "spaces"):
            raise InvalidRepoId(f"unknown repository type {api_type!r}: use models, datasets or spaces")
        return RepoType.from_api_segment(api_type)
    prefix = groups.get("prefix")
    return RepoType.from_api_segment(prefix) if prefix else RepoType.MODEL
