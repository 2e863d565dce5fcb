"""The download log's rows: who got which file, when, in what state (written in batches by
mirror.inventory.downloads)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from storage.db import Database
from storage.inventory_store import SERVED_STATE
from storage.queries import Queries, aware, utcnow
from storage.records import DownloadEvent, RepoKey
from storage.tables import DownloadRow


@dataclass(frozen=True, slots=True)
class DailyTally:
    """Files of one revision sent to one identity on one UTC day."""

    repo: RepoKey
    commit: str
    day: date
    identity: str
    downloads: int
    bytes: int


class DownloadRecords:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    def _session(self) -> Any:
        return self._q.session()

    async def record_downloads(self, events: Sequence[DownloadEvent]) -> None:
        if not events:
            return
        async with self._session() as session, session.begin():
            session.add_all(
                DownloadRow(
                    at=event.at or utcnow(),
                    blob_sha256=event.blob_sha256,
                    repo_type=event.repo_type,
                    repo_id=event.repo_id,
                    commit=event.commit,
                    path=event.path,
                    identity=event.identity,
                    client=event.client[:200],
                    state=event.state,
                    range_start=event.range_start,
                    bytes=event.bytes,
                )
                for event in events
            )

    async def downloads(
        self,
        *,
        blob_sha256: str | None = None,
        repo_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[tuple[int, DownloadEvent]]:
        async with self._session() as session:
            query = select(DownloadRow).where(DownloadRow.id > after_id)
            if blob_sha256:
                query = query.where(DownloadRow.blob_sha256 == blob_sha256)
            if repo_id:
                query = query.where(DownloadRow.repo_id == repo_id)
            rows = await session.scalars(query.order_by(DownloadRow.id).limit(limit))
            return [
                (
                    row.id,
                    DownloadEvent(
                        blob_sha256=row.blob_sha256,
                        repo_type=row.repo_type,
                        repo_id=row.repo_id,
                        commit=row.commit,
                        path=row.path,
                        identity=row.identity,
                        client=row.client,
                        state=row.state,
                        range_start=row.range_start,
                        bytes=row.bytes,
                        at=aware(row.at),
                    ),
                )
                for row in rows
            ]

    async def daily_tallies(self, *, since: datetime) -> list[DailyTally]:
        """Served downloads since `since`, counted per UTC day, revision and identity (for time series).

        Grouped in the database, so the answer grows with days x revisions x identities, not downloads."""
        row = DownloadRow
        if self._q.database.engine.dialect.name == "postgresql":
            day = func.to_char(func.timezone("UTC", row.at), "YYYY-MM-DD")
        else:  # SQLite keeps UTC times as text
            day = func.strftime("%Y-%m-%d", row.at)
        query = (
            select(
                row.repo_type,
                row.repo_id,
                row.commit,
                day,
                row.identity,
                func.count(),
                func.coalesce(func.sum(row.bytes), 0),
            )
            .where(row.state == SERVED_STATE, row.at >= since)
            .group_by(row.repo_type, row.repo_id, row.commit, day, row.identity)
        )
        async with self._session() as session:
            rows = (await session.execute(query)).all()
        return [
            DailyTally(
                repo=RepoKey(repo_type=repo_type, repo_id=repo_id),
                commit=commit,
                day=date.fromisoformat(str(on)),
                identity=identity,
                downloads=int(count),
                bytes=int(sent),
            )
            for repo_type, repo_id, commit, on, identity, count, sent in rows
        ]
