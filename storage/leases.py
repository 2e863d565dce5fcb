"""Fetch leases: across replicas, one holder downloads a blob; the others wait for its row to appear.

A lease expires unless its holder renews it, so a replica that dies mid-fetch blocks the others only
until then.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update

from storage.db import Database
from storage.queries import Queries, utcnow
from storage.tables import FetchLeaseRow


class LeaseStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    async def acquire(self, key: str, holder: str, *, ttl_s: float) -> bool:
        """Take the lease on `key` if it is free, expired or already ours."""
        now = utcnow()
        expires = now + timedelta(seconds=ttl_s)
        async with self._q.session() as session, session.begin():
            stmt = (
                self._q.insert(FetchLeaseRow)
                .values(key=key, holder=holder, expires_at=expires)
                .on_conflict_do_update(
                    index_elements=["key"],
                    set_={"holder": holder, "expires_at": expires},
                    where=(FetchLeaseRow.expires_at < now) | (FetchLeaseRow.holder == holder),
                )
            )
            await session.execute(stmt)
            owner = await session.scalar(select(FetchLeaseRow.holder).where(FetchLeaseRow.key == key))
            return owner == holder

    async def renew(self, key: str, holder: str, *, ttl_s: float) -> bool:
        async with self._q.session() as session, session.begin():
            result = await session.execute(
                update(FetchLeaseRow)
                .where(FetchLeaseRow.key == key, FetchLeaseRow.holder == holder)
                .values(expires_at=utcnow() + timedelta(seconds=ttl_s))
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, key: str, holder: str) -> None:
        async with self._q.session() as session, session.begin():
            await session.execute(
                delete(FetchLeaseRow).where(FetchLeaseRow.key == key, FetchLeaseRow.holder == holder)
            )
