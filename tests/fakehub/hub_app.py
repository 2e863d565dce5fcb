"""The fake huggingface.co: one catch-all route dispatching on the raw path (see routing.py).

Requests that name a repo by an alias (renamed or legacy id) get a relative 307 to the same URL under the
canonical id, on every endpoint; a case variant of an id gets that 307 on `/resolve/` and is served as the
canonical repo on `/api/` (see aliases.py).
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from tests.fakehub import hub_api
from tests.fakehub.context import HubRequest, PublicUrls
from tests.fakehub.hub import FakeHub
from tests.fakehub.hub_edge import CALLER, edge_headers, hub_edge_middleware
from tests.fakehub.hub_resolve import resolve
from tests.fakehub.middleware import EFFECTS, fake_server_middleware
from tests.fakehub.requestlog import Host
from tests.fakehub.routing import ApiCall, RepoAddress, ResolveCall, parse_route, with_repo_id

HUB_KEY = web.AppKey("fakehub_hub", FakeHub)
URLS_KEY = web.AppKey("fakehub_urls", PublicUrls)

_API_HANDLERS = {
    "info": hub_api.repo_info,
    "tree": hub_api.tree,
    "paths-info": hub_api.paths_info,
    "refs": hub_api.refs,
    "auth-check": hub_api.auth_check,
    "xet-read-token": hub_api.xet_read_token,
}


def create_hub_app(hub: FakeHub, urls: PublicUrls) -> web.Application:
    # Outermost first: faults and error rendering wrap the edge (caller, rate limits) and the handler.
    app = web.Application(middlewares=[fake_server_middleware(hub, Host.HUB), hub_edge_middleware(hub)])
    app[HUB_KEY] = hub
    app[URLS_KEY] = urls
    app.on_response_prepare.append(edge_headers(hub))
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


async def _dispatch(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    route = parse_route(request.rel_url.raw_path, lambda t, i: hub.lookup(t, i) is not None)
    ctx = HubRequest(
        request=request, hub=hub, urls=request.app[URLS_KEY], caller=request[CALLER], effects=request[EFFECTS]
    )
    if isinstance(route, ApiCall | ResolveCall):
        match = hub.lookup(route.repo.repo_type, route.repo.repo_id)
        if match is not None and (
            match.kind == "alias" or (match.kind == "case" and isinstance(route, ResolveCall))
        ):
            return _redirect_to_canonical(request, route.repo_span, match.canonical_id)
        if match is not None:
            route = dataclasses.replace(route, repo=RepoAddress(route.repo.repo_type, match.canonical_id))
    if isinstance(route, ApiCall):
        return await _API_HANDLERS[route.action](ctx, route)
    if isinstance(route, ResolveCall):
        return await resolve(ctx, route)
    return await hub_api.whoami(ctx)


def _redirect_to_canonical(request: web.Request, span: tuple[int, int], canonical_id: str) -> web.Response:
    # Relative (path only, query kept) and carrying nothing repo-specific, like the Hub's plain redirect,
    # so huggingface_hub follows it as a same-site redirect (file_download.py, follow_relative_redirects).
    location = with_repo_id(request.rel_url.raw_path, span, canonical_id)
    if request.rel_url.raw_query_string:
        location += "?" + request.rel_url.raw_query_string
    return web.Response(
        status=307,
        text=f"Temporary Redirect. Redirecting to {location}",
        headers={"Location": location},
    )
