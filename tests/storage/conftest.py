from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import migrate
from storage.db import Database
from storage.filesystem import FilesystemObjectStore
from storage.objects import ObjectStore
from storage.repository import MetadataRepository


@pytest.fixture(params=["filesystem"])
async def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Every ObjectStore backend the contract suite runs against."""
    if request.param == "filesystem":
        yield FilesystemObjectStore(tmp_path / "objects")
    else:  # pragma: no cover - new backends are added to params above
        pytest.fail(f"unknown backend {request.param}")


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await migrate.upgrade(db)
    yield db
    await db.close()


@pytest.fixture
def repository(database: Database) -> MetadataRepository:
    return MetadataRepository(database)
