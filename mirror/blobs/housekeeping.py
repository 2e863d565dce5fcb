"""Housekeeping of the object store: orphaned objects and the local disk's size budget.

An object is an orphan when no blob row names it: a write that crashed between storing the object and
committing its row. It is deleted once older than a grace period (a write in flight is never touched).
The size budget evicts the least recently served blobs that no pinned revision contains; their reviews
stay, so a later request fetches the same bytes again and finds the verdict already made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mirror.clock import SYSTEM_CLOCK, Clock
from mirror.periodic import run_every
from storage.objects import ObjectStore
from storage.records import BlobRecord
from storage.retention import RetentionStore

log = logging.getLogger(__name__)
_BATCH = 200


@dataclass(frozen=True, slots=True)
class Swept:
    objects: int
    bytes: int


class Housekeeper:
    def __init__(
        self,
        *,
        store: ObjectStore,
        retention: RetentionStore,
        evict: Callable[[BlobRecord], Awaitable[None]],
        max_bytes: int,
        orphan_grace_s: float,
    ) -> None:
        self._store = store
        self._retention = retention
        self._evict = evict
        self._max_bytes = max_bytes
        self._grace = timedelta(seconds=orphan_grace_s)

    async def collect_orphans(self, *, dry_run: bool = False) -> Swept:
        known = await self._retention.blob_keys()
        cutoff = datetime.now(UTC) - self._grace
        count = size = 0
        async for info in self._store.iter_keys():
            if info.key in known or (info.modified_at is not None and info.modified_at > cutoff):
                continue
            if not dry_run:
                await self._store.delete(info.key)
            log.info(
                "orphaned object %s (%d bytes)%s",
                info.key,
                info.size,
                " (dry run)" if dry_run else " deleted",
            )
            count, size = count + 1, size + info.size
        return Swept(objects=count, bytes=size)

    async def enforce_budget(self) -> Swept:
        """Evict least recently served, unpinned blobs until the store fits its budget (0: no budget)."""
        if not self._max_bytes:
            return Swept(0, 0)
        total = await self._retention.total_bytes()
        count = freed = 0
        while total - freed > self._max_bytes:
            candidates = await self._retention.eviction_candidates(_BATCH)
            if not candidates:
                log.warning(
                    "store holds %d bytes over its %d budget, all of it pinned",
                    total - freed,
                    self._max_bytes,
                )
                break
            for blob in candidates:
                if total - freed <= self._max_bytes:
                    break
                await self._evict(blob)
                count, freed = count + 1, freed + blob.size
        if count:
            log.info("evicted %d blobs (%d bytes) to stay within %d bytes", count, freed, self._max_bytes)
        return Swept(objects=count, bytes=freed)

    async def loop(self, interval_s: float, stop: asyncio.Event, *, clock: Clock = SYSTEM_CLOCK) -> None:
        """Enforce the budget at once, then every `interval_s` until `stop` is set (see mirror.periodic)."""
        await run_every(interval_s, stop, self.enforce_budget, clock=clock)
