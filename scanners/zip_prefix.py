"""Whether a prefix of a file could be opened as a zip archive: the end records it holds.

zipfile and torch's miniz open an archive from its end-of-central-directory record (the last
`PK\\x05\\x06` within 64 KiB of the end of the file) and read the central directory the record names:
zipfile right before the record (at the record's offset minus the directory's size), miniz at the
record's offset field, both through a zip64 locator (`PK\\x06\\x07`) when one sits right before the
record. A prefix in which no end record names a central directory header (`PK\\x01\\x02`) or a zip64 end
record (`PK\\x06\\x06`) opens as nothing those readers load: an empty archive at most.

A file handed out while it downloads can be cut anywhere. `EndRecordGuard` follows the growing prefix and
finds the first end record that could open a prefix ending after it; everything from there on has to wait
until the whole file is judged. Real tensor data almost never holds such a record by chance: it takes the
four signature bytes and a directory signature at the place the record names.

`SignatureIndex` finds the end records, and the data descriptors a streaming zip reader looks for, in
one pass over the bytes as they arrive.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Callable

ReadAt = Callable[[int, int], bytes]  # (offset, length) -> up to `length` bytes of the file from there

END_RECORD = b"PK\x05\x06"
DATA_DESCRIPTOR = b"PK\x07\x08"
ZIP64_LOCATOR = b"PK\x06\x07"
DIRECTORY_SIGNATURES = (b"PK\x01\x02", b"PK\x06\x06")
_SIGNATURES = re.compile(rb"PK(?:\x05\x06|\x07\x08)")
_SIGNATURE_SIZE = 4
_RECORD_SIZE = 22
_LOCATOR_SIZE = 20
_WINDOW = 4 << 20
# Real tensor data holds about one of each signature per 4 GiB by chance; a file with more than this many
# is built to make the walk work (each one is looked at): the rest of it waits for the whole file.
MAX_SIGNATURES = 200_000

_INERT = -1
_OPENS = -2


class SignatureIndex:
    """Every end record and data descriptor signature in the bytes seen so far, found in one pass."""

    def __init__(self, *, limit: int = MAX_SIGNATURES) -> None:
        self.limit = limit
        self.frontier = 0  # every signature that starts before this is listed below
        self.end_records: list[int] = []
        self.descriptors: list[int] = []
        self.overflowed = False  # the limit was reached at `frontier`: nothing past it is known

    def extend(self, read: ReadAt, available: int) -> None:
        """List the signatures that the first `available` bytes show in full."""
        end = available - _SIGNATURE_SIZE + 1
        while not self.overflowed and self.frontier < end:
            window_end = min(end, self.frontier + _WINDOW)
            data = read(self.frontier, window_end - self.frontier + _SIGNATURE_SIZE - 1)
            for found in _SIGNATURES.finditer(data, 0, len(data)):
                if len(self.end_records) + len(self.descriptors) >= self.limit:
                    self.overflowed = True
                    self.frontier += found.start()
                    return
                kind = self.end_records if found.group() == END_RECORD else self.descriptors
                kind.append(self.frontier + found.start())
            self.frontier = window_end

    @staticmethod
    def first(positions: list[int], start: int) -> int | None:
        """The first listed position at or after `start`."""
        index = bisect.bisect_left(positions, start)
        return positions[index] if index < len(positions) else None


class EndRecordGuard:
    """Checks a file's prefix, as it grows, for an end record that would let a reader open it."""

    def __init__(self, size: int) -> None:
        self.size = size
        # Every end record starting before `checked` was found inert (or `blocked_at` is set).
        self.checked = 0
        self.blocked_at: int | None = None  # an end record here could open any prefix ending after it
        self.wanted: int | None = None  # bytes a pending record's check needs before it can be decided

    @property
    def clear(self) -> int:
        """No prefix of at most this many bytes holds an end record that could open it."""
        return self.checked

    def advance(self, index: SignatureIndex, read: ReadAt, upto: int, available: int) -> None:
        """Check the end records `index` lists that start before `upto`."""
        self.wanted = None
        if self.blocked_at is not None:
            return
        end = min(upto, index.frontier)
        while (start := index.first(index.end_records, self.checked)) is not None and start < end:
            verdict = self._judge(read, start, available)
            if verdict == _INERT:
                self.checked = start + 1
                continue
            self.checked = start
            if verdict == _OPENS:
                self.blocked_at = start
            else:
                self.wanted = verdict
            return
        if index.overflowed and upto > index.frontier:
            self.blocked_at = self.checked = index.frontier  # past the limit: nothing is known
            return
        self.checked = max(self.checked, end)

    def _judge(self, read: ReadAt, start: int, available: int) -> int:
        """_OPENS, _INERT, or how many bytes must be on disk to tell."""
        if start + _RECORD_SIZE > self.size:
            return _INERT  # never a whole record, in any prefix (both readers need all 22 bytes)
        if start + _RECORD_SIZE > available:
            return start + _RECORD_SIZE
        if start >= _LOCATOR_SIZE and read(start - _LOCATOR_SIZE, 4) == ZIP64_LOCATOR:
            return _OPENS  # zip64: the locator leads on to a directory; not worth following by chance
        record = read(start, _RECORD_SIZE)
        directory_size: int
        directory_offset: int
        directory_size, directory_offset = struct.unpack("<2I", record[12:20])
        for where in (start - directory_size, directory_offset):
            if where < 0 or where + 4 > self.size:
                continue
            if where + 4 > available:
                return where + 4
            if read(where, 4) in DIRECTORY_SIGNATURES:
                return _OPENS
        return _INERT
