"""hubgate's attestations: its public key, and a signed manifest of a revision's approved files."""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from mirror.errors import BadRequest, MirrorError
from mirror.http.handlers.auth import ApiAuth
from mirror.http.routes import RouteMatch
from mirror.hub.catalog import Catalog
from mirror.hub.client import HubClient
from mirror.hub.models import RepoRef, RepoType
from mirror.hub.names import RepoNames
from mirror.hub.rules import parse_repo_id, parse_revision
from mirror.policy.engine import PolicyEngine
from mirror.review.attestor import Attestor
from mirror.review.transitions import Role
from mirror.revision.admission import Admission
from mirror.revision.approval import RevisionApproval
from storage.queries import utcnow

_KINDS = ("model-signature", "review")


class RevisionNotApproved(MirrorError):
    status = 409
    code = "RevisionNotApproved"


class AttestationApi:
    def __init__(
        self,
        *,
        auth: ApiAuth,
        attestor: Attestor,
        hub: HubClient,
        names: RepoNames,
        admission: Admission,
        catalog: Catalog,
        approval: RevisionApproval,
        policy: PolicyEngine,
    ) -> None:
        self._auth = auth
        self._attestor = attestor
        self._hub = hub
        self._names = names
        self._admission = admission
        self._catalog = catalog
        self._approval = approval
        self._policy = policy

    async def attestation_key(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        """The public key that verifies hubgate's attestations (public: verifiers need no token)."""
        signer = self._attestor.signer
        return web.Response(
            text=signer.public_key_pem,
            content_type="application/x-pem-file",
            headers={"X-Key-Fingerprint": signer.fingerprint, "Cache-Control": "public, max-age=300"},
        )

    async def attestation(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        kind = request.query.get("kind", "model-signature")
        if kind not in _KINDS:
            raise BadRequest(f"kind must be one of {', '.join(_KINDS)}")
        repo = RepoRef(
            repo_type=RepoType(match.param("repo_type")), repo_id=parse_repo_id(match.param("repo_id"))
        )
        # The caller's bearer token is a hubgate token, never sent upstream: hubgate's own credentials apply.
        credentials = self._hub.credentials(None)
        spelling, repo = repo, await self._names.canonical(repo, credentials)
        self._admission.admit_repo(repo, aliases=(spelling,))
        resolved = await self._catalog.resolve(
            repo, parse_revision(unquote(match.param("revision"))), credentials, reading_files=False
        )
        files = await self._approval.approved_files(repo, resolved.commit, credentials)
        if files is None:
            raise RevisionNotApproved(
                f"not every file of {repo}@{resolved.commit} has passed review, so hubgate attests "
                f"nothing: prefetch it (hubgate prefetch {repo.repo_id}@{resolved.commit}) and decide "
                "its reviews first",
                commit=resolved.commit,
            )
        if kind == "review":
            body = await self._attestor.review_statement(
                repo, resolved.commit, files, policy_version=self._policy.version, reviewed_at=utcnow()
            )
            filename = "review.sigstore.json"
        else:
            body = await self._attestor.model_signature(repo, resolved.commit, files)
            filename = "model.sig"
        return web.Response(
            body=body,
            content_type="application/json",
            headers={
                "X-Repo-Commit": resolved.commit,
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )
