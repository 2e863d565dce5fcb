"""Queries for retention: pinned revisions, blob access times, eviction candidates, known blob keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, or_, select, update

from storage.db import Database
from storage.queries import Queries, utcnow
from storage.records import BlobRecord, RepoKey
from storage.tables import BlobRow, FileEntryRow, PinRow


class RetentionStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    async def pin(self, repo: RepoKey, commit: str, *, by: str) -> None:
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            stmt = self._q.insert(PinRow).values(repo_pk=pk, commit=commit, pinned_by=by, pinned_at=utcnow())
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["repo_pk", "commit"]))

    async def unpin(self, repo: RepoKey, commit: str | None) -> int:
        """Remove one pin (or every pin of the repo when `commit` is None); returns how many."""
        async with self._q.session() as session, session.begin():
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return 0
            stmt = delete(PinRow).where(PinRow.repo_pk == pk)
            if commit is not None:
                stmt = stmt.where(PinRow.commit == commit)
            result = await session.execute(stmt)
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def touch(self, sha256s: Sequence[str], at: datetime) -> None:
        """Record that these blobs were just served (the LRU clock)."""
        if not sha256s:
            return
        async with self._q.session() as session, session.begin():
            await session.execute(
                update(BlobRow).where(BlobRow.sha256.in_(sorted(set(sha256s)))).values(last_access_at=at)
            )

    async def total_bytes(self) -> int:
        async with self._q.session() as session:
            return int(await session.scalar(select(func.coalesce(func.sum(BlobRow.size), 0))) or 0)

    async def eviction_candidates(self, limit: int) -> list[BlobRecord]:
        """Blobs no pinned revision contains, least recently served first."""
        pinned = exists().where(
            FileEntryRow.repo_pk == PinRow.repo_pk,
            FileEntryRow.commit == PinRow.commit,
            or_(
                FileEntryRow.lfs_sha256 == BlobRow.sha256,
                and_(FileEntryRow.lfs_sha256.is_(None), FileEntryRow.git_oid == BlobRow.git_sha1),
            ),
        )
        async with self._q.session() as session:
            rows = await session.scalars(
                select(BlobRow).where(~pinned).order_by(BlobRow.last_access_at).limit(limit)
            )
            return [BlobRecord(sha256=row.sha256, size=row.size, git_sha1=row.git_sha1) for row in rows]

    async def blob_keys(self) -> set[str]:
        async with self._q.session() as session:
            return set(await session.scalars(select(BlobRow.sha256)))
