"""One piece of work per key in this process: concurrent callers share the first caller's task.

The shared task is shielded from its callers: a client that disconnects does not cancel a download
that other clients (or the next request) will use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[V]] = {}

    def start(self, key: K, work: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        """The running task for `key`, or a new one running `work()`.

        A task that has ended is never joined, even in the moment before its done-callback forgets it: a
        caller arriving then (a client retrying the instant a failed download cut it off) starts afresh
        instead of inheriting that failure.
        """
        task = self._tasks.get(key)
        if task is not None and not task.done():
            return task
        task = asyncio.ensure_future(work())
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        # Readers of a streaming download may never await the task; its failure reaches them another way.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    def _forget(self, key: K, done: asyncio.Task[V]) -> None:
        if self._tasks.get(key) is done:  # not a newer task started under the same key
            del self._tasks[key]

    def running(self, key: K) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    async def ended(self, key: K) -> None:
        """Wait until the task under `key` (if one runs) has ended, whatever its outcome."""
        task = self._tasks.get(key)
        if task is not None:
            await asyncio.wait({task})

    async def drain(self) -> None:
        """Wait for every running task (used at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
