"""The download log's rows: who got which file, when, in what state (written in batches by
mirror.inventory.downloads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.queries import Queries, aware, utcnow
from storage.records import DownloadEvent
from storage.tables import DownloadRow


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
