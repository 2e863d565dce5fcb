"""The inventory API under /api/hubgate/v1: served revisions, CycloneDX SBOMs, origin and licence reports."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from urllib.parse import unquote

from aiohttp import web

from mirror.errors import BadRequest, NotFound
from mirror.http.handlers.auth import ApiAuth
from mirror.http.handlers.common import public_base
from mirror.http.routes import RouteMatch
from mirror.hub.rules import parse_repo_id
from mirror.inventory import reports
from mirror.inventory.records import Inventory
from mirror.inventory.sbom import MEDIA_TYPE, Links, build_sbom
from mirror.review.transitions import Role
from storage.inventory_store import EVERYTHING, Scope
from storage.records import RepoKey

_SBOM_TYPE = f"{MEDIA_TYPE}; version=1.6"


class InventoryApi:
    def __init__(self, *, auth: ApiAuth, inventory: Inventory, upstream: str, public_url: str | None) -> None:
        self._auth = auth
        self._inventory = inventory
        self._upstream = upstream
        self._public_url = public_url

    async def inventory(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        revisions = await self._inventory.revisions()
        return web.json_response({"items": [revision.to_dict() for revision in revisions]})

    async def inventory_sbom(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        return await self._sbom_response(request, EVERYTHING, "inventory")

    async def revision_sbom(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        repo, commit = _revision_of(match)
        scope = Scope(repo=repo, commit_prefix=commit)
        return await self._sbom_response(request, scope, f"{repo.repo_type}:{repo.repo_id}@{commit}")

    async def revision_origins(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        """One revision's origins as last decided, served or not: what a reviewer of a quarantined
        revision needs to see (its lineage, where it stops, the rules that matched)."""
        await self._auth.require(request, Role.VIEWER)
        repo, commit = _revision_of(match)
        found = await self._inventory.origins(repo, commit)
        if found is None:
            raise NotFound(f"hubgate never decided on {repo.repo_type}:{repo.repo_id}@{commit}")
        return web.json_response(found)

    async def report(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        await self._auth.require(request, Role.VIEWER)
        output = request.query.get("format", "json")
        if output not in ("json", "csv"):
            raise BadRequest("format must be json or csv")
        by = request.query.get("by", "publisher")
        if by not in reports.GROUPINGS or (by == "lineage" and match.param("kind") != "origins"):
            raise BadRequest("by must be publisher or lineage (lineage: the origins report only)")
        built = reports.build(match.param("kind"), await self._inventory.revisions(), by=by)
        if output == "csv":
            return web.Response(text=reports.render_csv(built), content_type="text/csv")
        return web.json_response(built, dumps=partial(json.dumps, indent=2))

    async def _sbom_response(self, request: web.Request, scope: Scope, subject: str) -> web.StreamResponse:
        revisions = await self._inventory.revisions(scope)
        if scope.repo is not None and not revisions:
            raise NotFound(f"{subject} is not in the inventory: hubgate never served it")
        links = Links(hubgate=public_base(request, self._public_url), upstream=self._upstream)
        # Building and schema-validating a large BOM takes a while: off the event loop.
        build = partial(build_sbom, revisions, links=links, scope=subject)
        text = await asyncio.get_running_loop().run_in_executor(None, build)
        return web.Response(body=text.encode(), headers={"Content-Type": _SBOM_TYPE})


def _revision_of(match: RouteMatch) -> tuple[RepoKey, str]:
    """The repository and commit of an `/inventory/{repo_type}/{org}/{name}/{commit}/...` URL."""
    params = dict(match.params)
    name = unquote(params["name"])
    repo_id = parse_repo_id(f"{unquote(params['org'])}/{name}" if "org" in params else name)
    return RepoKey(repo_type=params["repo_type"], repo_id=repo_id), params["commit"]
