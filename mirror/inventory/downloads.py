"""The download log: every served file is recorded, in batches so the hot path does not wait on a write.

Records go through a bounded queue that a background task writes out. When the queue is full (the
database has been slow or down long enough to fill it), a record waits up to `wait_s` for room rather than
being dropped: the file has already been sent (or, for a redirect, is about to be), so a short wait costs
one client a little, while a silent drop would leave "who pulled the model we just revoked?" without its
answer. A record that still finds no room is lost, and never silently: it is counted at once (the
`hubgate_download_records_lost` metric and an error in the log) and written to the audit trail as one
`download-records-lost` event with the count as soon as the database takes writes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from mirror.inventory.recorder import InventoryRecorder
from mirror.periodic import run_every
from storage.audit_trail import AuditTrail
from storage.db import DATABASE_ERRORS
from storage.download_records import DownloadRecords
from storage.queries import utcnow
from storage.records import DownloadEvent
from storage.retention import RetentionStore

log = logging.getLogger(__name__)
_FLUSH_EVERY_S = 0.5
_MAX_BATCH = 500


class DownloadLog:
    def __init__(
        self,
        records: DownloadRecords,
        trail: AuditTrail,
        retention: RetentionStore,
        inventory: InventoryRecorder,
        *,
        max_queue: int = 100_000,
        wait_s: float = 5.0,
        lost: Callable[[], None] = lambda: None,
    ) -> None:
        self._records = records
        self._trail = trail
        self._retention = retention
        self._inventory = inventory
        self._queue: asyncio.Queue[DownloadEvent] = asyncio.Queue(maxsize=max_queue)
        self._wait_s = wait_s
        self._count_lost = lost
        self._held: list[DownloadEvent] = []  # a batch whose write failed, retried before anything newer
        self._lost = 0  # lost records not yet in the audit trail
        self._lost_since: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def queued(self) -> int:
        """Records waiting for the next write (not those a write in progress has taken)."""
        return self._queue.qsize()

    @property
    def unreported_losses(self) -> int:
        """Records lost and not yet written to the audit trail."""
        return self._lost

    def start(self) -> None:
        self._task = asyncio.ensure_future(run_every(_FLUSH_EVERY_S, self._stop, self.flush))

    async def record(self, event: DownloadEvent) -> None:
        """Queue the record; when the queue is full, wait up to `wait_s` for room, else count it lost."""
        if event.at is None:
            # Stamped now, not when the batch is written (or retried): the time the file was served.
            event = replace(event, at=utcnow())
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(event)
            return
        try:
            await asyncio.wait_for(self._queue.put(event), timeout=self._wait_s)
        except TimeoutError:
            self._lost += 1
            self._lost_since = self._lost_since or event.at
            self._count_lost()
            log.error(  # noqa: TRY400 - a loss to report, not an exception to trace
                "download log full for %.1f s: the record of %s@%s %s for %s is lost (counted, and audited "
                "once the database is back)",
                self._wait_s,
                event.repo_id,
                event.commit[:10],
                event.path,
                event.identity,
            )

    async def flush(self) -> None:
        await self._inventory.write_decisions()  # the licence decisions noted since the last round
        while self._held or not self._queue.empty():
            batch = self._held or [
                self._queue.get_nowait() for _ in range(min(_MAX_BATCH, self._queue.qsize()))
            ]
            self._held = []
            try:
                # First: widening the served window is idempotent, so a batch retried after a later
                # failure counts nothing twice here.
                await self._inventory.served(batch)
                await self._records.record_downloads(batch)
                await self._retention.touch([event.blob_sha256 for event in batch if event.bytes], utcnow())
            except DATABASE_ERRORS as exc:
                # Kept aside rather than queued again: putting it back could only drop records.
                self._held = batch
                log.warning("download log write failed (%s); retrying later", exc)
                return
        await self._report_losses()

    async def _report_losses(self) -> None:
        if not self._lost:
            return
        count, since = self._lost, self._lost_since
        try:
            await self._trail.audit(
                actor="hubgate",
                role="system",
                action="download-records-lost",
                subject="downloads",
                reason=(
                    f"{count} download records could not be kept (served from "
                    f"{since.isoformat() if since else 'unknown'} to {utcnow().isoformat()}): the download "
                    "log stayed full while the database was unavailable"
                ),
            )
        except DATABASE_ERRORS as exc:
            log.warning("could not audit %d lost download records yet (%s)", count, exc)
            return
        # Records lost while the event was being written stay counted for the next one.
        self._lost -= count
        if not self._lost:
            self._lost_since = None

    async def close(self) -> None:
        if self._task is not None:
            # A write in progress finishes: cancelled mid-transaction, it held SQLite's write lock while the
            # last flush below waited out the 30 s busy timeout (seen as hubgate taking 30 s to stop).
            self._stop.set()
            await self._task
        await self.flush()
