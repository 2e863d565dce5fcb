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
    wake: asyncio.Event | None = None,
) -> None:
    """Rounds until `stop` is set. Setting `wake` starts the next round early (also when it is set while
    a round runs: that round may have read what changed too early)."""
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        with contextlib.suppress(DatabaseUnavailable, ObjectStoreError):
            await one_round()
        if wake is None:
            await clock.wait(stop, interval_s)
        else:
            await _wait_for_either(clock, stop, wake, interval_s)


async def _wait_for_either(clock: Clock, stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    either = asyncio.Event()

    async def relay(event: asyncio.Event) -> None:
        await event.wait()
        either.set()

    relays = [asyncio.create_task(relay(stop)), asyncio.create_task(relay(wake))]
    try:
        await clock.wait(either, seconds)
    finally:
        for task in relays:
            task.cancel()
