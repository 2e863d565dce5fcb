from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import migrate
from storage.db import Database
from storage.filesystem import FilesystemObjectStore
from storage.objects import ObjectStore
from storage.repository import MetadataRepository
from storage.s3 import S3ObjectStore
from storage.s3_settings import MiB
from tests.pg import PostgresServer
from tests.storage.seaweed import SeaweedS3


@pytest.fixture(params=["filesystem", "s3"])
async def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Every ObjectStore backend the contract suite runs against."""
    if request.param == "filesystem":
        yield FilesystemObjectStore(tmp_path / "objects")
    elif request.param == "s3":
        # Requested lazily so that running only the filesystem cases never starts SeaweedFS.
        server: SeaweedS3 = request.getfixturevalue("seaweedfs")
        # Objects from 1 MiB go up as multipart (one 5 MiB part at most), smaller ones in one PutObject.
        settings = server.settings(server.new_bucket(), multipart_threshold=MiB, part_size=5 * MiB)
        store = S3ObjectStore(settings)
        yield store
        await store.close()
    else:  # pragma: no cover - new backends are added to params above
        pytest.fail(f"unknown backend {request.param}")


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same migrations and queries on SQLite (embedded default) and PostgreSQL (production)."""
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        db = Database(server.url(server.create_database()))
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await migrate.upgrade(db)
    yield db
    await db.close()


@pytest.fixture
def repository(database: Database) -> MetadataRepository:
    return MetadataRepository(database)
