"""The periodic jobs' shared loop (re-evaluation, eviction), driven in lockstep by a stepped clock."""

from __future__ import annotations

import asyncio

from mirror.periodic import run_every
from storage.db import DatabaseUnavailable
from storage.objects import ObjectStoreError
from tests.mirror.fake_clock import SteppedClock


async def test_a_round_runs_at_once_then_one_every_interval() -> None:
    clock, stop, rounds = SteppedClock(), asyncio.Event(), []

    async def one_round() -> None:
        rounds.append(clock.monotonic())

    job = asyncio.ensure_future(run_every(60, stop, one_round, clock=clock))
    await clock.parked(job)
    assert rounds == [0.0], "the first round does not wait for the interval"
    await clock.step(job)
    await clock.step(job)
    assert rounds == [0.0, 60.0, 120.0]
    assert clock.waits == [60, 60, 60]
    stop.set()
    await clock.step(job)
    assert job.done()
    assert rounds == [0.0, 60.0, 120.0], "a stopped job runs no further round"


async def test_a_storage_outage_skips_a_round_and_the_job_goes_on() -> None:
    clock, stop, rounds = SteppedClock(), asyncio.Event(), []
    outages: list[Exception] = [DatabaseUnavailable("down"), ObjectStoreError("down")]

    async def one_round() -> None:
        rounds.append(clock.monotonic())
        if outages:
            raise outages.pop(0)

    job = asyncio.ensure_future(run_every(30, stop, one_round, clock=clock))
    await clock.parked(job)
    await clock.step(job)
    await clock.step(job)
    assert not job.done()
    assert rounds == [0.0, 30.0, 60.0]
    stop.set()
    await clock.step(job)
    await job


async def test_any_other_error_ends_the_job_loudly() -> None:
    clock, stop = SteppedClock(), asyncio.Event()

    async def one_round() -> None:
        raise RuntimeError("a bug")

    job = asyncio.ensure_future(run_every(30, stop, one_round, clock=clock))
    await clock.parked(job)
    assert job.done()
    assert isinstance(job.exception(), RuntimeError)


async def test_a_round_in_progress_finishes_when_the_job_is_stopped() -> None:
    clock, stop = SteppedClock(), asyncio.Event()
    release, finished = asyncio.Event(), []

    async def one_round() -> None:
        await release.wait()  # e.g. a transaction on a slow database
        finished.append(True)

    job = asyncio.ensure_future(run_every(30, stop, one_round, clock=clock))
    await asyncio.sleep(0)
    stop.set()
    release.set()
    await asyncio.wait_for(job, timeout=10)
    assert finished == [True]
    assert clock.waits == [30], "the job still passes its wait, which returns at once once stopped"


async def test_a_wake_starts_the_next_round_at_once_also_when_it_comes_during_a_round() -> None:
    # The real clock: a wake must end a real wait (an hour here) without the interval passing.
    stop, wake = asyncio.Event(), asyncio.Event()
    rounds: list[int] = []
    first_round_running, release = asyncio.Event(), asyncio.Event()

    async def one_round() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            first_round_running.set()
            await release.wait()

    job = asyncio.ensure_future(run_every(3600, stop, one_round, wake=wake))
    await asyncio.wait_for(first_round_running.wait(), timeout=10)
    wake.set()  # what changed may have been read too early by the round in progress
    release.set()
    async with asyncio.timeout(10):
        while len(rounds) < 2:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert rounds == [0, 1], "one more round, then the job waits again"
    wake.set()
    async with asyncio.timeout(10):
        while len(rounds) < 3:
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(job, timeout=10)
