"""The fake huggingface.co: one catch-all route dispatching on the raw path (see routing.py)."""

from __future__ import annotations

from aiohttp import web

from tests.fakehub import hub_api
from tests.fakehub.access import identify
from tests.fakehub.context import HubRequest, PublicUrls
from tests.fakehub.hub import FakeHub
from tests.fakehub.hub_resolve import resolve
from tests.fakehub.middleware import EFFECTS, fake_server_middleware
from tests.fakehub.requestlog import Host
from tests.fakehub.routing import ApiCall, ResolveCall, parse_route

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
    app = web.Application(middlewares=[fake_server_middleware(hub, Host.HUB)])
    app[HUB_KEY] = hub
    app[URLS_KEY] = urls
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


async def _dispatch(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    # The Hub rejects an unknown token before anything else, even on public repos.
    caller = identify(hub, request.headers.get("Authorization"))
    route = parse_route(request.rel_url.raw_path, lambda t, i: hub.find_repo(t, i) is not None)
    ctx = HubRequest(
        request=request, hub=hub, urls=request.app[URLS_KEY], caller=caller, effects=request[EFFECTS]
    )
    if isinstance(route, ApiCall):
        return await _API_HANDLERS[route.action](ctx, route)
    if isinstance(route, ResolveCall):
        return await resolve(ctx, route)
    return await hub_api.whoami(ctx)
