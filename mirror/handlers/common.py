"""Small helpers shared by the request handlers."""

from __future__ import annotations

from aiohttp import web

from mirror.hub.models import Credentials
from mirror.services import SERVICES, Services

STALE_WARNING = (
    "hubgate; upstream is unreachable: this answer comes from hubgate's store and may be out of date"
)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def credentials(request: web.Request) -> Credentials:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    client_token = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return services(request).hub.credentials(client_token)


def public_base(request: web.Request) -> str:
    """The origin clients use to reach hubgate, for the links we write."""
    configured = services(request).settings.server.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"


def json_response(body: bytes, *, commit: str | None = None, stale: bool = False) -> web.Response:
    response = web.Response(body=body, content_type="application/json")
    if commit is not None:
        response.headers["X-Repo-Commit"] = commit
    if stale:
        response.headers["X-HF-Warning"] = STALE_WARNING
    return response
