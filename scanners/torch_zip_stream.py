"""A PyTorch zip checkpoint (torch.save's format) judged from its first bytes, as they arrive.

torch.save writes, in order: `<root>/data.pkl` (the pickle), small records (`.format_version`,
`.storage_alignment`, `byteorder`), the raw tensor storages `<root>/data/<key>`, then `version` and
`.data/serialization_id`, each stored uncompressed behind a local header and followed by a data
descriptor (the sizes come after the data), and at the end the central directory and the end record.
torch.load (miniz), like zipfile, finds the members through the central directory at the end, so a prefix
of the file opens as nothing, unless an end record inside it names a directory (`zip_prefix` finds those).

`TorchZipWalk` reads the local headers from the front, in the order a streaming reader meets them, and
says how far the bytes are judged (`releasable`): a storage's or a small record's bytes as they arrive, a
pickle's only once the caller has scanned it (the walk stops at it with `pending` and goes on after
`pickle_passed()`), nothing from an entry torch.save does not write, a compressed or encrypted entry, or
bytes that are no local header (the walk stops there, with `reason`). It ends where the central directory
begins. `disagreement()` then compares what it walked with the central directory a loader reads: a file
whose two views differ must not be completed by streaming, whatever its scan says.

The walk is pure and synchronous: the caller feeds it the number of bytes on disk and a way to read them.
"""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass

from .limits import DEFAULT_LIMITS, MIB
from .zip_prefix import EndRecordGuard, ReadAt, SignatureIndex
from .zipread import STORED, ZipDirectory, ZipMember, apply_zip64, decode_name

LOCAL_HEADER = b"PK\x03\x04"
_ENDS = (b"PK\x01\x02", b"PK\x06\x06", b"PK\x05\x06")  # the central directory (or the end records) begins
_HEADER_SIZE = 30
_SHORT_DESCRIPTOR = 16  # signature, crc, 4-byte sizes
_LONG_DESCRIPTOR = 24  # signature, crc, 8-byte sizes (zip64)
_FLAG_ENCRYPTED = 0x1
_FLAG_DESCRIPTOR = 0x8
_FLAG_UTF8 = 0x800
_FIRST_ENTRY = re.compile(r"([^/]+/)data\.pkl")
_STORAGE = re.compile(r"data/[0-9]+")
# The small records torch.save writes beside the storages (plain text: a number, "little", an id).
_RECORDS = frozenset(
    {"version", ".format_version", ".storage_alignment", "byteorder"}
    | {".data/version", ".data/serialization_id"}
)
_MAX_RECORD_BYTES = 64 * 1024
MAX_PICKLE_BYTES = 16 * MIB  # a larger pickle entry waits for the full scan


def starts_like_torch_zip(head: bytes) -> bool:
    """The first bytes are a zip's local header: the only start a streamed checkpoint may have. A file
    that starts with anything else (a pickle: the legacy format, a raw pickle, a polyglot with a zip
    behind it) is loadable from its first bytes, so it never streams."""
    return head.startswith(LOCAL_HEADER)


class EntryKind(enum.Enum):
    PICKLE = "pickle"  # unpickled by torch.load: scanned before a byte of it flows
    STORAGE = "storage"  # raw tensor bytes, read into memory as numbers
    RECORD = "record"  # a small text record (format version, byte order, serialization id)


class WalkState(enum.Enum):
    WALKING = "walking"
    PICKLE = "pickle"  # `pending` must be scanned before the walk goes on
    ENDED = "ended"  # the central directory begins at `central_offset`
    STOPPED = "stopped"  # met what it does not judge (`reason`); the rest waits for the whole file


@dataclass(frozen=True, slots=True)
class LocalEntry:
    name: str
    kind: EntryKind
    header_offset: int
    data_offset: int
    size: int  # stored: the same compressed and uncompressed


@dataclass(slots=True)
class _Open:
    """The entry whose data is being walked; its size is known from its header or, with a data
    descriptor, once the descriptor is found."""

    name: str
    kind: EntryKind
    header_offset: int
    data_offset: int
    size: int | None
    search: int  # the data descriptor search goes on from here


class TorchZipWalk:
    def __init__(self, size: int, *, max_pickle_bytes: int = MAX_PICKLE_BYTES) -> None:
        self.size = size
        self.max_pickle_bytes = max_pickle_bytes
        self.state = WalkState.WALKING
        self.reason = ""
        self.entries: list[LocalEntry] = []  # complete, judged entries in file order
        self.pending: LocalEntry | None = None  # the pickle to scan (state PICKLE)
        self.central_offset: int | None = None  # state ENDED
        self.judged = 0  # bytes whose place in the archive has been judged
        self.index = SignatureIndex()
        self.guard = EndRecordGuard(size)
        self._root = ""
        self._pos = 0  # the next local header
        self._open: _Open | None = None
        self._need = 0

    # -- what the caller reads ------------------------------------------------------------------------

    @property
    def releasable(self) -> int:
        """How many leading bytes may be handed out before the whole file is verified and approved."""
        return min(self.judged, self.guard.clear)

    @property
    def first_pickle_passed(self) -> bool:
        """The first entry, `<root>/data.pkl`, was scanned and passed: from here on the file streams."""
        return bool(self.entries)

    @property
    def settled(self) -> bool:
        """Nothing the walk can still judge: it ended or stopped, and no end record awaits its check."""
        return self.state in (WalkState.ENDED, WalkState.STOPPED) and self.guard.wanted is None

    @property
    def wanted(self) -> int:
        """How many bytes must be on disk before `advance` can get further (never past the file)."""
        needs = [self._need] if self.state is WalkState.WALKING else []
        if self.guard.wanted is not None:
            needs.append(self.guard.wanted)
        return min(min(needs, default=self.size), self.size)

    # -- what the caller does -------------------------------------------------------------------------

    def advance(self, read: ReadAt, available: int) -> None:
        """Walk as far as the first `available` bytes allow, then check them for end records."""
        self.index.extend(read, available)
        while self.state is WalkState.WALKING:
            step = self._header if self._open is None else self._data
            if not step(read, available):
                break
        self.guard.advance(self.index, read, self.judged, available)

    def pickle_passed(self) -> None:
        """The pending pickle entry was scanned and allowed: walk on past it."""
        if self.state is not WalkState.PICKLE or self.pending is None:
            raise RuntimeError("no pickle entry is waiting for its scan")
        entry, self.pending = self.pending, None
        self.state = WalkState.WALKING
        self._close(entry, self._pos)

    def stop(self, reason: str) -> None:
        """Judge nothing more: what follows waits for the whole file (e.g. the scanners were busy)."""
        if self.state in (WalkState.WALKING, WalkState.PICKLE):
            self.state = WalkState.STOPPED
            self.reason = reason
            self.pending = None

    def disagreement(self, directory: ZipDirectory) -> str | None:
        """What the central directory a loader reads says differently from the local headers walked,
        over the bytes the walk judged; None when both tell the same story."""
        if directory.prepended:
            return "the central directory's offsets do not count from the file's first byte"
        if self.state is WalkState.ENDED:
            if directory.central_offset != self.central_offset:
                return (
                    f"the central directory starts at {directory.central_offset}, "
                    f"the local entries end at {self.central_offset}"
                )
            if len(directory.members) != len(self.entries):
                return f"{len(directory.members)} members listed, {len(self.entries)} local entries walked"
        walked: dict[int, LocalEntry | _Open] = {entry.header_offset: entry for entry in self.entries}
        if self._open is not None:
            walked[self._open.header_offset] = self._open  # an entry the walk stopped in
        for member in directory.members:
            entry = walked.pop(member.header_offset, None)
            if entry is not None:
                differs = _differs(member, entry)
                if differs is not None:
                    return f"{member.name!r}: {differs}"
            elif member.header_offset < self.judged:
                return f"{member.name!r}: listed at {member.header_offset}, inside walked bytes"
        if walked:
            names = [entry.name for entry in walked.values()]
            return f"local entries the central directory does not list: {names[:5]}"
        return None

    # -- walking --------------------------------------------------------------------------------------

    def _header(self, read: ReadAt, available: int) -> bool:
        pos = self._pos
        if pos + 4 > self.size:
            return self._stopped("the file ends without a central directory")
        if pos + 4 > available:
            return self._wait(pos + 4)
        signature = read(pos, 4)
        if signature in _ENDS:
            if not self.entries:
                return self._stopped("the archive has no entry before its directory")
            self.state = WalkState.ENDED
            self.central_offset = pos
            return False
        if signature != LOCAL_HEADER:
            return self._stopped(f"bytes at {pos} are neither a local header nor the central directory")
        if pos + _HEADER_SIZE > available:
            return self._wait(pos + _HEADER_SIZE)
        header = read(pos, _HEADER_SIZE)
        name_len, extra_len = struct.unpack("<2H", header[26:30])
        data_offset = pos + _HEADER_SIZE + name_len + extra_len
        if data_offset > available:
            return self._wait(data_offset)
        opened = self._open_entry(header, read(pos + _HEADER_SIZE, name_len + extra_len), pos, data_offset)
        if isinstance(opened, str):
            return self._stopped(opened)
        if len(self.entries) >= DEFAULT_LIMITS.max_members:
            return self._stopped("too many entries")
        self._open = opened
        if opened.kind is not EntryKind.PICKLE:
            self.judged = data_offset  # the header of a storage or a record: its data flows as it comes
        return True

    def _open_entry(self, header: bytes, name_extra: bytes, pos: int, data_offset: int) -> _Open | str:
        """The entry a local header opens, or why the walk cannot judge it."""
        flags, method = struct.unpack("<2H", header[6:10])
        csize, usize, name_len = struct.unpack("<2IH", header[18:28])
        name = decode_name(name_extra[:name_len], flags)
        kind = self._kind(name)
        if kind is None:
            return f"{name!r} is not an entry torch.save writes"
        if method != STORED or flags & _FLAG_ENCRYPTED:
            return f"{name!r} is compressed or encrypted (method {method}, flags {flags:#x})"
        size: int | None = None
        if not flags & _FLAG_DESCRIPTOR:
            usize, csize, _ = apply_zip64(name_extra[name_len:], usize, csize, 0)
            if csize != usize:
                return f"{name!r} is stored with different sizes {csize} and {usize}"
            size = csize
        return _Open(name, kind, pos, data_offset, size, search=data_offset)

    def _kind(self, name: str) -> EntryKind | None:
        if not self._root:
            first = _FIRST_ENTRY.fullmatch(name)
            if first is None:
                return None  # a checkpoint streams only if it starts as torch.save starts it
            self._root = first.group(1)
            return EntryKind.PICKLE
        if not name.startswith(self._root):
            return None
        inner = name[len(self._root) :]
        if name.endswith(".pkl"):
            return EntryKind.PICKLE
        if _STORAGE.fullmatch(inner):
            return EntryKind.STORAGE
        if inner in _RECORDS:
            return EntryKind.RECORD
        return None

    def _data(self, read: ReadAt, available: int) -> bool:
        entry = self._open
        assert entry is not None
        limit = self._max_bytes(entry.kind)
        if entry.size is not None:
            end = entry.data_offset + entry.size
            if entry.size > limit or end > self.size:
                return self._stopped(f"{entry.name!r} declares {entry.size} bytes")
            return self._reached(entry, end, end, available)
        # A data descriptor follows the data: its signature, the CRC and both sizes (equal to the bytes
        # since the data began), then the next local header or the central directory.
        while (candidate := self.index.first(self.index.descriptors, entry.search)) is not None:
            if candidate - entry.data_offset > limit:
                return self._stopped(f"{entry.name!r}: no data descriptor within {limit} bytes")
            length = self._descriptor_at(read, entry, candidate, available)
            if length is None:
                entry.search = candidate
                return self._flow(entry, candidate)
            if length:
                entry.size = candidate - entry.data_offset
                return self._reached(entry, candidate, candidate + length, available)
            entry.search = candidate + 1
        entry.search = max(entry.search, self.index.frontier)
        if self.index.overflowed:
            return self._stopped(
                f"more than {self.index.limit} zip signatures before the end of {entry.name!r}"
            )
        if entry.search - entry.data_offset > limit:
            return self._stopped(f"{entry.name!r}: no data descriptor within {limit} bytes")
        if available >= self.size:
            return self._stopped(f"{entry.name!r}: no data descriptor before the end of the file")
        self._flow(entry, entry.search)
        return self._wait(available + 1)

    def _descriptor_at(self, read: ReadAt, entry: _Open, at: int, available: int) -> int | None:
        """The descriptor's length if one ends the entry's data at `at`, 0 if not, None until its bytes
        are on disk."""
        length = at - entry.data_offset
        for size, layout in ((_SHORT_DESCRIPTOR, "<2I"), (_LONG_DESCRIPTOR, "<2Q")):
            if at + size + 4 > self.size:
                continue
            if at + size + 4 > available:
                self._need = at + size + 4
                return None
            data = read(at, size + 4)
            if struct.unpack(layout, data[8:size]) == (length, length) and data[size:] in (
                LOCAL_HEADER,
                _ENDS[0],
            ):
                return size
        return 0

    def _reached(self, entry: _Open, data_end: int, next_header: int, available: int) -> bool:
        """The entry's data ends at `data_end`, the next header starts at `next_header`."""
        if next_header > available:
            self._flow(entry, min(data_end, available))
            return self._wait(next_header)
        assert entry.size is not None
        done = LocalEntry(entry.name, entry.kind, entry.header_offset, entry.data_offset, entry.size)
        self._open = None
        self._pos = next_header
        if entry.kind is EntryKind.PICKLE:
            self.state = WalkState.PICKLE
            self.pending = done
            return False
        self._close(done, next_header)
        return True

    def _close(self, entry: LocalEntry, next_header: int) -> None:
        self.entries.append(entry)
        self.judged = next_header

    def _flow(self, entry: _Open, upto: int) -> bool:
        """A storage's or record's bytes are judged as they arrive; a pickle's only once scanned."""
        if entry.kind is not EntryKind.PICKLE:
            self.judged = max(self.judged, upto)
        return False

    def _max_bytes(self, kind: EntryKind) -> int:
        if kind is EntryKind.PICKLE:
            return self.max_pickle_bytes
        if kind is EntryKind.RECORD:
            return _MAX_RECORD_BYTES
        return self.size

    def _wait(self, need: int) -> bool:
        self._need = need
        return False

    def _stopped(self, reason: str) -> bool:
        self.stop(reason)
        return False


def _differs(member: ZipMember, entry: LocalEntry | _Open) -> str | None:
    """How a central directory member differs from the local entry walked at its offset."""
    if (member.name, member.local_name) != (entry.name, entry.name):
        return f"the local header at {entry.header_offset} names {entry.name!r}"
    if member.data_offset != entry.data_offset:
        return f"its data starts at {member.data_offset}, walked {entry.data_offset}"
    if member.method != STORED:
        return f"listed with compression method {member.method}"
    if entry.size is not None and (member.compressed_size, member.uncompressed_size) != (entry.size,) * 2:
        return f"listed as {member.compressed_size}/{member.uncompressed_size} bytes, walked {entry.size}"
    return None
