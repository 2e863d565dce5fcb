"""Queries over repositories, refs, file entries, metadata documents, blobs and aliases. Every method is
one short transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from storage.db import Database
from storage.queries import Queries, aware, utcnow
from storage.records import BlobRecord, FileEntry, MetadataDoc, RefRecord, RepoFlags, RepoKey
from storage.tables import BlobRow, FileEntryRow, MetadataDocRow, RefRow, RepoAliasRow, RepoRow


class MetadataRepository:
    """Queries over the metadata database."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._q = Queries(database)

    # -- repositories and refs ---------------------------------------------------------------------

    async def repo_flags(self, repo: RepoKey) -> RepoFlags | None:
        async with self._q.session() as session:
            row = await session.scalar(
                select(RepoRow).where(RepoRow.repo_type == repo.repo_type, RepoRow.repo_id == repo.repo_id)
            )
            if row is None or row.flags_checked_at is None:
                return None
            return RepoFlags(private=row.private, gated=row.gated, checked_at=aware(row.flags_checked_at))

    async def save_repo_flags(self, repo: RepoKey, *, private: bool, gated: str) -> None:
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            await session.execute(
                update(RepoRow)
                .where(RepoRow.id == pk)
                .values(private=private, gated=gated, flags_checked_at=utcnow())
            )

    async def get_ref(self, repo: RepoKey, name: str) -> RefRecord | None:
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return None
            row = await session.get(RefRow, (pk, name))
            return None if row is None else RefRecord(commit=row.commit, resolved_at=aware(row.resolved_at))

    async def save_ref(self, repo: RepoKey, name: str, commit: str) -> None:
        now = utcnow()
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            stmt = self._q.insert(RefRow).values(repo_pk=pk, name=name, commit=commit, resolved_at=now)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["repo_pk", "name"], set_={"commit": commit, "resolved_at": now}
                )
            )

    # -- aliases: what a spelling of a repository id names ---------------------------------------------

    async def canonical_id(self, repo_type: str, alias: str) -> tuple[str, datetime] | None:
        """(canonical id, when the Hub last confirmed it) for a casefolded spelling, or None."""
        async with self._q.session() as session:
            row = await session.get(RepoAliasRow, (repo_type, alias))
            return None if row is None else (row.canonical_id, aware(row.seen_at))

    async def save_alias(self, repo_type: str, alias: str, canonical_id: str) -> None:
        now = utcnow()
        async with self._q.session() as session, session.begin():
            stmt = self._q.insert(RepoAliasRow).values(
                repo_type=repo_type, alias=alias, canonical_id=canonical_id, seen_at=now
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["repo_type", "alias"], set_={"canonical_id": canonical_id, "seen_at": now}
                )
            )

    # -- where a blob appears --------------------------------------------------------------------------

    async def paths_of_blob(self, sha256: str, *, limit: int = 200) -> list[tuple[RepoKey, str, str]]:
        """(repo, commit, path) of every file entry hubgate has seen with this content, oldest first."""
        git_sha1 = select(BlobRow.git_sha1).where(BlobRow.sha256 == sha256).scalar_subquery()
        query = (
            select(RepoRow.repo_type, RepoRow.repo_id, FileEntryRow.commit, FileEntryRow.path)
            .join(RepoRow, RepoRow.id == FileEntryRow.repo_pk)
            .where(
                (FileEntryRow.lfs_sha256 == sha256)
                | (FileEntryRow.lfs_sha256.is_(None) & (FileEntryRow.git_oid == git_sha1))
            )
            .order_by(RepoRow.repo_id, FileEntryRow.commit, FileEntryRow.path)
            .limit(limit)
        )
        async with self._q.session() as session:
            rows = (await session.execute(query)).all()
        return [(RepoKey(repo_type=t, repo_id=r), commit, path) for t, r, commit, path in rows]

    # -- file entries ----------------------------------------------------------------------------------

    async def get_file_entry(self, repo: RepoKey, commit: str, path: str) -> FileEntry | None:
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return None
            row = await session.get(FileEntryRow, (pk, commit, path))
            if row is None:
                return None
            return FileEntry(
                path=row.path,
                size=row.size,
                git_oid=row.git_oid,
                lfs_sha256=row.lfs_sha256,
                lfs_pointer_size=row.lfs_pointer_size,
            )

    async def save_file_entries(self, repo: RepoKey, commit: str, entries: Sequence[FileEntry]) -> None:
        if not entries:
            return
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            values = [
                {
                    "repo_pk": pk,
                    "commit": commit,
                    "path": entry.path,
                    "size": entry.size,
                    "git_oid": entry.git_oid,
                    "lfs_sha256": entry.lfs_sha256,
                    "lfs_pointer_size": entry.lfs_pointer_size,
                }
                for entry in entries
            ]
            # Entries at a commit never change, so a row we already hold is kept as it is.
            for start in range(0, len(values), 500):
                stmt = self._q.insert(FileEntryRow).values(values[start : start + 500])
                await session.execute(
                    stmt.on_conflict_do_nothing(index_elements=["repo_pk", "commit", "path"])
                )

    # -- blobs -----------------------------------------------------------------------------------------

    async def find_blob(self, entry: FileEntry) -> BlobRecord | None:
        """The stored blob holding `entry`'s content, matched by sha256 (LFS) or git blob sha1."""
        async with self._q.session() as session:
            if entry.lfs_sha256 is not None:
                row = await session.get(BlobRow, entry.lfs_sha256)
            else:
                row = await session.scalar(select(BlobRow).where(BlobRow.git_sha1 == entry.git_oid))
            if row is None:
                return None
            return BlobRecord(sha256=row.sha256, size=row.size, git_sha1=row.git_sha1)

    async def record_blob(self, blob: BlobRecord) -> None:
        now = utcnow()
        async with self._q.session() as session, session.begin():
            await session.execute(self._q.blob_upsert(blob, now))

    async def forget_blob(self, sha256: str) -> None:
        """Drop a blob row whose object is gone from the store, so that it is fetched again."""
        async with self._q.session() as session, session.begin():
            row = await session.get(BlobRow, sha256)
            if row is not None:
                await session.delete(row)

    # -- metadata documents ------------------------------------------------------------------------------

    async def get_doc(self, key: str) -> MetadataDoc | None:
        async with self._q.session() as session:
            row = await session.get(MetadataDocRow, key)
            if row is None:
                return None
            return MetadataDoc(body=row.body, next_cursor=row.next_cursor, fetched_at=aware(row.fetched_at))

    async def save_doc(
        self, key: str, *, repo: RepoKey, kind: str, body: bytes, next_cursor: str | None
    ) -> None:
        now = utcnow()
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            stmt = self._q.insert(MetadataDocRow).values(
                key=key, repo_pk=pk, kind=kind, body=body, next_cursor=next_cursor, fetched_at=now
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["key"], set_={"body": body, "next_cursor": next_cursor, "fetched_at": now}
                )
            )

    # -- plumbing ------------------------------------------------------------------------------------------
