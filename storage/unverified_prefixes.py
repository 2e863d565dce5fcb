"""Unverified prefixes, shared by every replica: how many leading bytes of a blob readers of a live
download were given before that download failed. A client may hold them in a partial file and resume on
any replica; each replica reads this before it answers a Range request (mirror/blobs/pipeline.py)."""

from __future__ import annotations

from sqlalchemy import case, select

from storage.db import Database
from storage.queries import Queries, utcnow
from storage.tables import UnverifiedPrefixRow


class UnverifiedPrefixStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    async def record(self, blob_key: str, handed_out: int) -> None:
        """Remember that `handed_out` leading bytes of the blob went out unverified (keeping the longest)."""
        now = utcnow()
        stmt = self._q.insert(UnverifiedPrefixRow).values(
            blob_key=blob_key, handed_out=handed_out, recorded_at=now
        )
        longer = stmt.excluded.handed_out > UnverifiedPrefixRow.handed_out
        stmt = stmt.on_conflict_do_update(
            index_elements=["blob_key"],
            set_={
                "handed_out": case((longer, stmt.excluded.handed_out), else_=UnverifiedPrefixRow.handed_out),
                "recorded_at": now,
            },
        )
        async with self._q.session() as session, session.begin():
            await session.execute(stmt)

    async def handed_out(self, blob_key: str) -> int:
        """The longest unverified prefix of the blob any replica handed out; 0 if none."""
        async with self._q.session() as session:
            found = await session.scalar(
                select(UnverifiedPrefixRow.handed_out).where(UnverifiedPrefixRow.blob_key == blob_key)
            )
        return int(found or 0)
