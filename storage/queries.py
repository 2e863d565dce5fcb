"""What every query module needs, in one public place: sessions that report an outage as
DatabaseUnavailable, dialect-aware upserts, repository keys, and UTC times.

Each store (reviews, audit, downloads, tokens, pins, leases, inventory, ...) builds its own `Queries` over
the shared Database; none reaches into another store's session or private helpers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, DatabaseUnavailable
from storage.records import BlobRecord, RepoKey
from storage.tables import BlobRow, RepoRow


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes even for timezone-aware columns; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Queries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def session(self) -> GuardedSession:
        """`async with queries.session() as session:` (add `session.begin()` for a transaction)."""
        return GuardedSession(self.database)

    def insert(self, table: Any) -> Any:
        """An INSERT that supports `on_conflict_do_*` on PostgreSQL and SQLite alike."""
        dialect = postgresql if self.database.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def blob_upsert(self, blob: BlobRecord, now: datetime) -> Any:
        """Insert a blob row; a row already there keeps its times and gains the git blob sha1 if it had none.

        Content first fetched as an LFS file is stored without its git sha1 (never computed); when the
        same bytes are later fetched as a file kept in git, the sha1 they were checked against is filled
        in, so that the next request for that file finds the stored blob by its git id.
        """
        stmt = self.insert(BlobRow).values(
            sha256=blob.sha256, size=blob.size, git_sha1=blob.git_sha1, stored_at=now, last_access_at=now
        )
        filled = func.coalesce(BlobRow.git_sha1, stmt.excluded.git_sha1)
        return stmt.on_conflict_do_update(index_elements=["sha256"], set_={"git_sha1": filled})

    async def repo_pk(self, session: AsyncSession, repo: RepoKey) -> int:
        """The repository's row id, creating the row on first sight (race-free across replicas)."""
        await session.execute(
            self.insert(RepoRow)
            .values(repo_type=repo.repo_type, repo_id=repo.repo_id)
            .on_conflict_do_nothing(index_elements=["repo_type", "repo_id"])
        )
        pk = await self.find_repo_pk(session, repo)
        if pk is None:  # pragma: no cover - the insert above guarantees a row
            msg = f"repository row for {repo} vanished"
            raise DatabaseUnavailable(msg)
        return pk

    @staticmethod
    async def find_repo_pk(session: AsyncSession, repo: RepoKey) -> int | None:
        return await session.scalar(
            select(RepoRow.id).where(RepoRow.repo_type == repo.repo_type, RepoRow.repo_id == repo.repo_id)
        )


class GuardedSession:
    """A session whose connection failures surface as DatabaseUnavailable."""

    def __init__(self, database: Database) -> None:
        self._session = database.sessions()

    async def __aenter__(self) -> AsyncSession:
        return self._session

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        await self._session.close()
        # Connection trouble means "unavailable"; constraint violations and the like are bugs and propagate.
        if isinstance(exc, OperationalError | InterfaceError | OSError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        ):
            msg = f"metadata database unavailable: {type(exc).__name__}"
            raise DatabaseUnavailable(msg) from exc
