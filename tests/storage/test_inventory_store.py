"""The inventory's queries, on SQLite and PostgreSQL, and the schema they run on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from storage import migrate
from storage.db import Database
from storage.download_records import DownloadRecords
from storage.inventory_store import InventoryStore, RevisionFacts, Scope, ServedSpan
from storage.records import BlobRecord, DownloadEvent, FileEntry, NewReview, RepoKey
from storage.repository import MetadataRepository
from storage.review_store import ReviewStore
from storage.tables import Base, SignatureCheckRow

REPO = RepoKey(repo_type="model", repo_id="Qwen/Qwen3-0.6B")
OTHER = RepoKey(repo_type="model", repo_id="deepseek-ai/DeepSeek-R1")
COMMIT = "a" * 40
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _facts(bucket: str = "permissive", licence: str = "apache-2.0") -> RevisionFacts:
    return RevisionFacts(
        licences=f'[{{"licence": "{licence}", "name": null, "link": null}}]',
        licence_bucket=bucket,
        licence_verdict="allow",
        lineage="[]",
        policy_version="default@1",
        pipeline_tag="text-generation",
        library_name="transformers",
    )


def _download(
    repo: RepoKey, commit: str, path: str, *, sha256: str, state: str, sent: int, at: datetime = T0
) -> DownloadEvent:
    return DownloadEvent(
        blob_sha256=sha256,
        repo_type=repo.repo_type,
        repo_id=repo.repo_id,
        commit=commit,
        path=path,
        identity="anonymous",
        client="test",
        state=state,
        range_start=0,
        bytes=sent,
        at=at,
    )


async def test_orm_tables_and_migrations_agree(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert differences == []


async def test_revisions_served_before_the_upgrade_are_filled_in_from_the_download_log(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0004"))
        store = ReviewStore(database)
        await MetadataRepository(database).save_ref(REPO, "main", COMMIT)  # the repos row
        await DownloadRecords(store.database).record_downloads(
            [
                _download(REPO, COMMIT, "a.bin", sha256="1" * 64, state="APPROVED", sent=5),
                _download(
                    REPO,
                    COMMIT,
                    "b.bin",
                    sha256="2" * 64,
                    state="APPROVED",
                    sent=5,
                    at=T0 + timedelta(hours=1),
                ),
                # A cut download served nothing complete: it does not make a revision "served".
                _download(REPO, "b" * 40, "a.bin", sha256="1" * 64, state="CUT", sent=3),
            ]
        )
        await migrate.upgrade(database)

        revisions = await InventoryStore(database).revisions()
        assert [(r.repo, r.commit) for r in revisions] == [(REPO, COMMIT)]
        assert (revisions[0].first_served_at, revisions[0].last_served_at) == (T0, T0 + timedelta(hours=1))
        assert revisions[0].facts.licence_bucket == ""  # unrecorded until the gate decides again
    finally:
        await database.close()


async def test_a_licence_decision_and_served_batches_make_one_record(database: Database) -> None:
    store = InventoryStore(database)
    await store.record_revisions([(REPO, COMMIT, _facts()), (OTHER, COMMIT, _facts())])
    assert await store.revisions() == []  # decided on, never served

    later, earlier = T0 + timedelta(minutes=5), T0 - timedelta(minutes=5)
    await store.mark_served([ServedSpan(REPO, COMMIT, first=T0, last=later)])
    await store.mark_served([ServedSpan(REPO, COMMIT, first=earlier, last=T0)])
    # A newer decision (another policy) replaces the licence facts and keeps the served window.
    await store.record_revisions([(REPO, COMMIT, _facts(bucket="vendor", licence="llama3"))])

    [revision] = await store.revisions()
    assert (revision.repo, revision.commit) == (REPO, COMMIT)
    assert (revision.first_served_at, revision.last_served_at) == (earlier, later)
    assert revision.facts.licence_bucket == "vendor"
    assert "llama3" in revision.facts.licences
    assert revision.facts.pipeline_tag == "text-generation"
    assert revision.licence_decided_at is not None
    assert revision.review is None
    assert revision.signature is None


async def test_revisions_judged_but_never_served_are_found_outside_served_only_scopes(
    database: Database,
) -> None:
    store = InventoryStore(database)
    await store.record_revisions([(REPO, COMMIT, _facts()), (OTHER, COMMIT, _facts(bucket="vendor"))])
    await store.mark_served([ServedSpan(REPO, COMMIT, first=T0, last=T0)])
    assert [r.repo for r in await store.revisions()] == [REPO]
    judged = await store.revisions(Scope(repo=OTHER, commit_prefix=COMMIT, served_only=False))
    assert [(r.repo, r.first_served_at, r.facts.licence_bucket) for r in judged] == [(OTHER, None, "vendor")]
    # Served ones first, never-served ones after them.
    everything = await store.revisions(Scope(served_only=False))
    assert [r.repo for r in everything] == [REPO, OTHER]


async def test_a_served_batch_without_a_decision_still_lists_the_revision(database: Database) -> None:
    store = InventoryStore(database)
    await store.mark_served([ServedSpan(OTHER, COMMIT, first=T0, last=T0)])
    [revision] = await store.revisions()
    assert revision.repo == OTHER
    assert revision.facts.licence_bucket == ""


async def test_files_reviews_signatures_and_tallies_are_joined(database: Database) -> None:
    store = InventoryStore(database)
    reviews = ReviewStore(database)
    repository = MetadataRepository(database)
    lfs = FileEntry(
        path="model.safetensors", size=10, git_oid="1" * 40, lfs_sha256="e" * 64, lfs_pointer_size=130
    )
    small = FileEntry(path="config.json", size=2, git_oid="2" * 40)
    unfetched = FileEntry(path="README.md", size=3, git_oid="3" * 40)
    await repository.save_file_entries(REPO, COMMIT, [lfs, small, unfetched])
    await store.record_revisions([(REPO, COMMIT, _facts())])
    await store.mark_served([ServedSpan(REPO, COMMIT, first=T0, last=T0)])

    def review(kind: str, subject: str, state: str, path: str = "") -> NewReview:
        return NewReview(
            subject_kind=kind,
            subject=subject,
            state=state,
            severity="",
            reasons="[]",
            repo_type=REPO.repo_type,
            repo_id=REPO.repo_id,
            commit=COMMIT,
            path=path,
            size=0,
            policy_version="default@1",
            scanner_version="",
        )

    small_blob = BlobRecord(sha256="5" * 64, size=2, git_sha1=small.git_oid)
    config_review = await reviews.create(
        review("blob", small_blob.sha256, "APPROVED", "config.json"), actor="t", reason="", blob=small_blob
    )
    weights_review = await reviews.create(
        review("blob", "e" * 64, "QUARANTINED", "model.safetensors"),
        actor="t",
        reason="",
        blob=BlobRecord(sha256="e" * 64, size=10, git_sha1="9" * 40),
    )
    licence_review = await reviews.create(
        review("revision", f"models/{REPO.repo_id}@{COMMIT}", "APPROVED"), actor="t", reason=""
    )
    async with database.sessions() as session, session.begin():
        [repo_pk] = (
            await session.execute(text("SELECT id FROM repos WHERE repo_id = :r"), {"r": REPO.repo_id})
        ).one()
        session.add(
            SignatureCheckRow(
                repo_pk=repo_pk, commit=COMMIT, status="verified", method="key", signer="abc", checked_at=T0
            )
        )
    await DownloadRecords(reviews.database).record_downloads(
        [
            _download(REPO, COMMIT, "config.json", sha256=small_blob.sha256, state="APPROVED", sent=2),
            _download(REPO, COMMIT, "config.json", sha256=small_blob.sha256, state="APPROVED", sent=2),
            _download(REPO, COMMIT, "model.safetensors", sha256="e" * 64, state="CUT", sent=4),
            _download(OTHER, COMMIT, "config.json", sha256=small_blob.sha256, state="APPROVED", sent=2),
        ]
    )

    files = {f.path: f for f in await store.files(Scope(repo=REPO))}
    assert set(files) == {"model.safetensors", "config.json", "README.md"}
    assert (files["model.safetensors"].sha256, files["model.safetensors"].lfs) == ("e" * 64, True)
    assert files["model.safetensors"].review is not None
    assert (files["model.safetensors"].review.id, files["model.safetensors"].review.state) == (
        weights_review.id,
        "QUARANTINED",
    )
    assert files["config.json"].sha256 == small_blob.sha256  # a small file's sha256: its stored blob's
    assert files["config.json"].review is not None
    assert files["config.json"].review.id == config_review.id
    assert (files["README.md"].sha256, files["README.md"].review) == (None, None)

    [revision] = await store.revisions(Scope(repo=REPO, commit_prefix=COMMIT[:7]))
    assert revision.review is not None
    assert (revision.review.id, revision.review.state) == (licence_review.id, "APPROVED")
    assert revision.signature is not None
    assert (revision.signature.status, revision.signature.signer) == ("verified", "abc")
    assert await store.revisions(Scope(repo=REPO, commit_prefix="b" * 7)) == []

    tallies = await store.tallies(Scope(repo=REPO))
    assert [(t.path, t.identity, t.count, t.bytes) for t in tallies] == [("config.json", "anonymous", 2, 4)]


async def test_outdated_revisions_are_those_of_another_version_or_without_origins(
    database: Database,
) -> None:
    store = InventoryStore(database)
    current = "default@1+origins"
    recorded = RevisionFacts(
        licences="[]",
        licence_bucket="permissive",
        licence_verdict="allow",
        lineage="[]",
        policy_version=current,
        origins='{"verdict": "allow", "findings": [], "nodes": []}',
    )
    commits = [f"{n:x}" * 40 for n in range(1, 6)]
    await store.record_revisions(
        [
            (REPO, commits[0], recorded),  # up to date
            (REPO, commits[1], _facts()),  # another version, no origins
            (OTHER, commits[2], _facts()),
            (OTHER, commits[3], RevisionFacts("[]", "permissive", "allow", "[]", current)),  # no origins yet
        ]
    )
    # A revision only served (from before the gate recorded decisions) has no version at all.
    await store.mark_served([ServedSpan(repo=REPO, commit=commits[4], first=T0, last=T0)])
    found = await store.outdated_revisions(policy_version=current, after=None, limit=10)
    assert sorted(found, key=str) == sorted(
        [(REPO, commits[1]), (OTHER, commits[2]), (OTHER, commits[3]), (REPO, commits[4])], key=str
    )
    # Ordered by repo type, repo id, commit (in the database's collation): a stable cursor.
    first_two = await store.outdated_revisions(policy_version=current, after=None, limit=2)
    rest = await store.outdated_revisions(policy_version=current, after=first_two[-1], limit=10)
    assert first_two + rest == found
