"""Review requests are kept, four-eyes is checked inside the waiver's transaction, and several transitions
commit together or not at all: on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from storage import migrate
from storage.audit_trail import AuditTrail
from storage.db import Database
from storage.records import NewReview, ReviewChange, Waiver
from storage.review_requests import FourEyesUnmet
from storage.review_store import ReviewStore, StaleReview
from storage.tokens import TokenStore


async def _quarantined(store: ReviewStore, subject: str = "1" * 64) -> int:
    review = await store.create(
        NewReview(
            subject_kind="blob",
            subject=subject,
            state="QUARANTINED",
            severity="medium",
            reasons='[{"rule_id": "pickle.unknown-callable", "message": "odd"}]',
            repo_type="model",
            repo_id="acme/odd",
            commit="a" * 40,
            path="training_state.bin",
            size=10,
            policy_version="p1",
            scanner_version="s1",
        ),
        actor="hubgate",
        reason="quarantined",
    )
    return review.id


def _waiver(by: str) -> ReviewChange:
    return ReviewChange(
        to_state="APPROVED",
        actor=by,
        actor_token=f"{by}-laptop",
        role="approver",
        action="waive",
        reason="fine",
        waiver=Waiver(by=by, reason="fine", expires_at=None, rules_json="[]"),
        needs_request_by_other_than=by,
    )


async def test_every_request_is_kept_with_its_person_and_token(database: Database) -> None:
    store = ReviewStore(database)
    review_id = await _quarantined(store)
    await store.record_request(
        review_id, subject="alice@corp", token_name="ci", role="requester", justification="first"
    )
    review = await store.record_request(
        review_id, subject="bob@corp", token_name="desk", role="requester", justification="second"
    )
    assert (review.requested_by, review.request_justification) == ("bob@corp", "second")
    kept = await store.requests(review_id)
    assert [(r.subject, r.token_name, r.justification, r.review_state) for r in kept] == [
        ("alice@corp", "ci", "first", "QUARANTINED"),
        ("bob@corp", "desk", "second", "QUARANTINED"),
    ]
    events = await AuditTrail(store.database).audit_events(review_id=review_id)
    assert [(e.actor, e.actor_token) for e in events if e.action == "request"] == [
        ("alice@corp", "ci"),
        ("bob@corp", "desk"),
    ]


async def test_a_waiver_needs_a_request_by_someone_else(database: Database) -> None:
    store = ReviewStore(database)
    review_id = await _quarantined(store)
    head_before = await AuditTrail(store.database).audit_head()
    with pytest.raises(FourEyesUnmet):
        await store.apply(review_id, from_state="QUARANTINED", change=_waiver("alice@corp"))
    await store.record_request(
        review_id, subject="alice@corp", token_name="ci", role="requester", justification="mine"
    )
    with pytest.raises(FourEyesUnmet):  # her own request, from another token, is still hers
        await store.apply(review_id, from_state="QUARANTINED", change=_waiver("alice@corp"))
    review = await store.get(review_id)
    assert review is not None
    assert review.state == "QUARANTINED"
    assert (await AuditTrail(store.database).audit_head())[0] == head_before[
        0
    ] + 1  # only the request was written
    await store.record_request(
        review_id, subject="bob@corp", token_name="desk", role="requester", justification="needed"
    )
    approved = await store.apply(review_id, from_state="QUARANTINED", change=_waiver("alice@corp"))
    assert (approved.state, approved.waiver_by) == ("APPROVED", "alice@corp")
    last = (await AuditTrail(store.database).audit_events(review_id=review_id))[-1]
    assert (last.actor, last.actor_token, last.action) == ("alice@corp", "alice@corp-laptop", "waive")


async def test_a_request_before_the_last_change_of_state_does_not_count(database: Database) -> None:
    store = ReviewStore(database)
    review_id = await _quarantined(store)
    await store.record_request(
        review_id, subject="bob@corp", token_name="desk", role="requester", justification="once"
    )
    await store.apply(review_id, from_state="QUARANTINED", change=_waiver("alice@corp"))
    expire = ReviewChange(to_state="QUARANTINED", actor="hubgate", role="system", action="expire")
    await store.apply(review_id, from_state="APPROVED", change=expire)
    with pytest.raises(FourEyesUnmet):
        await store.apply(review_id, from_state="QUARANTINED", change=_waiver("alice@corp"))


async def test_transitions_applied_together_roll_back_together(database: Database) -> None:
    """A real fault in the database on the second write (a trigger), not a stand-in for our code."""
    store = ReviewStore(database)
    review_id = await _quarantined(store)
    async with database.engine.begin() as connection:
        for statement in _fault_on_leaving_pending(database):
            await connection.execute(text(statement))
    head_before = await AuditTrail(store.database).audit_head()
    rescan = ReviewChange(to_state="PENDING", actor="alice@corp", role="approver", action="rescan")
    verdict = ReviewChange(to_state="QUARANTINED", actor="hubgate", role="system", action="quarantine")
    with pytest.raises(Exception, match="injected fault"):
        await store.apply_many(review_id, from_state="QUARANTINED", changes=(rescan, verdict))
    review = await store.get(review_id)
    assert review is not None
    assert review.state == "QUARANTINED"  # not stranded in PENDING
    assert await AuditTrail(store.database).audit_head() == head_before
    with pytest.raises(StaleReview):
        await store.apply_many(review_id, from_state="APPROVED", changes=(rescan, verdict))


def _fault_on_leaving_pending(database: Database) -> list[str]:
    if database.is_sqlite:
        return [
            "CREATE TRIGGER injected_fault BEFORE UPDATE OF state ON reviews WHEN OLD.state = 'PENDING' "
            "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        ]
    return [
        "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
        "CREATE TRIGGER injected_fault BEFORE UPDATE ON reviews FOR EACH ROW "
        "WHEN (OLD.state = 'PENDING') EXECUTE FUNCTION injected_fault()",
    ]


async def test_the_upgrade_keeps_earlier_requests_and_names_token_subjects(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0006"))
            await connection.execute(
                text(
                    "INSERT INTO api_tokens (name, role, token_hash, created_at) "
                    "VALUES ('sec-team', 'approver', :hash, CURRENT_TIMESTAMP)"
                ),
                {"hash": "f" * 64},
            )
            await connection.execute(
                text(
                    "INSERT INTO audit_events (id, at, actor, role, action, review_id, subject, from_state, "
                    "to_state, reason, rule_ids, report_digest, prev_hash, hash) VALUES (1, "
                    "CURRENT_TIMESTAMP, 'sec-team', 'approver', 'request', 7, 'x', 'QUARANTINED', "
                    "'QUARANTINED', 'please', '', '', :genesis, :genesis)"
                ),
                {"genesis": "0" * 64},
            )
        await migrate.upgrade(database)
        store = ReviewStore(database)
        [token] = await TokenStore(store.database).tokens()
        assert (token.name, token.subject) == ("sec-team", "sec-team")
        [kept] = await store.requests(7)
        assert (kept.subject, kept.token_name, kept.justification, kept.audit_event_id) == (
            "sec-team",
            "sec-team",
            "please",
            1,
        )
    finally:
        await database.close()
