"""Stream upstream bytes to a spool file while computing the digests the Hub publishes for them.

Only what can be checked is computed: sha256 always (it names the stored object, and is the digest the
Hub publishes for an LFS file), the git blob sha1 only when asked (the Hub's digest for a file kept in git
itself; for an LFS file the git id is its pointer's, so hashing the content with sha1 proves nothing).

The chunks the network delivered are gathered, uncopied, into blocks of a few MiB. One trip to a worker
thread per block writes it (straight from those chunks) and hashes it; both release the GIL, so the event
loop reads the next block meanwhile. One trip per block, not one per chunk or per hash: a hand-over costs
more than hashing a small chunk. The first blocks are small, so that the first bytes are on disk (for a
reader streaming the file as it grows) within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mirror.errors import IntegrityError

_FIRST_BLOCK = 64 << 10
_BLOCK = 8 << 20
# Writes of at most 64 KiB. Linux sizes the page-cache folios of a buffered write after the write, and a
# large folio needs a high-order free block of memory; on a VM that hands free memory back to its host
# (virtio-balloon free page reporting, e.g. Firecracker) such blocks are the reported ones, and every
# page of them is faulted back in from the host while the write copies into it. On the 2-core bench VM,
# 1 GiB written in 4 MiB pieces cost 7-9 CPU seconds in the kernel's copy, in 64 KiB pieces 0.2 s.
_WRITE = 64 << 10


@dataclass(frozen=True, slots=True)
class Digests:
    sha256: str
    git_sha1: str | None  # None when it was not asked for (LFS files: the Hub publishes their sha256)
    size: int


class Spool:
    """A temporary file under the spool directory; remove() it when done, whatever happened."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"{uuid.uuid4().hex}.spool"

    async def fill(
        self,
        stream: AsyncIterable[bytes],
        *,
        expected_size: int,
        git_sha1: bool,
        on_progress: Callable[[int], None] | None = None,
    ) -> Digests:
        """Write `stream` to the spool file and hash it. Raises IntegrityError past `expected_size`.

        `git_sha1`: also compute the git blob sha1 (for files the Hub describes by their git id).
        `on_progress(n)` is called whenever the first n bytes are on disk (readable by other handles).
        """
        loop = asyncio.get_running_loop()
        handle = await loop.run_in_executor(None, _open_for_write, self.path)
        hashers = _Hashers(expected_size, git_sha1=git_sha1)
        writer = _BlockWriter(loop, handle, hashers, on_progress=on_progress)
        size = 0
        block: list[bytes] = []
        block_len = 0
        target = _FIRST_BLOCK
        try:
            async for chunk in stream:
                size += len(chunk)
                if size > expected_size:
                    msg = f"upstream sent more than the {expected_size} bytes the Hub's metadata announced"
                    raise IntegrityError(msg)
                block.append(chunk)
                block_len += len(chunk)
                if block_len >= target:
                    await writer.submit(block, block_len)
                    block, block_len = [], 0
                    target = min(_BLOCK, target * 4)
            await writer.submit(block, block_len)
            await writer.finish()
        finally:
            await writer.abandon()
            await loop.run_in_executor(None, handle.close)
        return hashers.digests(size)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _open_for_write(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unbuffered: what a block's write returns is on disk for readers streaming the file as it grows.
    return path.open("xb", buffering=0)


class _Hashers:
    def __init__(self, expected_size: int, *, git_sha1: bool) -> None:
        self._sha256 = hashlib.sha256()
        # The git blob header needs the length up front; a different real length fails the size check anyway.
        self._git_sha1 = (
            hashlib.sha1(b"blob %d\x00" % expected_size, usedforsecurity=False) if git_sha1 else None
        )

    def update(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self._sha256.update(chunk)
            if self._git_sha1 is not None:
                self._git_sha1.update(chunk)

    def digests(self, size: int) -> Digests:
        git_sha1 = self._git_sha1.hexdigest() if self._git_sha1 is not None else None
        return Digests(sha256=self._sha256.hexdigest(), git_sha1=git_sha1, size=size)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write every chunk, in order, in pieces of at most _WRITE bytes."""
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            written = os.write(fd, view[:_WRITE])
            view = view[written:]


class _BlockWriter:
    """Writes and hashes one block in a worker thread while the caller gathers the next."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handle: BinaryIO,
        hashers: _Hashers,
        *,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self._loop = loop
        self._fd = handle.fileno()
        self._hashers = hashers
        self._on_progress = on_progress
        self._written = 0  # bytes of finished blocks
        self._pending_len = 0
        self._pending: asyncio.Future[None] | None = None

    async def submit(self, chunks: list[bytes], length: int) -> None:
        await self.finish()
        if length:
            self._pending_len = length
            self._pending = self._loop.run_in_executor(None, self._write_and_hash, chunks)

    def _write_and_hash(self, chunks: list[bytes]) -> None:
        _write_all(self._fd, chunks)
        self._hashers.update(chunks)

    async def finish(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending
            self._written += self._pending_len
            self._pending_len = 0
            if self._on_progress is not None:
                self._on_progress(self._written)

    async def abandon(self) -> None:
        """Let in-flight thread work end before the file is closed (after an error)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)
