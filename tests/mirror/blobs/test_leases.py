"""Fetch leases and the pipeline's wait on another replica's lease, driven by a fake clock: no real
sleeps, and the branch where this replica waits is reached deterministically."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.gate import Gate
from mirror.blobs.leases import FetchLeases
from mirror.blobs.pipeline import Pipeline, Stored
from mirror.hub.client import HubClient
from mirror.hub.models import Credentials, RepoRef, RepoType
from mirror.metrics import Metrics
from storage.leases import LeaseStore
from storage.objects import ObjectStore
from storage.records import BlobRecord, FileEntry, ReviewRecord
from storage.repository import MetadataRepository
from storage.unverified_prefixes import UnverifiedPrefixStore
from tests.mirror.fake_clock import FakeClock, StoppedClock


class FakeLeaseStore:
    """One lease table shared by "replicas"; a lease is held until released (expiry is not modelled)."""

    def __init__(self) -> None:
        self.holders: dict[str, str] = {}
        self.renewals = 0

    async def acquire(self, key: str, holder: str, *, ttl_s: float) -> bool:
        return self.holders.setdefault(key, holder) == holder

    async def renew(self, key: str, holder: str, *, ttl_s: float) -> bool:
        self.renewals += 1
        return self.holders.get(key) == holder

    async def release(self, key: str, holder: str) -> None:
        if self.holders.get(key) == holder:
            del self.holders[key]


class Untouchable:
    """Stands for a collaborator the test expects never to be used (a fetch, a scan, a write)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected use of .{name}")


ENTRY = FileEntry(path="model.safetensors", size=10, git_oid="1" * 40, lfs_sha256="a" * 64)
REQUEST = FetchRequest(
    repo=RepoRef(RepoType.MODEL, "org/model"),
    commit="c" * 40,
    entry=ENTRY,
    credentials=Credentials(token=None, source="anonymous"),
)


def _leases(store: FakeLeaseStore, clock: FakeClock | StoppedClock) -> FetchLeases:
    return FetchLeases(cast(LeaseStore, store), ttl_s=30, poll_s=0.25, clock=clock)


def _pipeline(leases: FetchLeases, tmp_path: Path) -> Pipeline:
    return Pipeline(
        hub=cast(HubClient, Untouchable()),
        repository=cast(MetadataRepository, Untouchable()),
        store=cast(ObjectStore, Untouchable()),
        spool_dir=tmp_path,
        gate=cast(Gate, Untouchable()),
        metrics=Metrics(),
        leases=leases,
        unverified=cast(UnverifiedPrefixStore, Untouchable()),
    )


async def test_a_fetch_waits_for_the_replica_holding_the_lease_and_takes_its_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, clock = FakeLeaseStore(), FakeClock()
    # Another replica is downloading the blob; its own renewal timer is of no interest here.
    other, ours = _leases(table, StoppedClock()), _leases(table, clock)
    assert await other.acquire("a" * 64)
    pipeline = _pipeline(ours, tmp_path)
    theirs = Stored(
        blob=BlobRecord(sha256="a" * 64, size=10, git_sha1="1" * 40), review=cast(ReviewRecord, None)
    )
    finished: list[Stored] = []

    async def known(entry: FileEntry) -> Stored | None:
        return finished[0] if finished else None

    monkeypatch.setattr(pipeline, "known", known)
    polls = 3

    def other_replica_progresses() -> None:
        if len(clock.slept) == polls:
            finished.append(theirs)  # its blob row appears after the third poll

    clock.on_sleep = other_replica_progresses
    result = await pipeline._make_available(REQUEST)  # the unit under test: the lease loop
    assert result is theirs
    assert clock.slept == [0.25] * polls
    assert table.holders == {"a" * 64: other.holder}  # ours never took it, nor released theirs
    await other.release("a" * 64)


async def test_a_held_lease_is_renewed_every_third_of_its_ttl_until_released() -> None:
    table, clock = FakeLeaseStore(), FakeClock()
    leases = _leases(table, clock)
    assert await leases.acquire("k")
    for _ in range(3):
        await asyncio.sleep(0)
    assert clock.slept[:2] == [10.0, 10.0]
    assert table.renewals >= 2
    await leases.release("k")
    assert table.holders == {}
    renewals = table.renewals
    await asyncio.sleep(0)
    assert table.renewals == renewals  # the renewer stopped with the release


async def test_a_released_lease_is_free_for_the_next_replica() -> None:
    table, clock = FakeLeaseStore(), FakeClock()
    first, second = _leases(table, clock), _leases(table, clock)
    assert await first.acquire("k")
    assert not await second.acquire("k")
    await first.release("k")
    assert await second.acquire("k")
    await second.release("k")
