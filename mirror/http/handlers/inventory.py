"""The inventory API under /api/hubgate/v1: served revisions, CycloneDX SBOMs, origin and licence reports."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from urllib.parse import unquote

from aiohttp import web

from mirror.errors import BadRequest, NotFound
from mirror.http.handlers.common import public_base, services
from mirror.http.routes import RouteMatch
from mirror.hub.rules import parse_repo_id
from mirror.inventory import reports
from mirror.inventory.sbom import MEDIA_TYPE, Links, build_sbom
from mirror.review.auth import authenticate, require
from mirror.review.transitions import Role
from storage.inventory_store import EVERYTHING, Scope
from storage.records import RepoKey

_SBOM_TYPE = f"{MEDIA_TYPE}; version=1.6"


async def _viewer(request: web.Request) -> None:
    require(await authenticate(request, services(request).tokens), Role.VIEWER)


def _links(request: web.Request) -> Links:
    return Links(hubgate=public_base(request), upstream=services(request).settings.upstream.endpoint)


async def _sbom_response(request: web.Request, scope: Scope, subject: str) -> web.StreamResponse:
    revisions = await services(request).inventory.revisions(scope)
    if scope.repo is not None and not revisions:
        raise NotFound(f"{subject} is not in the inventory: hubgate never served it")
    # Building and schema-validating a large BOM takes a while: off the event loop.
    build = partial(build_sbom, revisions, links=_links(request), scope=subject)
    text = await asyncio.get_running_loop().run_in_executor(None, build)
    return web.Response(body=text.encode(), headers={"Content-Type": _SBOM_TYPE})


async def inventory(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _viewer(request)
    revisions = await services(request).inventory.revisions()
    return web.json_response({"items": [revision.to_dict() for revision in revisions]})


async def inventory_sbom(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _viewer(request)
    return await _sbom_response(request, EVERYTHING, "inventory")


async def revision_sbom(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _viewer(request)
    params = dict(match.params)
    name = unquote(params["name"])
    repo_id = parse_repo_id(f"{unquote(params['org'])}/{name}" if "org" in params else name)
    repo_type, commit = params["repo_type"], params["commit"]
    scope = Scope(repo=RepoKey(repo_type=repo_type, repo_id=repo_id), commit_prefix=commit)
    return await _sbom_response(request, scope, f"{repo_type}:{repo_id}@{commit}")


async def report(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    await _viewer(request)
    output = request.query.get("format", "json")
    if output not in ("json", "csv"):
        raise BadRequest("format must be json or csv")
    built = reports.build(match.param("kind"), await services(request).inventory.revisions())
    if output == "csv":
        return web.Response(text=reports.render_csv(built), content_type="text/csv")
    return web.json_response(built, dumps=partial(json.dumps, indent=2))
