"""Stream upstream bytes to a spool file while computing sha256 and the git blob sha1.

Bytes are gathered into blocks of a few MiB; each block is written and hashed in worker threads
(hashlib and file writes release the GIL) while the event loop already reads the next block, so the
network, the disk and both hashes overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mirror.errors import IntegrityError

_BLOCK = 4 << 20


@dataclass(frozen=True, slots=True)
class Digests:
    sha256: str
    git_sha1: str
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
        on_progress: Callable[[int], None] | None = None,
    ) -> Digests:
        """Write `stream` to the spool file and hash it. Raises IntegrityError past `expected_size`.

        `on_progress(n)` is called whenever the first n bytes are on disk (readable by other handles).
        """
        loop = asyncio.get_running_loop()
        handle = await loop.run_in_executor(None, _open_for_write, self.path)
        writer = _BlockWriter(loop, handle, expected_size=expected_size, on_progress=on_progress)
        size = 0
        block: list[bytes] = []
        block_len = 0
        try:
            async for chunk in stream:
                size += len(chunk)
                if size > expected_size:
                    msg = f"upstream sent more than the {expected_size} bytes the Hub's metadata announced"
                    raise IntegrityError(msg)
                block.append(chunk)
                block_len += len(chunk)
                if block_len >= _BLOCK:
                    await writer.submit(b"".join(block))
                    block, block_len = [], 0
            await writer.submit(b"".join(block))
            await writer.finish()
        finally:
            await writer.abandon()
            await loop.run_in_executor(None, handle.close)
        return writer.digests(size)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _open_for_write(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unbuffered: what a block's write returns is on disk for readers streaming the file as it grows.
    return path.open("xb", buffering=0)


class _BlockWriter:
    """Writes and hashes one block in worker threads while the caller gathers the next."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handle: BinaryIO,
        *,
        expected_size: int,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self._loop = loop
        self._handle = handle
        self._on_progress = on_progress
        self._written = 0  # bytes of finished blocks
        self._pending_len = 0
        self._sha256 = hashlib.sha256()
        # The git blob header needs the length up front; a different real length fails the size check anyway.
        self._git_sha1 = hashlib.sha1(b"blob %d\x00" % expected_size, usedforsecurity=False)
        self._pending: list[asyncio.Future[None]] = []

    async def submit(self, data: bytes) -> None:
        await self.finish()
        if data:
            self._pending_len = len(data)
            # Three threads: the write, sha256 and the git sha1 each run at their own speed in parallel.
            self._pending = [
                self._loop.run_in_executor(None, self._write, data),
                self._loop.run_in_executor(None, self._sha256.update, data),
                self._loop.run_in_executor(None, self._git_sha1.update, data),
            ]

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._handle.write(view)
            view = view[written:]

    async def finish(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
            self._written += self._pending_len
            self._pending_len = 0
            if self._on_progress is not None:
                self._on_progress(self._written)

    async def abandon(self) -> None:
        """Let in-flight thread work end before the file is closed (after an error)."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def digests(self, size: int) -> Digests:
        return Digests(sha256=self._sha256.hexdigest(), git_sha1=self._git_sha1.hexdigest(), size=size)
