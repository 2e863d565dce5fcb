"""The download log never drops a record silently: a full queue makes the caller wait for room, and a
record that still finds none is counted (metric) and audited. Tiny queues, a real SQLite database, and a
real write failure (a trigger) for the outage."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from mirror.inventory.downloads import DownloadLog
from mirror.inventory.recorder import InventoryRecorder
from mirror.metrics import Metrics
from mirror.policy.engine import PolicyEngine
from mirror.policy.file import load_policy
from storage import migrate
from storage.audit_trail import AuditTrail
from storage.db import Database
from storage.download_records import DownloadRecords
from storage.inventory_store import InventoryStore
from storage.records import DownloadEvent
from storage.retention import RetentionStore

LOST = "hubgate_download_records_lost_total"


def _event(path: str) -> DownloadEvent:
    return DownloadEvent(
        blob_sha256="e" * 64,
        repo_type="model",
        repo_id="acme/model",
        commit="c" * 40,
        path=path,
        identity="anonymous",
        client="pytest",
        state="APPROVED",
        range_start=0,
        bytes=0,
    )


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await migrate.upgrade(db)
    yield db
    await db.close()


def _log(database: Database, metrics: Metrics, *, max_queue: int, wait_s: float) -> DownloadLog:
    return DownloadLog(
        DownloadRecords(database),
        AuditTrail(database),
        RetentionStore(database),
        InventoryRecorder(InventoryStore(database), PolicyEngine(load_policy(None)).licences),
        max_queue=max_queue,
        wait_s=wait_s,
        lost=metrics.download_records_lost.inc,
    )


async def _paths(database: Database) -> list[str]:
    rows = await DownloadRecords(database).downloads(limit=100)
    return [event.path for _, event in rows]


async def test_a_full_log_makes_the_caller_wait_for_room(database: Database) -> None:
    metrics = Metrics()
    log = _log(database, metrics, max_queue=2, wait_s=10.0)
    await log.record(_event("a"))
    await log.record(_event("b"))
    waiting = asyncio.ensure_future(log.record(_event("c")))
    await asyncio.sleep(0.1)
    assert not waiting.done(), "the third record must wait for room, not be dropped"
    await log.flush()  # the writer makes room
    await asyncio.wait_for(waiting, timeout=5)
    await log.flush()
    assert sorted(await _paths(database)) == ["a", "b", "c"]
    assert metrics.registry.get_sample_value(LOST) == 0


async def test_a_record_that_finds_no_room_is_counted_and_audited(database: Database) -> None:
    metrics = Metrics()
    log = _log(database, metrics, max_queue=2, wait_s=0.05)
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE TRIGGER outage BEFORE INSERT ON downloads BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    await log.record(_event("a"))
    await log.record(_event("b"))
    await log.flush()  # fails: the batch is held aside, not lost
    await log.record(_event("c"))
    await log.record(_event("d"))
    await log.record(_event("e"))  # the queue is full and nothing drains it: lost
    assert metrics.registry.get_sample_value(LOST) == 1
    assert log.unreported_losses == 1
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER outage"))
    await log.flush()
    assert sorted(await _paths(database)) == ["a", "b", "c", "d"]
    events = await AuditTrail(database).audit_events()
    [lost] = [event for event in events if event.action == "download-records-lost"]
    assert lost.reason.startswith("1 download records could not be kept")
    assert log.unreported_losses == 0


async def test_closing_lets_a_write_in_progress_finish(database: Database, tmp_path: Path) -> None:
    """hubgate stopping while the log writes: the write finishes and its records are kept (cancelled, it
    lost the records it had taken, and could keep SQLite's write lock while the last write waited)."""
    log = _log(database, Metrics(), max_queue=10, wait_s=1.0)
    other_writer = sqlite3.connect(tmp_path / "meta.db", timeout=0)
    other_writer.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock: the log's write waits for it
    try:
        log.start()
        await log.record(_event("in-flight"))
        for _ in range(1000):
            if log.queued == 0:  # the periodic write took it and waits for the lock
                break
            await asyncio.sleep(0.01)
        assert log.queued == 0
        closing = asyncio.ensure_future(log.close())
        await asyncio.sleep(0.3)
        assert not closing.done(), "close waits for the write in progress"
    finally:
        other_writer.rollback()
        other_writer.close()
    await asyncio.wait_for(closing, timeout=10)
    assert await _paths(database) == ["in-flight"]
