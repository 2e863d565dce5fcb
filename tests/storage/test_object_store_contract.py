"""The ObjectStore contract, run against every backend."""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.objects import GrowingFile, LocalObjects, ObjectDiscarded, ObjectMissing, ObjectStore
from storage.s3 import S3ObjectStore


def _blob(tmp_path: Path, size: int, name: str = "spool") -> tuple[Path, str]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def _read(store: ObjectStore, key: str, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in store.open_range(key, start, end)])


async def test_put_then_read_whole_and_ranges(object_store: ObjectStore, tmp_path: Path) -> None:
    source, key = _blob(tmp_path, 3 * (1 << 20) + 17)
    data = source.read_bytes()
    await object_store.put(key, source, size=len(data))
    info = await object_store.stat(key)
    assert info is not None
    assert info.size == len(data)
    assert await _read(object_store, key, 0, len(data)) == data
    assert await _read(object_store, key, 5, 6) == data[5:6]
    assert await _read(object_store, key, len(data) - 100, len(data)) == data[-100:]
    assert source.exists(), "put leaves the caller's spool file in place"


async def test_a_growing_file_is_stored_only_once_published(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    source, key = _blob(tmp_path, 3 * (1 << 20) + 5)
    data = source.read_bytes()
    growing = GrowingFile()
    put = asyncio.create_task(object_store.put(key, source, size=len(data), growing=growing))
    growing.grew(len(data))
    await asyncio.sleep(0.3)  # time to publish early, if it wrongly would
    assert await object_store.stat(key) is None
    assert not put.done()

    growing.publish()
    await put

    assert await _read(object_store, key, 0, len(data)) == data


async def test_a_discarded_growing_file_is_not_stored(object_store: ObjectStore, tmp_path: Path) -> None:
    source, key = _blob(tmp_path, 3 * (1 << 20) + 5)
    growing = GrowingFile()
    put = asyncio.create_task(object_store.put(key, source, size=source.stat().st_size, growing=growing))
    growing.grew(1 << 20)
    await asyncio.sleep(0.1)

    growing.discard()

    with pytest.raises(ObjectDiscarded):
        await put
    assert await object_store.stat(key) is None
    assert [info.key async for info in object_store.iter_keys()] == []


async def test_put_is_idempotent_and_keys_are_listed(object_store: ObjectStore, tmp_path: Path) -> None:
    source, key = _blob(tmp_path, 1000)
    await object_store.put(key, source, size=1000)
    await object_store.put(key, source, size=1000)
    keys = [info.key async for info in object_store.iter_keys()]
    assert keys == [key]


async def test_absent_objects(object_store: ObjectStore) -> None:
    key = "0" * 64
    assert await object_store.stat(key) is None
    with pytest.raises(ObjectMissing):
        await _read(object_store, key, 0, 1)
    await object_store.delete(key)  # deleting an absent key is a no-op


async def test_delete_removes(object_store: ObjectStore, tmp_path: Path) -> None:
    source, key = _blob(tmp_path, 10)
    await object_store.put(key, source, size=10)
    await object_store.delete(key)
    assert await object_store.stat(key) is None


async def test_concurrent_puts_of_one_key_leave_one_whole_object(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    source, key = _blob(tmp_path, 2 << 20)
    await asyncio.gather(*(object_store.put(key, source, size=2 << 20) for _ in range(8)))
    assert await _read(object_store, key, 0, 2 << 20) == source.read_bytes()


async def test_keys_must_be_sha256(object_store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="sha256"):
        await object_store.stat("../../etc/passwd")


async def test_store_is_ready(object_store: ObjectStore) -> None:
    await object_store.check()


async def test_listing_tells_when_objects_were_written(object_store: ObjectStore, tmp_path: Path) -> None:
    source, key = _blob(tmp_path, 10)
    before = datetime.now(UTC) - timedelta(minutes=5)
    await object_store.put(key, source, size=10)
    [info] = [info async for info in object_store.iter_keys()]
    assert info.modified_at is not None
    assert info.modified_at > before


async def test_documents_live_beside_the_blobs_and_never_among_them(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    source, key = _blob(tmp_path, 100)
    await object_store.put(key, source, size=100)
    assert await object_store.list_documents("audit/checkpoints/") == []
    assert await object_store.get_document("audit/checkpoints/000000000002.json") is None
    await object_store.put_document("audit/checkpoints/000000000010.json", b'{"n": 10}')
    await object_store.put_document("audit/checkpoints/000000000002.json", b'{"n": 2}')
    await object_store.put_document("audit/other/000000000001.json", b"{}")
    assert await object_store.list_documents("audit/checkpoints/") == [
        "audit/checkpoints/000000000002.json",
        "audit/checkpoints/000000000010.json",
    ]
    assert await object_store.get_document("audit/checkpoints/000000000010.json") == b'{"n": 10}'
    await object_store.put_document("audit/checkpoints/000000000010.json", b'{"n": "again"}')
    assert await object_store.get_document("audit/checkpoints/000000000010.json") == b'{"n": "again"}'
    # Garbage collection walks the blob listing: documents must never show up there.
    assert [info.key async for info in object_store.iter_keys()] == [key]


@pytest.mark.parametrize(
    "name", ["ab/cd/x.json", "audit/../../etc/passwd.json", "/audit/x.json", "audit/x.txt", "a" * 64, ""]
)
async def test_document_names_cannot_escape_or_collide_with_blobs(
    object_store: ObjectStore, name: str
) -> None:
    with pytest.raises(ValueError, match="document names"):
        await object_store.put_document(name, b"{}")
    with pytest.raises(ValueError, match="document names"):
        await object_store.get_document(name)


async def test_local_objects_open_as_files_that_outlive_a_delete(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    """A store of local files hands out open handles (served with sendfile); S3 is not one."""
    if not isinstance(object_store, LocalObjects):
        assert isinstance(object_store, S3ObjectStore)
        return
    source, key = _blob(tmp_path, (1 << 20) + 3)
    await object_store.put(key, source, size=(1 << 20) + 3)
    handle = await object_store.open_local(key)
    try:
        await object_store.delete(key)  # eviction while a client is being served
        assert handle.read() == source.read_bytes()
    finally:
        handle.close()
    with pytest.raises(ObjectMissing):
        await object_store.open_local(key)
