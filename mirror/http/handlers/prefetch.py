"""Prefetch jobs: fetch, verify and scan a revision ahead of its users."""

from __future__ import annotations

from aiohttp import web

from mirror.errors import BadRequest, NotFound
from mirror.http.handlers.auth import ApiAuth
from mirror.http.handlers.params import json_body, text_field
from mirror.http.routes import RouteMatch
from mirror.hub.client import HubClient
from mirror.hub.models import RepoRef, RepoType
from mirror.hub.names import RepoNames
from mirror.hub.rules import parse_repo_id, parse_revision
from mirror.review.transitions import Role
from mirror.revision.admission import Admission
from mirror.revision.prefetch import Prefetcher


class PrefetchApi:
    def __init__(
        self,
        *,
        auth: ApiAuth,
        hub: HubClient,
        names: RepoNames,
        admission: Admission,
        prefetcher: Prefetcher,
    ) -> None:
        self._auth = auth
        self._hub = hub
        self._names = names
        self._admission = admission
        self._prefetcher = prefetcher

    async def start(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.REQUESTER)
        data = await json_body(request)
        repo_type = text_field(data, "repo_type") or "model"
        if repo_type not in ("model", "dataset", "space"):
            raise BadRequest("repo_type must be model, dataset or space")
        repo = RepoRef(
            repo_type=RepoType(repo_type), repo_id=parse_repo_id(text_field(data, "repo", required=True))
        )
        revision = parse_revision(text_field(data, "revision") or "main")
        patterns = {key: data.get(key, []) for key in ("include", "exclude")}
        for key, value in patterns.items():
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise BadRequest(f"{key} must be a list of glob patterns")
        # The caller's Authorization is a hubgate token, never relayed: upstream sees the Hub token given
        # in the body (for gated or private repos) or hubgate's service token.
        hf_token = text_field(data, "hf_token") or None
        upstream_credentials = self._hub.credentials(hf_token)
        spelling, repo = repo, await self._names.canonical(repo, upstream_credentials)
        self._admission.admit_repo(repo, aliases=(spelling,))
        job = self._prefetcher.start(
            repo, revision, upstream_credentials, include=patterns["include"], exclude=patterns["exclude"]
        )
        return web.json_response(job.to_dict(), status=202)

    async def job(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        job = self._prefetcher.get(match.param("job"))
        if job is None:
            raise NotFound(f"no prefetch job {match.param('job')} on this replica")
        return web.json_response(job.to_dict())
