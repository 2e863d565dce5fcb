"""Cross-replica single flight: hold a lease while downloading a blob, renewing it until done."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from mirror.clock import SYSTEM_CLOCK, Clock
from storage.db import DatabaseUnavailable
from storage.leases import LeaseStore

log = logging.getLogger(__name__)


class FetchLeases:
    def __init__(
        self, store: LeaseStore, *, ttl_s: float, poll_s: float = 0.25, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl_s
        self.poll_s = poll_s
        self.holder = uuid.uuid4().hex  # this replica, for as long as the process lives
        self._renewers: dict[str, asyncio.Task[None]] = {}

    async def acquire(self, key: str) -> bool:
        """True when this replica now holds the lease on `key` (renewed in the background until release)."""
        if not await self._store.acquire(key, self.holder, ttl_s=self._ttl):
            return False
        self._renewers[key] = asyncio.ensure_future(self._renew(key))
        return True

    async def _renew(self, key: str) -> None:
        while True:
            await self._clock.sleep(self._ttl / 3)
            with contextlib.suppress(DatabaseUnavailable):
                if not await self._store.renew(key, self.holder, ttl_s=self._ttl):
                    log.warning("lost the fetch lease on %s (expired before renewal)", key)

    async def wait_for_holder(self) -> None:
        """Wait one polling interval for the replica that holds a lease (its blob row may appear)."""
        await self._clock.sleep(self.poll_s)

    async def release(self, key: str) -> None:
        renewer = self._renewers.pop(key, None)
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        with contextlib.suppress(DatabaseUnavailable):
            await self._store.release(key, self.holder)
