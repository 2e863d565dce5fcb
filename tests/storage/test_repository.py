from __future__ import annotations

import pytest

from storage import migrate
from storage.db import Database
from storage.records import BlobRecord, FileEntry, RepoKey
from storage.repository import MetadataRepository

REPO = RepoKey(repo_type="model", repo_id="org/model")
COMMIT = "a" * 40


async def test_schema_is_at_head_after_migrate(database: Database) -> None:
    assert await migrate.current_revision(database) == migrate.head_revision()
    await migrate.require_current(database)


async def test_unmigrated_database_is_refused(tmp_path: object) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        with pytest.raises(migrate.SchemaOutOfDate, match="hubgate migrate"):
            await migrate.require_current(db)
    finally:
        await db.close()


async def test_flags_are_unknown_until_saved(repository: MetadataRepository) -> None:
    await repository.save_ref(REPO, "main", COMMIT)  # creates the repo row without flags
    assert await repository.repo_flags(REPO) is None
    await repository.save_repo_flags(REPO, private=False, gated="manual")
    flags = await repository.repo_flags(REPO)
    assert flags is not None
    assert flags.restricted
    assert flags.gated == "manual"


async def test_refs_move(repository: MetadataRepository) -> None:
    await repository.save_ref(REPO, "main", COMMIT)
    await repository.save_ref(REPO, "main", "b" * 40)
    ref = await repository.get_ref(REPO, "main")
    assert ref is not None
    assert ref.commit == "b" * 40
    assert await repository.get_ref(REPO, "dev") is None


async def test_file_entries_at_a_commit_are_kept_once(repository: MetadataRepository) -> None:
    entry = FileEntry(
        path="model.safetensors", size=10, git_oid="1" * 40, lfs_sha256="2" * 64, lfs_pointer_size=130
    )
    await repository.save_file_entries(REPO, COMMIT, [entry])
    await repository.save_file_entries(
        REPO, COMMIT, [entry, FileEntry(path="a.txt", size=1, git_oid="3" * 40)]
    )
    assert await repository.get_file_entry(REPO, COMMIT, "model.safetensors") == entry
    assert await repository.get_file_entry(REPO, "c" * 40, "model.safetensors") is None


async def test_blobs_are_found_by_sha256_or_git_sha1(repository: MetadataRepository) -> None:
    blob = BlobRecord(sha256="4" * 64, size=5, git_sha1="5" * 40)
    await repository.record_blob(blob)
    await repository.record_blob(blob)  # idempotent
    assert (
        await repository.find_blob(FileEntry(path="x", size=5, git_oid="9" * 40, lfs_sha256="4" * 64)) == blob
    )
    assert await repository.find_blob(FileEntry(path="y", size=5, git_oid="5" * 40)) == blob
    await repository.forget_blob(blob.sha256)
    assert await repository.find_blob(FileEntry(path="y", size=5, git_oid="5" * 40)) is None


async def test_metadata_documents_round_trip(repository: MetadataRepository) -> None:
    await repository.save_doc("k" * 64, repo=REPO, kind="tree", body=b"[]", next_cursor="abc")
    doc = await repository.get_doc("k" * 64)
    assert doc is not None
    assert (doc.body, doc.next_cursor) == (b"[]", "abc")
    assert doc.fetched_at.tzinfo is not None
