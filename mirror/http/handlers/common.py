"""Small helpers shared by the request handlers."""

from __future__ import annotations

from aiohttp import web

from mirror.http.routes import RouteMatch
from mirror.http.services import SERVICES, Services
from mirror.hub.models import Credentials, RepoRef

STALE_WARNING = (
    "hubgate; upstream is unreachable or rate-limiting hubgate: this answer comes from hubgate's store "
    "and may be out of date"
)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def credentials(request: web.Request) -> Credentials:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    client_token = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return services(request).hub.credentials(client_token)


async def target_repo(request: web.Request, match: RouteMatch) -> RepoRef:
    """The canonical repository the request names, admitted by the policy.

    Clients may spell a repo id in any case, or use a legacy or renamed id: everything below works on
    the Hub's canonical id, and the policy's deny rules see every spelling used.
    """
    mirror = services(request)
    repo = await mirror.names.canonical(match.target, credentials(request))
    mirror.admission.admit_repo(repo, aliases=(match.target,))
    return repo


def public_base(request: web.Request) -> str:
    """The origin clients use to reach hubgate, for the links we write."""
    configured = services(request).settings.server.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"


def json_response(
    request: web.Request,
    body: bytes,
    *,
    commit: str | None = None,
    stale: bool = False,
    warning: str | None = None,
) -> web.Response:
    response = web.Response(body=body, content_type="application/json")
    if commit is not None:
        response.headers["X-Repo-Commit"] = commit
    notice = client_warning(request, stale=stale, warning=warning)
    if notice is not None:
        response.headers["X-HF-Warning"] = notice
    return response


def client_warning(request: web.Request, *, stale: bool, warning: str | None) -> str | None:
    """The one X-HF-Warning an answer carries: a stale (offline or rate-limited) answer says so first."""
    if stale:
        services(request).metrics.stale_answers.inc()
        return STALE_WARNING
    return warning


async def held_revision(
    request: web.Request, repo: RepoRef, revision: str | None
) -> tuple[str | None, str | None]:
    """The revision to answer for, and a warning for the client when approved-revision pinning holds a
    branch or tag back at an older commit than upstream's."""
    hold = await services(request).pinning.hold(repo, revision, credentials(request))
    if hold is None:
        return revision, None
    return hold.commit, hold.warning(repo, revision)
