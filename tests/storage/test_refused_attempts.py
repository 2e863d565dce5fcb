"""Refused attempts in the database: a repeated attempt adds to its day's row, days stay apart, and a
review's summary counts, names and orders them, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.db import Database
from storage.records import NewReview, RefusedAttempt
from storage.refused_attempts import FOLDED_REVIEW, RefusedAttemptStore
from storage.review_store import ReviewStore

DAY = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def _review(database: Database, subject: str) -> int:
    review = await ReviewStore(database).create(
        NewReview(
            subject_kind="blob",
            subject=subject,
            state="QUARANTINED",
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
        reason="quarantined",
    )
    return review.id


def _attempt(review_id: int, identity: str, at: datetime, **changes: object) -> RefusedAttempt:
    values: dict[str, object] = {
        "review_id": review_id,
        "state": "QUARANTINED",
        "repo_type": "model",
        "repo_id": "acme/evil",
        "commit": "a" * 40,
        "path": "pytorch_model.bin",
        "identity": identity,
        "client": "huggingface_hub/1.0; python/3.12",
        "method": "HEAD",
        "count": 1,
        "first_at": at,
        "last_at": at,
        **changes,
    }
    return RefusedAttempt(**values)  # type: ignore[arg-type]


async def test_repeated_attempts_add_to_their_days_row(database: Database) -> None:
    store = RefusedAttemptStore(database)
    review = await _review(database, "1" * 64)
    other = await _review(database, "2" * 64)
    later = DAY + timedelta(hours=3)
    await store.record([_attempt(review, "alice", DAY, count=2, last_at=DAY + timedelta(minutes=1))])
    # Another batch (another replica) with the same key the same day: one row, its window widened.
    earlier = DAY - timedelta(hours=1)
    await store.record([_attempt(review, "alice", later), _attempt(review, "alice", earlier)])
    await store.record([_attempt(review, "alice", DAY + timedelta(days=1))])  # the next day: a new row
    await store.record([_attempt(other, "bob", DAY)])

    summary = await store.summary(review)
    assert summary.count == 5
    assert summary.identity_count == 1
    assert (summary.first_at, summary.last_at) == (DAY - timedelta(hours=1), DAY + timedelta(days=1))
    rows = [(row.count, row.first_at, row.last_at) for row in summary.latest]
    assert rows == [
        (1, DAY + timedelta(days=1), DAY + timedelta(days=1)),
        (4, DAY - timedelta(hours=1), later),
    ]
    [alice] = summary.identities
    assert (alice.identity, alice.count, alice.clients, alice.folded) == (
        "alice",
        5,
        ("huggingface_hub/1.0; python/3.12",),
        False,
    )
    assert (await store.summary(other)).count == 1


async def test_the_summary_orders_names_and_leaves_unnamed_counts_unnamed(database: Database) -> None:
    store = RefusedAttemptStore(database)
    review = await _review(database, "3" * 64)
    await store.record(
        [
            _attempt(review, "alice", DAY, count=3),
            _attempt(review, "alice", DAY, client="curl/8.5.0", method="GET"),
            _attempt(review, "bob", DAY + timedelta(minutes=5), count=7, state="BLOCKED"),
            _attempt(review, "mallory", DAY, folded="identity", client="", method="", path="", commit=""),
            _attempt(review, "", DAY + timedelta(minutes=9), count=40, folded=FOLDED_REVIEW, client=""),
        ]
    )
    summary = await store.summary(review, latest=2)
    assert summary.count == 52
    assert summary.unnamed == 40
    assert summary.identity_count == 3
    assert [(i.identity, i.count, i.folded) for i in summary.identities] == [
        ("bob", 7, False),
        ("alice", 4, False),
        ("mallory", 1, True),
    ]
    assert summary.identities[1].clients == ("curl/8.5.0", "huggingface_hub/1.0; python/3.12")
    assert [(row.identity, row.folded) for row in summary.latest] == [("", FOLDED_REVIEW), ("bob", "")]
    assert summary.latest[1].state == "BLOCKED"
    empty = await store.summary(await _review(database, "4" * 64))
    assert (empty.count, empty.identities, empty.latest, empty.first_at) == (0, (), (), None)
