"""The metadata database: an async SQLAlchemy engine for SQLite (default) or PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


@dataclass(frozen=True, slots=True)
class EngineSettings:
    size: int = 10  # pooled connections (PostgreSQL)
    max_overflow: int = 10
    timeout_s: float = 10.0  # waiting for a pooled connection
    recycle_s: int = 1800
    # PostgreSQL: a connection attempt, and each statement's round trip, give up after these. A server
    # that stopped answering without closing its connections (a frozen host, a partition that drops
    # packets, a failover that leaves the old address silent) would otherwise hold every caller forever.
    connect_timeout_s: float = 10.0
    statement_timeout_s: float | None = 30.0  # None: none (schema migrations)


class DatabaseUnavailable(Exception):
    """The metadata database cannot be reached or refused the operation."""


# What a failed database call may raise. mirror/ catches this tuple, never SQLAlchemy's own classes:
# SQLAlchemy stops at storage/.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, SQLAlchemyError)


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, *, settings: EngineSettings | None = None, echo: bool = False) -> None:
        self.url = url
        self.settings = settings or EngineSettings()
        self.engine: AsyncEngine = _create_engine(url, self.settings, echo=echo)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def ping(self) -> None:
        """One round trip (`SELECT 1`). Raises OSError or one of DATABASE_ERRORS."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _create_engine(url: str, settings: EngineSettings, *, echo: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=settings.size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.timeout_s,
        pool_recycle=settings.recycle_s,
        pool_pre_ping=True,
        # asyncpg's own bounds (it waits forever for an answer by default); a statement that times out
        # raises TimeoutError, which callers see as the database being unavailable.
        connect_args={"timeout": settings.connect_timeout_s, "command_timeout": settings.statement_timeout_s},
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
