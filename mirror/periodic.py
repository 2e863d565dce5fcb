"""The server's periodic jobs (re-evaluation, eviction) share one shape: a round at once, then one every
interval until told to stop. A round in progress always finishes (cancelled mid-transaction, a database
connection can wedge shutdown), and a storage outage skips a round instead of ending the job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from mirror.clock import SYSTEM_CLOCK, Clock
from storage.db import DatabaseUnavailable
from storage.objects import ObjectStoreError


async def run_every(
    interval_s: float,
    stop: asyncio.Event,
    one_round: Callable[[], Awaitable[object]],
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    while not stop.is_set():
        with contextlib.suppress(DatabaseUnavailable, ObjectStoreError):
            await one_round()
        await clock.wait(stop, interval_s)
