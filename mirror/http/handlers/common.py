"""What every Hub-protocol handler does with a request before its own work: the caller's upstream
credentials, the canonical repository it names, the revision pinning holds, the warning it gets."""

from __future__ import annotations

from aiohttp import web

from mirror.http.routes import RouteMatch
from mirror.hub.client import HubClient
from mirror.hub.models import Credentials, RepoRef
from mirror.hub.names import RepoNames
from mirror.metrics import Metrics
from mirror.revision.admission import Admission
from mirror.revision.pinning import ApprovedPinning

STALE_WARNING = (
    "hubgate; upstream is unreachable or rate-limiting hubgate: this answer comes from hubgate's store "
    "and may be out of date"
)


def public_base(request: web.Request, configured: str | None) -> str:
    """The origin clients use to reach hubgate, for the links we write."""
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"


class HubRequests:
    def __init__(
        self,
        *,
        hub: HubClient,
        names: RepoNames,
        admission: Admission,
        pinning: ApprovedPinning,
        metrics: Metrics,
        public_url: str | None,
    ) -> None:
        self._hub = hub
        self._names = names
        self._admission = admission
        self._pinning = pinning
        self._metrics = metrics
        self._public_url = public_url

    def credentials(self, request: web.Request) -> Credentials:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        client_token = token.strip() if scheme.lower() == "bearer" and token.strip() else None
        return self._hub.credentials(client_token)

    async def target_repo(self, request: web.Request, match: RouteMatch) -> RepoRef:
        """The canonical repository the request names, admitted by the policy.

        Clients may spell a repo id in any case, or use a legacy or renamed id: everything below works
        on the Hub's canonical id, and the policy's deny rules see every spelling used.
        """
        repo = await self._names.canonical(match.target, self.credentials(request))
        self._admission.admit_repo(repo, aliases=(match.target,))
        return repo

    def public_base(self, request: web.Request) -> str:
        return public_base(request, self._public_url)

    def warning(self, *, stale: bool, warning: str | None) -> str | None:
        """The one X-HF-Warning an answer carries: a stale (offline or rate-limited) answer says so first."""
        if stale:
            self._metrics.stale_answers.inc()
            return STALE_WARNING
        return warning

    def json_response(
        self,
        body: bytes,
        *,
        commit: str | None = None,
        stale: bool = False,
        warning: str | None = None,
    ) -> web.Response:
        response = web.Response(body=body, content_type="application/json")
        if commit is not None:
            response.headers["X-Repo-Commit"] = commit
        notice = self.warning(stale=stale, warning=warning)
        if notice is not None:
            response.headers["X-HF-Warning"] = notice
        return response

    async def held_revision(
        self, request: web.Request, repo: RepoRef, revision: str | None
    ) -> tuple[str | None, str | None]:
        """The revision to answer for, and a warning for the client when approved-revision pinning holds
        a branch or tag back at an older commit than upstream's."""
        hold = await self._pinning.hold(repo, revision, self.credentials(request))
        if hold is None:
            return revision, None
        return hold.commit, hold.warning(repo, revision)
