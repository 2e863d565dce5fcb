"""Continuity in the database: revisions held while public, and each repository's upstream state,
changed once (with its audit event) however many replicas see the change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from storage import migrate
from storage.audit_trail import AuditTrail
from storage.continuity import ContinuityStore
from storage.db import Database
from storage.records import RepoKey
from tests.pg import PostgresServer

REPO = RepoKey("model", "acme/kept")
PRIVATE = RepoKey("model", "acme/always-private")
A, B = "a" * 40, "b" * 40


async def test_a_revision_once_held_while_public_stays_public(database: Database) -> None:
    store = ContinuityStore(database)
    assert await store.held(REPO, A) is None
    assert not await store.hold(REPO, A, public=False)  # first seen private or gated
    assert await store.held(REPO, A) is False
    assert await store.hold(REPO, A, public=True)  # the Hub later served it publicly
    assert not await store.hold(REPO, B, public=False)
    # A later private answer never takes "public when stored" back.
    assert await store.hold(REPO, A, public=False)
    assert await store.held(REPO, A) is True
    assert await store.public_commits(REPO) == [A]


async def test_a_change_is_recorded_once_with_its_audit_event(database: Database) -> None:
    store = ContinuityStore(database)
    await store.hold(REPO, A, public=True)
    assert (await store.status(REPO)).state == "present"

    change = await store.change(REPO, "removed", detail="RepoNotFound (404): Repository not found")
    assert change is not None
    assert (change.from_state, change.to_state) == ("present", "removed")
    assert await store.change(REPO, "removed", detail="again") is None  # already recorded
    status = await store.status(REPO)
    assert (status.state, status.since, status.detail) == (
        "removed",
        change.since,
        "RepoNotFound (404): Repository not found",
    )
    back = await store.change(REPO, "present", detail="the Hub serves the repository")
    assert back is not None
    assert back.from_state == "removed"

    events = [e for e in await AuditTrail(database).audit_events() if e.subject == "models/acme/kept"]
    assert [(e.action, e.from_state, e.to_state, e.actor) for e in events] == [
        ("upstream-removed", "present", "removed", "hubgate"),
        ("upstream-present", "removed", "present", "hubgate"),
    ]
    assert events[0].reason == "RepoNotFound (404): Repository not found"
    assert events[0].id == change.audit_event_id


async def test_answers_about_a_repository_never_held_public_change_nothing(database: Database) -> None:
    """A private repository's 404 to someone without access looks exactly like a deleted one: it is no
    change hubgate records, since it never serves such a repository past the Hub."""
    store = ContinuityStore(database)
    await store.hold(PRIVATE, A, public=False)
    assert await store.change(PRIVATE, "removed", detail="RepoNotFound") is None
    assert await store.change(RepoKey("model", "never/seen"), "removed", detail="RepoNotFound") is None
    assert (await store.status(PRIVATE)).state == "present"


async def test_replicas_seeing_the_change_at_once_record_it_once(database: Database) -> None:
    await ContinuityStore(database).hold(REPO, A, public=True)
    replicas = [ContinuityStore(database) for _ in range(6)]
    changes = await asyncio.gather(
        *(replica.change(REPO, "gated", detail="GatedRepo (401)") for replica in replicas)
    )
    assert len([change for change in changes if change is not None]) == 1
    events = [e for e in await AuditTrail(database).audit_events() if e.action == "upstream-gated"]
    assert len(events) == 1


@pytest.fixture(params=["sqlite", "postgres"])
async def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database at revision 0008, before continuity existed."""
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        database = Database(server.url(server.create_database()))
    else:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0008"))
    yield database
    await database.close()


async def test_revisions_known_before_the_upgrade_count_as_public_only_if_last_seen_public(
    old_database: Database,
) -> None:
    # Written as the old schema knew them (the ORM of today knows columns 0008 does not have).
    public, gated, private, unchecked = (
        RepoKey("model", f"acme/{name}") for name in ("public", "gated", "private", "unchecked")
    )
    flags = {public: (False, "", True), gated: (False, "auto", True), private: (True, "", True)}
    async with old_database.engine.begin() as connection:
        for pk, repo in enumerate((public, gated, private, unchecked), start=1):
            is_private, gating, checked = flags.get(repo, (False, "", False))
            await connection.execute(
                text(
                    "INSERT INTO repos (id, repo_type, repo_id, private, gated, flags_checked_at) "
                    "VALUES (:pk, 'model', :repo, :private, :gated, :checked)"
                ),
                {
                    "pk": pk,
                    "repo": repo.repo_id,
                    "private": is_private,
                    "gated": gating,
                    "checked": datetime.now(UTC) if checked else None,
                },
            )
            await connection.execute(
                text(
                    'INSERT INTO file_entries (repo_pk, "commit", path, size, git_oid) '
                    "VALUES (:pk, :commit, 'config.json', 2, :oid)"
                ),
                {"pk": pk, "commit": A, "oid": "1" * 40},
            )

    await migrate.upgrade(old_database)

    store = ContinuityStore(old_database)
    assert await store.held(public, A) is True
    assert await store.held(gated, A) is False
    assert await store.held(private, A) is False
    assert await store.held(unchecked, A) is False  # the Hub never said: fail closed
    assert await store.held(public, B) is None
    assert (await store.status(public)).state == "present"
