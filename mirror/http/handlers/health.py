"""Liveness, readiness and the Prometheus metrics."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from mirror.http.routes import RouteMatch
from mirror.metrics import CONTENT_TYPE, Metrics
from storage.db import DATABASE_ERRORS, Database
from storage.objects import ObjectStore, ObjectStoreError
from storage.review_store import ReviewStore

# The driver raises OSError for a refused connection before SQLAlchemy wraps anything.
_DATABASE_DOWN: tuple[type[Exception], ...] = (OSError, *DATABASE_ERRORS)
# A dependency that stopped answering fails the check after this long, well inside a probe's timeout.
_CHECK_TIMEOUT_S = 5.0


async def healthz(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


class Health:
    def __init__(
        self, *, database: Database, store: ObjectStore, reviews: ReviewStore, metrics: Metrics
    ) -> None:
        self._database = database
        self._store = store
        self._reviews = reviews
        self._metrics = metrics

    async def readyz(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        checks: dict[str, str] = {}
        try:
            await self._database.ping(timeout_s=_CHECK_TIMEOUT_S)
            checks["database"] = "ok"
        except _DATABASE_DOWN as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                await self._store.check()  # a stuck call goes on in the store's thread until its own timeout
            checks["object_store"] = "ok"
        except ObjectStoreError as exc:
            checks["object_store"] = f"unavailable: {exc}"
        except TimeoutError:
            checks["object_store"] = f"unavailable: no answer within {_CHECK_TIMEOUT_S:g} s"
        ready = all(value == "ok" for value in checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def metrics(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        # Review counts come from the database at scrape time: every replica reports the shared truth.
        with contextlib.suppress(*DATABASE_ERRORS):
            counts = await self._reviews.count_by_state()
            for state in ("PENDING", "APPROVED", "QUARANTINED", "BLOCKED", "REVOKED"):
                self._metrics.reviews.labels(state).set(counts.get(state, 0))
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})
