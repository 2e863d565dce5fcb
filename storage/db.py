"""The metadata database: an async SQLAlchemy engine for SQLite (default) or PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


@dataclass(frozen=True, slots=True)
class PoolSettings:
    size: int = 10
    max_overflow: int = 10
    timeout_s: float = 10.0
    recycle_s: int = 1800


class DatabaseUnavailable(Exception):
    """The metadata database cannot be reached or refused the operation."""


# What a failed database call may raise. mirror/ catches this tuple, never SQLAlchemy's own classes:
# SQLAlchemy stops at storage/.
DATABASE_ERRORS: tuple[type[Exception], ...] = (DatabaseUnavailable, SQLAlchemyError)


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, url: str, *, pool: PoolSettings | None = None, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = _create_engine(url, pool or PoolSettings(), echo=echo)
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


def _create_engine(url: str, pool: PoolSettings, *, echo: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
        pool_recycle=pool.recycle_s,
        pool_pre_ping=True,
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
