"""Who scans next: a bounded, fair queue in front of the scanner processes.

The process pool would queue every scan it is given, first come first served: one repository with many
slow files (or a caller asking for them) would hold every worker for minutes and make everyone else
wait, and the queue would grow without a bound. Here:
- at most `workers` scans run at once (the pool itself never queues);
- one owner (a repository) runs at most `per_owner` of them, so the others keep a worker;
- free workers go round robin over the owners that wait;
- at most `max_waiting` scans wait (`max_waiting_per_owner` per owner); past that, ScanPending (429 +
  Retry-After). Nothing is decided about a file that could not be queued: it is scanned when asked again.

The owner of a scan is read from SCAN_OWNER, which the pipeline sets for the task that fetches a file,
so the gate's calls into the runner need not carry it.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from mirror.errors import ScanPending

SCAN_OWNER: ContextVar[str] = ContextVar("hubgate_scan_owner", default="")


@dataclass(frozen=True, slots=True)
class QueueLimits:
    workers: int
    per_owner: int
    max_waiting: int
    max_waiting_per_owner: int
    retry_after_s: int


class FairScanQueue:
    def __init__(self, limits: QueueLimits) -> None:
        self._limits = limits
        self._free = limits.workers
        self._running: Counter[str] = Counter()
        # Owners with waiting scans, in round-robin order: the one served last goes to the end.
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def running(self) -> int:
        return self._limits.workers - self._free

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    def check_room(self, owner: str) -> None:
        """Raise ScanPending if a scan of `owner` could not be queued now (checked before downloading)."""
        queued = len(self._waiting.get(owner, ()))
        if self.waiting >= self._limits.max_waiting or queued >= self._limits.max_waiting_per_owner:
            who = f"{owner}'s files" if queued >= self._limits.max_waiting_per_owner else "files"
            msg = (
                f"hubgate's scanners are busy ({self.waiting} {who} wait to be scanned): this file was not "
                f"fetched; retry in {self._limits.retry_after_s}s"
            )
            raise ScanPending(msg, retry_after_s=self._limits.retry_after_s)

    @asynccontextmanager
    async def slot(self, owner: str) -> AsyncIterator[None]:
        """Hold one worker for `owner` while the block runs; waits its turn. Raises ScanPending when full."""
        self.check_room(owner)
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, deque()).append(granted)
        self._dispatch()
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self._release(owner)  # granted just as the waiter was cancelled
            else:
                self._forget(owner, granted)
            raise
        try:
            yield
        finally:
            self._release(owner)

    def _dispatch(self) -> None:
        while self._free > 0:
            owner = next(
                (name for name in self._waiting if self._running[name] < self._limits.per_owner), None
            )
            if owner is None:
                return
            queue = self._waiting[owner]
            granted = queue.popleft()
            if queue:
                self._waiting.move_to_end(owner)
            else:
                del self._waiting[owner]
            if granted.cancelled():
                continue
            self._free -= 1
            self._running[owner] += 1
            granted.set_result(None)

    def _release(self, owner: str) -> None:
        self._free += 1
        self._running[owner] -= 1
        if self._running[owner] <= 0:
            del self._running[owner]
        self._dispatch()

    def _forget(self, owner: str, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(owner)
        if queue is not None and granted in queue:
            queue.remove(granted)
            if not queue:
                del self._waiting[owner]
