"""The download log: every served file is recorded, in batches so the hot path never waits on a write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError

from mirror.inventory.recorder import InventoryRecorder
from storage.db import DatabaseUnavailable
from storage.records import DownloadEvent
from storage.repository import utcnow
from storage.retention import RetentionStore
from storage.review_store import ReviewStore

log = logging.getLogger(__name__)
_FLUSH_EVERY_S = 0.5
_MAX_BATCH = 500


class DownloadLog:
    def __init__(self, store: ReviewStore, retention: RetentionStore, inventory: InventoryRecorder) -> None:
        self._store = store
        self._retention = retention
        self._inventory = inventory
        self._queue: asyncio.Queue[DownloadEvent] = asyncio.Queue(maxsize=100_000)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def record(self, event: DownloadEvent) -> None:
        if event.at is None:
            # Stamped now, not when the batch is written (or retried): the time the file was served.
            event = replace(event, at=utcnow())
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("download log queue full: dropping the record of %s", event.path)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_EVERY_S)
            await self.flush()

    async def flush(self) -> None:
        await self._inventory.write_decisions()  # the licence decisions noted since the last round
        while not self._queue.empty():
            batch = [self._queue.get_nowait() for _ in range(min(_MAX_BATCH, self._queue.qsize()))]
            try:
                # First: widening the served window is idempotent, so a batch retried after a later
                # failure counts nothing twice here.
                await self._inventory.served(batch)
                await self._store.record_downloads(batch)
                await self._retention.touch([event.blob_sha256 for event in batch if event.bytes], utcnow())
            except (DatabaseUnavailable, SQLAlchemyError) as exc:
                log.warning("download log write failed (%s); retrying later", exc)
                for event in batch:
                    self.record(event)
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
