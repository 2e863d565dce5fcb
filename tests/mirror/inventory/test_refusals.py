"""The record of refused downloads is bounded whatever the refused caller sends: repeated attempts are one
row, made-up User-Agents and tokens fold into counted rows once past the bounds (the identities seen
before stay named), nothing is held without bound while the database is down, and nothing is lost when
it comes back. A real SQLite database; a real write failure (a trigger) for the outage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mirror.inventory.refusals import FOLDED_IDENTITY, Bounds, RefusalLog
from mirror.metrics import Metrics
from storage import migrate
from storage.db import Database
from storage.records import NewReview, ReviewRecord
from storage.refused_attempts import FOLDED_REVIEW, RefusedAttemptStore
from storage.review_store import ReviewStore

UNRECORDED = "hubgate_refused_attempts_unrecorded_total"
NOTED = "hubgate_refused_downloads_total"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await migrate.upgrade(db)
    yield db
    await db.close()


async def _review(database: Database, subject: str = "9" * 64) -> ReviewRecord:
    return await ReviewStore(database).create(
        NewReview(
            subject_kind="blob",
            subject=subject,
            state="BLOCKED",
            severity="critical",
            reasons="[]",
            repo_type="model",
            repo_id="acme/evil",
            commit="a" * 40,
            path="pytorch_model.bin",
            size=10,
            policy_version="p1",
            scanner_version="s1",
        ),
        actor="hubgate",
        reason="blocked",
    )


def _note(
    log: RefusalLog, review: ReviewRecord, identity: str, *, client: str = "hf/1", method: str = "GET"
) -> None:
    log.note(
        review,
        repo_type="model",
        repo_id="acme/evil",
        commit="a" * 40,
        path="pytorch_model.bin",
        identity=identity,
        client=client,
        method=method,
    )


async def test_repeated_attempts_are_one_counted_row(database: Database) -> None:
    store, clock, metrics = RefusedAttemptStore(database), Clock(), Metrics()
    log = RefusalLog(store, now=clock, noted=metrics.refused_downloads.inc)
    review = await _review(database)
    for _ in range(1000):
        _note(log, review, "alice")
    _note(log, review, "alice", method="HEAD")
    await log.flush()
    for _ in range(5):
        _note(log, review, "alice")
    await log.flush()
    summary = await store.summary(review.id)
    assert summary.count == 1006
    assert sorted((row.method, row.count) for row in summary.latest) == [("GET", 1005), ("HEAD", 1)]
    assert metrics.registry.get_sample_value(NOTED) == 1006


async def test_made_up_clients_and_tokens_fold_into_counted_rows(database: Database) -> None:
    store, clock = RefusedAttemptStore(database), Clock()
    bounds = Bounds(rows_per_identity=3, identities_per_review=4)
    log = RefusalLog(store, bounds=bounds, now=clock)
    review = await _review(database)
    _note(log, review, "victim")  # a real user, before the flood
    for number in range(500):  # one identity, a new User-Agent each time
        _note(log, review, "mallory", client=f"agent-{number}")
    for number in range(300):  # a new token (identity) each time
        _note(log, review, f"fake-{number:04}")
    await log.flush()

    summary = await store.summary(review.id, latest=100)
    assert summary.count == 801
    named = {(row.identity, row.folded): row.count for row in summary.latest}
    assert named[("victim", "")] == 1
    assert named[("mallory", FOLDED_IDENTITY)] == 497  # three rows of its own, the rest counted in one
    assert named[("", FOLDED_REVIEW)] == 298  # two of the made-up tokens fit, then nobody is named
    assert len(summary.latest) == 1 + 3 + 1 + 2 + 1
    assert summary.unnamed == 298
    # Most attempts first, equal counts by name.
    assert [i.identity for i in summary.identities] == ["mallory", "fake-0000", "fake-0001", "victim"]

    # The bounds hold per UTC day: tomorrow's attempts get rows of their own again, up to the bounds.
    clock.now += timedelta(hours=2)
    _note(log, review, "victim")
    for number in range(10):
        _note(log, review, f"fake-{number:04}")
    await log.flush()
    summary = await store.summary(review.id, latest=100)
    tomorrow = [row for row in summary.latest if row.first_at.date() == clock.now.date()]
    assert sorted((row.identity, row.folded, row.count) for row in tomorrow) == [
        ("", FOLDED_REVIEW, 7),
        ("fake-0000", "", 1),
        ("fake-0001", "", 1),
        ("fake-0002", "", 1),
        ("victim", "", 1),
    ]


async def test_an_outage_holds_a_bounded_number_and_loses_nothing_held(database: Database) -> None:
    store, clock, metrics = RefusedAttemptStore(database), Clock(), Metrics()
    log = RefusalLog(
        store,
        bounds=Bounds(max_pending=3),
        now=clock,
        unrecorded=metrics.refused_attempts_unrecorded.inc,
    )
    review = await _review(database)
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TRIGGER outage BEFORE INSERT ON refused_attempts "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    _note(log, review, "alice")
    _note(log, review, "bob")
    await log.flush()  # fails: kept
    _note(log, review, "alice")  # an existing key still counts
    _note(log, review, "carol")
    _note(log, review, "dave")  # a fourth key finds no room: counted as unrecorded
    assert metrics.registry.get_sample_value(UNRECORDED) == 1
    await log.flush()  # fails again: still kept, merged
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER outage"))
    await log.flush()
    summary = await store.summary(review.id)
    assert {i.identity: i.count for i in summary.identities} == {"alice": 2, "bob": 1, "carol": 1}
