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


@pytest.mark.parametrize("length", [0, 1, 65536, (4 << 20) + 3, (9 << 20) + 1])
async def test_spool_hashes_what_it_writes(tmp_path: Path, length: int) -> None:
    data = os.urandom(length)
    spool = Spool(tmp_path)
    digests = await spool.fill(_chunks(data, 65536), expected_size=length)
    assert spool.path.read_bytes() == data
    assert digests.size == length
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    git = hashlib.sha1(b"blob %d\x00" % length + data, usedforsecurity=False).hexdigest()
    assert digests.git_sha1 == git
    spool.remove()
    assert not spool.path.exists()


async def test_spool_stops_past_the_announced_size(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(IntegrityError, match="more than"):
        await spool.fill(_chunks(os.urandom(1000), 100), expected_size=999)
    spool.remove()
    assert list(tmp_path.iterdir()) == []
