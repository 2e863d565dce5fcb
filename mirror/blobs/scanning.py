"""ScanRunner: the scanners run in a process pool, never on the event loop.

Each scan has a time limit (the worker is killed when it passes) and a memory limit (RLIMIT_AS in
the worker). A crash, a kill, a timeout or a memory error becomes an ERROR report: fail closed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import resource
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

import scanners
from mirror.blobs.scanqueue import SCAN_OWNER, FairScanQueue, QueueLimits
from mirror.errors import ScannerUnavailable
from scanners import ScanReport, ScanStatus

log = logging.getLogger(__name__)
RUNNER = "hubgate-scan-runner"


@dataclass(frozen=True, slots=True)
class ScanLimits:
    timeout_s: float
    memory_mb: int
    workers: int
    # Scans that may wait for a worker, in all and per repository (see mirror.blobs.scanqueue).
    max_waiting: int = 64
    max_waiting_per_repo: int = 16
    # Workers one repository may hold at once; 0: all but one (at least one), so others keep a worker.
    workers_per_repo: int = 0

    def queue_limits(self) -> QueueLimits:
        per_owner = self.workers_per_repo or max(1, self.workers - 1)
        return QueueLimits(
            workers=self.workers,
            per_owner=min(per_owner, self.workers),
            max_waiting=self.max_waiting,
            max_waiting_per_owner=self.max_waiting_per_repo,
            # About one scan's time limit spread over the workers: when a slot is likely to be free.
            retry_after_s=max(5, min(300, math.ceil(self.timeout_s / self.workers))),
        )


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _scan_in_worker(
    path: str, name_hint: str, external_data: scanners.OnnxExternalData | None
) -> list[dict[str, object]]:
    # Reports cross the process boundary as plain dicts.
    reports = scanners.scan_file(Path(path), name_hint=name_hint, external_data=external_data)
    return [report.to_dict() for report in reports]


class ScanRunner:
    def __init__(self, limits: ScanLimits) -> None:
        self._limits = limits
        # Workers come from a fork server, never forked from this process: a fork would inherit every open
        # client and upstream socket, and a socket the server closes would then stay open in the worker.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["scanners"])
        self._pool = self._new_pool()
        self.queue = FairScanQueue(limits.queue_limits())
        self.version = scanners.SCANNER_VERSION
        # Start the fork server and the workers now: the first scan would otherwise wait for them (half a
        # second to a second: a fresh interpreter importing the scanners), and the first scan of a cold
        # safetensors file is its header check, which the client's first byte awaits.
        try:
            self._pool.schedule(_ready)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            # A pool that cannot start is an outage each scan reports (ScannerUnavailable, see _scan_now),
            # not a reason to refuse to start: a fresh pool tries again on the first scan.
            log.warning("the scanner pool did not start: %s", exc.__cause__ or exc)
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join(timeout=10)
            self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPool:
        return ProcessPool(
            max_workers=self._limits.workers,
            initializer=_limit_memory,
            initargs=(self._limits.memory_mb,),
            context=self._context,
        )

    async def scan(
        self, path: Path, *, name_hint: str, external_data: scanners.OnnxExternalData | None = None
    ) -> tuple[ScanReport, ...]:
        """Scan `path` (named `name_hint` in its repository). Never raises for what the file contains.

        Waits its turn in the fair queue (the repository is SCAN_OWNER); raises ScanPending when the
        queue is full, so a scan that never ran decides nothing.
        """
        async with self.queue.slot(SCAN_OWNER.get()):
            return await self._scan_now(path, name_hint, external_data)

    async def _scan_now(
        self, path: Path, name_hint: str, external_data: scanners.OnnxExternalData | None
    ) -> tuple[ScanReport, ...]:
        try:
            future = self._pool.schedule(
                _scan_in_worker, args=(str(path), name_hint, external_data), timeout=self._limits.timeout_s
            )
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            # The pool itself cannot run (its workers failed to start): an outage of the machinery, not a
            # verdict on the file. Nothing is recorded; the client retries, the operator sees why.
            log.error("the scanner pool cannot start workers: %s", exc.__cause__ or exc)  # noqa: TRY400
            detail = f"{type(exc.__cause__ or exc).__name__}: {exc.__cause__ or exc}"
            raise ScannerUnavailable(f"hubgate's scanners cannot start ({detail}); retry later") from exc
        try:
            raw = await asyncio.wrap_future(future)
        except FutureTimeout:
            return (_error(f"the scan of {name_hint} took longer than {self._limits.timeout_s:.0f}s"),)
        except ProcessExpired as exc:
            return (_error(f"the scanner process died scanning {name_hint} (exit code {exc.exitcode})"),)
        except MemoryError:
            return (_error(f"the scan of {name_hint} needed more than {self._limits.memory_mb} MB"),)
        except (
            Exception
        ) as exc:  # the scan runner's catch-all: any failure of the machinery is an ERROR report
            log.exception("scan of %s failed", name_hint)
            return (_error(f"the scan of {name_hint} failed: {type(exc).__name__}: {exc}"),)
        return tuple(ScanReport.from_dict(item) for item in raw)

    async def close(self) -> None:
        """Stop the workers (a scan still running is ended: hubgate is stopping). Joining them can take
        seconds while a worker finishes dying, so it happens in a thread, never on the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, self._stop_workers)

    def _stop_workers(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=10)


def _ready() -> None:
    """A task that does nothing: scheduling it starts the pool's workers."""


def _error(message: str) -> ScanReport:
    return ScanReport(RUNNER, ScanStatus.ERROR, "unknown", (), message, 0.0)
