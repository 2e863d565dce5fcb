from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mirror.blobs.spool import Spool
from mirror.errors import IntegrityError


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("length", [0, 1, 65536, (4 << 20) + 3, (9 << 20) + 1, (21 << 20) + 7])
async def test_spool_hashes_what_it_writes(tmp_path: Path, length: int) -> None:
    data = os.urandom(length)
    spool = Spool(tmp_path)
    digests = await spool.fill(_chunks(data, 65536), expected_size=length, git_sha1=True)
    assert spool.path.read_bytes() == data
    assert digests.size == length
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.git_sha1 == _git_sha1(data)
    spool.remove()
    assert not spool.path.exists()


async def test_an_lfs_file_is_hashed_with_sha256_alone(tmp_path: Path) -> None:
    """The Hub publishes an LFS file's sha256; its git id is the pointer's, so no sha1 of the content."""
    data = os.urandom((3 << 20) + 5)
    spool = Spool(tmp_path)
    digests = await spool.fill(_chunks(data, 100_000), expected_size=len(data), git_sha1=False)
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.git_sha1 is None
    assert spool.path.read_bytes() == data


async def test_blocks_of_many_small_chunks(tmp_path: Path) -> None:
    # 8 MiB blocks of 1 KiB chunks: thousands of chunks per trip to the worker thread.
    data = os.urandom((17 << 20) + 333)
    spool = Spool(tmp_path)
    seen: list[int] = []
    digests = await spool.fill(
        _chunks(data, 1024), expected_size=len(data), git_sha1=True, on_progress=seen.append
    )
    assert spool.path.read_bytes() == data
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    assert digests.git_sha1 == _git_sha1(data)
    # Progress only grows, reports the whole file last, and the first report comes early (small first
    # blocks: a reader streaming the file gets its first bytes without waiting for a full block).
    assert seen == sorted(seen)
    assert seen[-1] == len(data)
    assert seen[0] <= 1 << 20


async def test_spool_stops_past_the_announced_size(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(IntegrityError, match="more than"):
        await spool.fill(_chunks(os.urandom(1000), 100), expected_size=999, git_sha1=True)
    spool.remove()
    assert list(tmp_path.iterdir()) == []
