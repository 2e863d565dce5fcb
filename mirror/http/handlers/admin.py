"""The admin API's own endpoints: its OpenAPI document, who a token belongs to, and the 404 for the rest."""

from __future__ import annotations

from aiohttp import web

from mirror.errors import NotFound
from mirror.http.handlers.auth import ApiAuth
from mirror.http.openapi import OPENAPI
from mirror.http.routes import RouteMatch
from mirror.review.transitions import Role


async def openapi(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    return web.json_response(OPENAPI)


class AccountApi:
    def __init__(self, auth: ApiAuth) -> None:
        self._auth = auth

    async def whoami(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        principal = await self._auth.require(request, Role.VIEWER)
        return web.json_response(
            {"name": principal.name, "subject": principal.person, "role": principal.role.name.lower()}
        )


async def unknown(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    raise NotFound(
        f"hubgate's API has no endpoint {request.method} {request.path}; see /api/hubgate/v1/openapi.json"
    )
