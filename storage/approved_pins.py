"""Queries for approved-revision pinning: which repos are pinned, and each ref's newest approved commit."""

from __future__ import annotations

from sqlalchemy import delete, select

from storage.db import Database
from storage.queries import Queries, utcnow
from storage.records import RepoKey
from storage.tables import ApprovedPinRow, ApprovedRefRow, RefRow


class ApprovedPinStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    async def pin(self, repo: RepoKey, *, by: str) -> None:
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            stmt = self._q.insert(ApprovedPinRow).values(repo_pk=pk, pinned_by=by, pinned_at=utcnow())
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["repo_pk"]))

    async def unpin(self, repo: RepoKey) -> bool:
        """Stop pinning the repo; its remembered approved commits go too (a later pin starts afresh)."""
        async with self._q.session() as session, session.begin():
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return False
            await session.execute(delete(ApprovedRefRow).where(ApprovedRefRow.repo_pk == pk))
            result = await session.execute(delete(ApprovedPinRow).where(ApprovedPinRow.repo_pk == pk))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def is_pinned(self, repo: RepoKey) -> bool:
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return False
            return await session.get(ApprovedPinRow, pk) is not None

    async def approved_commit(self, repo: RepoKey, ref: str) -> str | None:
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return None
            row = await session.get(ApprovedRefRow, (pk, ref))
            return None if row is None else row.commit

    async def record_approved(self, repo: RepoKey, ref: str, commit: str) -> bool:
        """Make `commit` the ref's approved commit, unless that would step back: when another commit is
        already recorded, only upstream's current commit of the ref may replace it. Returns whether
        the record now names `commit`."""
        now = utcnow()
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            current = await session.get(ApprovedRefRow, (pk, ref))
            if current is not None:
                if current.commit == commit:
                    return True
                upstream = await session.scalar(
                    select(RefRow.commit).where(RefRow.repo_pk == pk, RefRow.name == ref)
                )
                if upstream != commit:
                    return False
                current.commit, current.approved_at = commit, now
                return True
            stmt = self._q.insert(ApprovedRefRow).values(repo_pk=pk, name=ref, commit=commit, approved_at=now)
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["repo_pk", "name"]))
            return True
