"""Random-access views of scanned content.

A :class:`Blob` is a window (offset, size) on a byte source: the scanned file, a temporary file holding
inflated content, or a small in-memory buffer. Archive members that are stored uncompressed become
windows on the parent file, so nothing is copied; readers use ``pread`` and never share a file offset.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from .limits import LimitExceeded, MalformedInput

_READ_BUFFER = 256 * 1024


class ByteSource(Protocol):
    def pread(self, size: int, offset: int) -> bytes: ...

    def close(self) -> None: ...


class FileSource:
    """The file being scanned, opened once; closed by the scan context."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def pread(self, size: int, offset: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        os.close(self._fd)


class TempSource:
    """An anonymous temporary file holding content we had to inflate to read it at random."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the scan context
        self.size = 0

    def append(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def seal(self) -> None:
        self._file.flush()

    def pread(self, size: int, offset: int) -> bytes:
        return os.pread(self._file.fileno(), size, offset)

    def close(self) -> None:
        self._file.close()


class BytesSource:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def pread(self, size: int, offset: int) -> bytes:
        return self._data[offset : offset + size]

    def close(self) -> None:
        """Nothing to release."""


class _WindowReader(io.RawIOBase):
    """A seekable raw stream over ``source[start:start+length]``."""

    def __init__(self, source: ByteSource, start: int, length: int) -> None:
        super().__init__()
        self._source = source
        self._start = start
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        want = min(len(buffer), self._length - self._pos)
        if want <= 0:
            return 0
        data = self._source.pread(want, self._start + self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


@dataclass(frozen=True, slots=True)
class Blob:
    """``size`` bytes of ``source`` from ``offset``; ``label`` names it in findings (member path)."""

    source: ByteSource
    offset: int
    size: int
    label: str

    def open(self) -> BinaryIO:
        return io.BufferedReader(_WindowReader(self.source, self.offset, self.size), _READ_BUFFER)

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer at the end of the blob)."""
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        return self.source.pread(size, self.offset + offset)

    def read_exact(self, offset: int, size: int) -> bytes:
        data = self.read_at(offset, size)
        if len(data) != size:
            raise MalformedInput(f"{self.label}: unexpected end of data at offset {offset}")
        return data

    def head(self, size: int = 4096) -> bytes:
        return self.read_at(0, size)

    def tail(self, size: int) -> bytes:
        start = max(0, self.size - size)
        return self.read_at(start, self.size - start)

    def slice(self, offset: int, size: int, label: str) -> Blob:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise MalformedInput(f"{label}: range {offset}+{size} outside {self.label} ({self.size} bytes)")
        return Blob(self.source, self.offset + offset, size, label)

    def chunks(self, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        for start in range(0, self.size, chunk_size):
            yield self.read_at(start, chunk_size)


def file_blob(source: FileSource, label: str) -> Blob:
    return Blob(source, 0, source.size(), label)


def bytes_blob(data: bytes, label: str) -> Blob:
    return Blob(BytesSource(data), 0, len(data), label)


def spool(chunks: Iterator[bytes], *, label: str, max_bytes: int, sources: list[ByteSource]) -> Blob:
    """Copy an inflating stream into a temporary file so it can be read at random.

    ``sources`` collects the temporary file so the scan context closes it.
    """
    temp = TempSource()
    sources.append(temp)
    for chunk in chunks:
        if temp.size + len(chunk) > max_bytes:
            raise LimitExceeded("max_spool_bytes", f"{label} inflates beyond {max_bytes} bytes")
        temp.append(chunk)
    temp.seal()
    return Blob(temp, 0, temp.size, label)
