"""A clock that tests drive: sleeping and waiting advance its time at once, and a hook runs at every
sleep or wait, so that a test decides what happens "meanwhile" without ever really sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class FakeClock:
    """Records every sleep and wait and runs `on_sleep` instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.on_sleep()
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        if not event.is_set():
            await self.sleep(seconds)
        return event.is_set()


class StoppedClock(FakeClock):
    """A clock that never advances: whoever sleeps on it waits until cancelled."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


class SteppedClock(FakeClock):
    """Runs a periodic job in lockstep with the test: each wait parks the job until the test calls
    `step()`, which moves time on, lets the job run exactly one round, and returns once the job waits
    again (or has ended). No real time passes and nothing depends on scheduling luck."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []  # the seconds the job asked to wait, one entry per wait
        self._parked = asyncio.Event()
        self._resume = asyncio.Event()

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        if event.is_set():  # as with the real clock: a wait on a set event returns at once
            return True
        self._parked.set()
        await self._resume.wait()
        self._resume.clear()
        return event.is_set()

    async def parked(self, job: asyncio.Task[None]) -> None:
        """Until the job waits on this clock (or ends); 10 s at most, so a broken job fails the test."""
        async with asyncio.timeout(10):
            parked = asyncio.ensure_future(self._parked.wait())
            try:
                await asyncio.wait({parked, job}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                parked.cancel()

    async def step(self, job: asyncio.Task[None], seconds: float | None = None) -> None:
        """Let `seconds` (by default, what the job asked for) go by and the job run until it waits again."""
        self.now += self.waits[-1] if seconds is None else seconds
        self._parked.clear()
        self._resume.set()
        await self.parked(job)
