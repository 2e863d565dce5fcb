"""Single flight: callers share a running task, never one that has already ended."""

from __future__ import annotations

import asyncio

from mirror.singleflight import SingleFlight


async def test_a_caller_arriving_as_a_failed_task_ends_starts_afresh() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    release = asyncio.Event()
    calls: list[str] = []

    async def fail() -> str:
        await release.wait()
        raise RuntimeError("upstream cut the download")

    async def fetch() -> str:
        calls.append("fetch")
        return "fetched"

    first = flights.start("blob", fail)
    seen: dict[str, object] = {}

    def retry() -> None:
        # Runs in the same loop iteration, right after the first task ended and before its done-callbacks
        # (which forget it) run: the moment a client retrying the instant it was cut off arrives in.
        seen["first_done"] = first.done()
        seen["running"] = flights.running("blob")
        seen["task"] = flights.start("blob", fetch)

    release.set()  # schedules the first task's last step...
    asyncio.get_running_loop().call_soon(retry)  # ...and the retry right after it
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.sleep(0)
    assert seen["first_done"] is True
    assert seen["running"] is False
    second = seen["task"]
    assert isinstance(second, asyncio.Task)
    assert second is not first
    assert await second == "fetched"
    assert calls == ["fetch"]


async def test_callers_share_a_running_task() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        return 7

    first, second = flights.start("blob", work), flights.start("blob", work)
    assert first is second
    assert flights.running("blob")
    release.set()
    assert await first == 7


async def test_ended_waits_for_a_failing_task_to_finish_its_cleanup() -> None:
    # A download that cut its readers is still removing its spool and releasing its lease; a retrying
    # client waits for that, then starts its own download instead of joining the failing one.
    flights: SingleFlight[str, str] = SingleFlight()
    cut, cleaned_up = asyncio.Event(), asyncio.Event()

    async def fail() -> str:
        try:
            cut.set()
            raise RuntimeError("digest mismatch")
        finally:
            await asyncio.sleep(0.05)  # the spool's removal, the lease's release
            cleaned_up.set()

    first = flights.start("blob", fail)
    await cut.wait()
    assert flights.running("blob")
    await flights.ended("blob")
    assert cleaned_up.is_set()
    assert not flights.running("blob")
    with_retry = flights.start("blob", lambda: asyncio.sleep(0, result="fetched"))
    assert with_retry is not first
    assert await with_retry == "fetched"
    await flights.ended("nothing runs under this key")
