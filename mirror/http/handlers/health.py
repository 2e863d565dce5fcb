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

# The driver raises OSError for a refused connection before SQLAlchemy wraps anything; a check that got
# no answer in time raises TimeoutError, an OSError too.
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
        # Both at once: with both dependencies silent, the answer still comes within one check's bound.
        database, object_store = await asyncio.gather(self._database_check(), self._store_check())
        checks = {"database": database, "object_store": object_store}
        ready = all(value == "ok" for value in checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def _database_check(self) -> str:
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                await self._database.ping()
        except _DATABASE_DOWN as exc:
            return f"unavailable: {type(exc).__name__}"
        return "ok"

    async def _store_check(self) -> str:
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                await self._store.check()  # a stuck call goes on in the store's thread until its own timeout
        except ObjectStoreError as exc:
            return f"unavailable: {exc}"
        except TimeoutError:
            return f"unavailable: no answer within {_CHECK_TIMEOUT_S:g} s"
        return "ok"

    async def metrics(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        # Review counts come from the database at scrape time: every replica reports the shared truth. A
        # silent database costs the scrape at most one check's bound (the other metrics matter most then).
        with contextlib.suppress(*DATABASE_ERRORS, TimeoutError):
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                counts = await self._reviews.count_by_state()
            for state in ("PENDING", "APPROVED", "QUARANTINED", "BLOCKED", "REVOKED"):
                self._metrics.reviews.labels(state).set(counts.get(state, 0))
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})
