"""Liveness and readiness."""

from __future__ import annotations

import contextlib

from aiohttp import web

from mirror.http.handlers.common import services
from mirror.http.routes import RouteMatch
from mirror.metrics import CONTENT_TYPE
from storage.db import DATABASE_ERRORS
from storage.objects import ObjectStoreError

# The driver raises OSError for a refused connection before SQLAlchemy wraps anything.
_DATABASE_DOWN: tuple[type[Exception], ...] = (OSError, *DATABASE_ERRORS)


async def healthz(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    mirror = services(request)
    checks: dict[str, str] = {}
    try:
        await mirror.database.ping()
        checks["database"] = "ok"
    except _DATABASE_DOWN as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        await mirror.store.check()
        checks["object_store"] = "ok"
    except ObjectStoreError as exc:
        checks["object_store"] = f"unavailable: {exc}"
    ready = all(value == "ok" for value in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    mirror = services(request)
    # Review counts come from the database at scrape time: every replica reports the shared truth.
    with contextlib.suppress(*DATABASE_ERRORS):
        counts = await mirror.reviews.store.count_by_state()
        for state in ("PENDING", "APPROVED", "QUARANTINED", "BLOCKED", "REVOKED"):
            mirror.metrics.reviews.labels(state).set(counts.get(state, 0))
    return web.Response(body=mirror.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
