"""PostgreSQL statements are bounded (a server that stops answering must not hold callers forever), and
schema migrations are not (an index on a large table may take minutes)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from storage import migrate
from storage.db import Database, EngineSettings
from tests.pg import PostgresServer


async def test_a_statement_past_the_timeout_is_given_up(postgres: PostgresServer) -> None:
    database = Database(
        postgres.url(postgres.create_database()), settings=EngineSettings(statement_timeout_s=0.5)
    )
    try:
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await connection.execute(text("SELECT pg_sleep(5)"))
            assert time.monotonic() - started < 3
    finally:
        await database.close()


async def test_migrations_run_without_the_statement_timeout(postgres: PostgresServer) -> None:
    url = postgres.url(postgres.create_database())
    blocker = Database(url, settings=EngineSettings(statement_timeout_s=None))
    hurried = Database(url, settings=EngineSettings(statement_timeout_s=0.5))
    try:
        # The version table as Alembic creates it, empty (nothing migrated yet), locked by another session
        # for 2 s: every statement on it waits that long, past the hurried database's bound.
        async with blocker.engine.begin() as setup:
            await setup.execute(text(_VERSION_TABLE))
        async with blocker.engine.connect() as holder:
            await holder.begin()
            await holder.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))

            async def release() -> None:
                await asyncio.sleep(2)
                await holder.commit()

            released = asyncio.create_task(release())
            started = time.monotonic()
            with pytest.raises(TimeoutError):  # hubgate's own statements give up...
                async with hurried.engine.connect() as connection:
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert time.monotonic() - started < 1.5
            # ...yet the migrations, on a connection of their own, wait for the lock and complete.
            assert await migrate.upgrade(hurried) == (None, migrate.head_revision())
            assert time.monotonic() - started >= 1.9
            await released
    finally:
        await hurried.close()
        await blocker.close()
    checked = Database(url)
    try:
        await migrate.require_current(checked)
    finally:
        await checked.close()


_VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)
