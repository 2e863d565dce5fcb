"""Signature checks in the database: one row per revision, replaced when checked again."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.db import Database
from storage.records import RepoKey
from storage.signature_store import SignatureCheck, SignatureStore

REPO = RepoKey("model", "signed-org/model")
COMMIT = "d" * 40


async def test_a_check_is_stored_and_a_recheck_replaces_it(database: Database) -> None:
    store = SignatureStore(database)
    assert await store.get(REPO, COMMIT) is None
    failed = SignatureCheck(
        status="failed",
        method="key",
        signer="ab" * 32,
        reason="wrong-key: signed by a key the rule does not trust",
        trust_rule="signatures.0",
        checked_at=datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
    )
    await store.save(REPO, COMMIT, failed)
    assert await store.get(REPO, COMMIT) == failed

    verified = SignatureCheck(
        status="verified",
        method="certificate",
        signer="CN=release signing, O=Signed Org",
        reason="",
        trust_rule="signatures.1",
        checked_at=datetime(2026, 11, 29, 11, 0, tzinfo=UTC),
    )
    await store.save(REPO, COMMIT, verified)
    assert await store.get(REPO, COMMIT) == verified
    assert await store.get(REPO, "e" * 40) is None
    assert verified.to_dict()["checked_at"] == "2026-11-29T11:00:00+00:00"
