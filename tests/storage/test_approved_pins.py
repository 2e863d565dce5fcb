"""Approved-revision pins in the database: the approved commit of a ref never steps back."""

from __future__ import annotations

from storage.approved_pins import ApprovedPinStore
from storage.db import Database
from storage.records import RepoKey
from storage.repository import MetadataRepository

REPO = RepoKey("model", "acme/pinned")
OLD, NEW, NEWER = "a" * 40, "b" * 40, "c" * 40


async def test_pinning_a_repo_and_unpinning_it_forgets_its_approved_commits(database: Database) -> None:
    store = ApprovedPinStore(database)
    assert not await store.is_pinned(REPO)
    await store.pin(REPO, by="sec")
    await store.pin(REPO, by="sec")  # idempotent
    assert await store.is_pinned(REPO)
    assert await store.record_approved(REPO, "main", OLD)
    assert await store.unpin(REPO)
    assert not await store.is_pinned(REPO)
    assert await store.approved_commit(REPO, "main") is None
    assert not await store.unpin(REPO)
    assert not await store.unpin(RepoKey("model", "never/seen"))


async def test_the_approved_commit_only_moves_to_upstreams_current_commit(database: Database) -> None:
    store = ApprovedPinStore(database)
    refs = MetadataRepository(database)
    await refs.save_ref(REPO, "main", OLD)
    assert await store.record_approved(REPO, "main", OLD)
    assert await store.approved_commit(REPO, "main") == OLD

    # Upstream moved on to NEWER; NEW's review finishing late must not replace OLD with a commit that is
    # no longer the branch's, and NEWER replaces it once approved.
    await refs.save_ref(REPO, "main", NEWER)
    assert not await store.record_approved(REPO, "main", NEW)
    assert await store.approved_commit(REPO, "main") == OLD
    assert await store.record_approved(REPO, "main", NEWER)
    assert await store.approved_commit(REPO, "main") == NEWER
    # ...and a late approval of an older commit never steps back.
    assert not await store.record_approved(REPO, "main", OLD)
    assert await store.approved_commit(REPO, "main") == NEWER
    assert await store.record_approved(REPO, "main", NEWER)  # the same commit again: still the record

    # Refs are independent: a tag seen for the first time takes its first approved commit.
    assert await store.record_approved(REPO, "v1", OLD)
    assert await store.approved_commit(REPO, "v1") == OLD
    assert await store.approved_commit(REPO, "main") == NEWER
