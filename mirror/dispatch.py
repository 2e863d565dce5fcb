"""Route table -> handler functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from mirror import routes
from mirror.handlers import api, health, resolve
from mirror.routes import Route, RouteMatch

Handler = Callable[[web.Request, RouteMatch], Awaitable[web.StreamResponse]]

HANDLERS: dict[Route, Handler] = {
    Route.HEALTHZ: health.healthz,
    Route.READYZ: health.readyz,
    Route.REPO_INFO: api.repo_info,
    Route.TREE: api.tree,
    Route.PATHS_INFO: api.paths_info,
    Route.XET_READ_TOKEN: api.xet_read_token,
    Route.AUTH_CHECK: api.auth_check,
    Route.RESOLVE: resolve.resolve,
}


async def dispatch(request: web.Request) -> web.StreamResponse:
    matched = routes.match(request.method, request.rel_url.raw_path)
    return await HANDLERS[matched.route](request, matched)
