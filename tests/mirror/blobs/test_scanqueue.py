"""The scan queue: bounded, fair by repository; with the real scanner processes and real slow files."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mirror.blobs.scanning import ScanLimits, ScanRunner
from mirror.blobs.scanqueue import SCAN_OWNER, FairScanQueue, QueueLimits
from mirror.errors import ScanPending


def _queue(
    *, workers: int = 2, per_owner: int = 1, waiting: int = 4, per_owner_waiting: int = 4
) -> FairScanQueue:
    return FairScanQueue(
        QueueLimits(
            workers=workers,
            per_owner=per_owner,
            max_waiting=waiting,
            max_waiting_per_owner=per_owner_waiting,
            retry_after_s=7,
        )
    )


async def _hold(queue: FairScanQueue, owner: str, release: asyncio.Event, log: list[str]) -> None:
    async with queue.slot(owner):
        log.append(owner)
        await release.wait()


async def test_one_owner_never_holds_every_worker() -> None:
    queue, release, started = _queue(), asyncio.Event(), list[str]()
    tasks = [asyncio.create_task(_hold(queue, "big/repo", release, started)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert started == ["big/repo"]  # one worker, the other stays free for everyone else
    other = asyncio.create_task(_hold(queue, "small/repo", release, started))
    await asyncio.sleep(0.01)
    assert started == ["big/repo", "small/repo"]
    release.set()
    await asyncio.gather(*tasks, other)
    assert started.count("big/repo") == 3


async def test_free_workers_go_round_robin_over_waiting_owners() -> None:
    queue, started = _queue(workers=1, per_owner=1, waiting=10, per_owner_waiting=10), list[str]()
    gate = asyncio.Event()
    first = asyncio.create_task(_hold(queue, "a", gate, started))
    await asyncio.sleep(0.01)
    order = ["a", "a", "a", "b", "c"]
    releases = [asyncio.Event() for _ in order]
    tasks = []
    for owner, release in zip(order, releases, strict=True):
        release.set()
        tasks.append(asyncio.create_task(_hold(queue, owner, release, started)))
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *tasks)
    assert started == ["a", "a", "b", "c", "a", "a"]


async def test_a_full_queue_refuses_at_once_and_recovers() -> None:
    queue, release, started = _queue(workers=1, waiting=2, per_owner_waiting=1), asyncio.Event(), list[str]()
    running = asyncio.create_task(_hold(queue, "a", release, started))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(_hold(queue, "a", release, started))
    await asyncio.sleep(0.01)
    with pytest.raises(ScanPending) as per_repo:
        queue.check_room("a")  # a's share of the queue is full
    assert per_repo.value.headers["Retry-After"] == "7"
    queue.check_room("b")
    other = asyncio.create_task(_hold(queue, "b", release, started))
    await asyncio.sleep(0.01)
    with pytest.raises(ScanPending):
        async with queue.slot("c"):  # the whole queue is full
            pass
    release.set()
    await asyncio.gather(running, waiting, other)
    assert queue.waiting == 0
    queue.check_room("c")


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    queue, release, started = _queue(workers=1), asyncio.Event(), list[str]()
    running = asyncio.create_task(_hold(queue, "a", release, started))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(_hold(queue, "b", release, started))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queue.waiting == 0
    release.set()
    await running
    async with queue.slot("c"):
        pass


# --- With the real scanner processes -------------------------------------------------------------------


@pytest.fixture
def slow_pickles(tmp_path: Path) -> list[Path]:
    """Legitimate training-state pickles big enough that scanning each takes a second or more."""
    data = pickle.dumps([{"step": i, "name": str(i)} for i in range(60_000)], protocol=2)
    paths = []
    for index in range(4):
        path = tmp_path / f"state-{index}.pkl"
        path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.fixture
async def runner() -> AsyncIterator[ScanRunner]:
    scan_runner = ScanRunner(ScanLimits(timeout_s=120, memory_mb=2048, workers=2))
    try:
        yield scan_runner
    finally:
        await scan_runner.close()


async def test_one_repos_slow_scans_do_not_delay_another_repos_small_file(
    runner: ScanRunner, slow_pickles: list[Path], tmp_path: Path
) -> None:
    small = tmp_path / "config.json"
    small.write_text('{"model_type": "bert"}')
    await runner.scan(small, name_hint="config.json")  # the worker processes are up
    started = time.monotonic()
    finished: dict[str, float] = {}
    outcomes: list[tuple[str, str]] = []

    async def scan(owner: str, path: Path) -> None:
        SCAN_OWNER.set(owner)
        reports = await runner.scan(path, name_hint=path.name)
        outcomes.append((path.name, reports[0].status.value))
        finished.setdefault(owner, time.monotonic() - started)

    slow = [asyncio.create_task(scan("mallory/many-slow-files", path)) for path in slow_pickles]
    await asyncio.sleep(0.2)  # all of them queued first
    await scan("acme/small-model", small)
    await asyncio.gather(*slow)
    # Every scan really ran (a scan that failed at once would finish "first" and prove nothing).
    assert {status for _, status in outcomes} == {"clean"}, outcomes
    # The small file did not wait for a single slow scan: it finished before the first of them.
    assert finished["acme/small-model"] < finished["mallory/many-slow-files"], finished
