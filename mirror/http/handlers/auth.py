"""Who calls hubgate's own API, and whether the token's role allows the call."""

from __future__ import annotations

from aiohttp import web

from mirror.review.auth import Principal, authenticate, require
from mirror.review.transitions import Role
from storage.tokens import TokenStore


class ApiAuth:
    def __init__(self, tokens: TokenStore) -> None:
        self._tokens = tokens

    async def principal(self, request: web.Request) -> Principal:
        return await authenticate(request.headers.get("Authorization", ""), self._tokens)

    async def require(self, request: web.Request, role: Role) -> Principal:
        principal = await self.principal(request)
        require(principal, role)
        return principal
