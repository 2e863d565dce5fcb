"""PostgreSQL statements are bounded (a server that stops answering must not hold callers forever), and
schema migrations are not (an index on a large table may take minutes)."""

from __future__ import annotations

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
    # A bound no statement can meet: every query on this database's own connections times out...
    hurried = Database(url, settings=EngineSettings(statement_timeout_s=1e-6))
    try:
        with pytest.raises(TimeoutError):
            async with hurried.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        # ...yet the migrations, on a connection of their own, complete.
        assert await migrate.upgrade(hurried) == (None, migrate.head_revision())
    finally:
        await hurried.close()
    checked = Database(url)
    try:
        await migrate.require_current(checked)
    finally:
        await checked.close()
