"""Schema migrations with Alembic, run over hubgate's own async engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import Database

_MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(Exception):
    """The database schema is not at the revision this hubgate needs."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        msg = "no migrations found"
        raise RuntimeError(msg)
    return head


async def current_revision(database: Database) -> str | None:
    async with database.engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def upgrade(database: Database) -> tuple[str | None, str]:
    """Bring the schema to head; returns (revision before, revision after).

    On PostgreSQL the migrations run on a connection of their own, without the statement timeout that
    bounds hubgate's queries: building an index on a large table may take minutes. (SQLite has no such
    timeout; its in-memory databases exist only on their own engine.)"""
    if database.is_sqlite:
        return await _upgrade(database)
    unbounded = replace(database.settings, size=1, max_overflow=0, statement_timeout_s=None)
    migrating = Database(database.url, settings=unbounded)
    try:
        return await _upgrade(migrating)
    finally:
        await migrating.close()


async def _upgrade(database: Database) -> tuple[str | None, str]:
    before = await current_revision(database)
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), "head"))
    return before, head_revision()


async def require_current(database: Database) -> None:
    """Raise SchemaOutOfDate unless the schema is at head (a replica must not run on an old schema)."""
    current = await current_revision(database)
    head = head_revision()
    if current != head:
        found = current or "an empty database"
        msg = f"database schema is at {found}, this hubgate needs {head}: run `hubgate migrate` first"
        raise SchemaOutOfDate(msg)
