"""Reading pickle opcodes and their arguments the way CPython's ``_pickle`` unpickler reads them.

This is deliberately not ``pickletools.genops``: genops reads whole strings into memory, validates some
arguments more strictly than the real unpickler and stops on the first oddity. Differences between a
scanner's parser and the consumer's are a classic bypass, so argument decoding follows ``_pickle.c``.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from typing import BinaryIO

from .limits import MalformedInput

HIGHEST_PROTOCOL = 5
MAX_LINE = 1024 * 1024  # protocol-0 lines (GLOBAL names, decimal numbers, repr strings)
BLOB_HEAD = 256  # bytes of an over-large string kept for evidence and sniffing
_CHUNK = 64 * 1024


class Truncated(MalformedInput):
    """The stream ended inside an opcode."""


@dataclass(frozen=True, slots=True)
class LargeData:
    """A string or bytes argument too large to keep; ``head`` is its beginning."""

    length: int
    head: bytes
    is_text: bool
    offset: int  # where the payload starts in the scanned blob


class OpcodeStream:
    """A forward reader over one pickle stream that tracks the byte offset of every read.

    It keeps its own buffer: the machine reads one opcode byte at a time, and indexing a bytes object
    is several times cheaper than a call into a file object per byte.
    """

    def __init__(self, raw: BinaryIO, *, size: int, start: int = 0, inline_limit: int) -> None:
        self._raw = raw  # positioned at ``start``; afterwards always at the end of ``_buf``
        self.pos = start
        self._end = size
        self._inline_limit = inline_limit
        self._buf = b""
        self._off = 0  # index of ``pos`` in ``_buf``

    @property
    def remaining(self) -> int:
        return self._end - self.pos

    def _refill(self, need: int) -> None:
        tail = self._buf[self._off :]
        want = min(max(need - len(tail), _CHUNK), self._end - self.pos - len(tail))
        self._buf = tail + (self._raw.read(want) if want > 0 else b"")
        self._off = 0

    def read(self, n: int) -> bytes:
        if n > self._end - self.pos:
            raise Truncated(f"pickle data truncated at offset {self.pos} (wanted {n} bytes)")
        if self._off + n > len(self._buf):
            self._refill(n)
            if n > len(self._buf):
                raise Truncated(f"pickle data truncated at offset {self.pos}")
        data = self._buf[self._off : self._off + n]
        self._off += n
        self.pos += n
        return data

    def opcode(self) -> int:
        """The next opcode byte (the hot path of the machine, hence no generic read)."""
        off = self._off
        if off >= len(self._buf):
            if self.pos >= self._end:
                raise Truncated(f"pickle data truncated at offset {self.pos} (no STOP opcode)")
            self._refill(1)
            off = 0
            if not self._buf:
                raise Truncated(f"pickle data truncated at offset {self.pos} (no STOP opcode)")
        self._off = off + 1
        self.pos += 1
        return self._buf[off]

    def skip(self, n: int) -> None:
        if n < 0 or n > self._end - self.pos:
            raise Truncated(f"data truncated at offset {self.pos} (wanted {n} bytes)")
        buffered = len(self._buf) - self._off
        if n <= buffered:
            self._off += n
        else:
            self._raw.seek(n - buffered, 1)
            self._buf, self._off = b"", 0
        self.pos += n

    def readline(self) -> bytes:
        """A protocol-0 argument line without its newline; like ``_pickle`` a missing newline is EOF."""
        while True:
            newline = self._buf.find(b"\n", self._off)
            if newline >= 0:
                line = self._buf[self._off : newline]
                self.pos += newline + 1 - self._off
                self._off = newline + 1
                return line
            pending = len(self._buf) - self._off
            if pending >= MAX_LINE or self.pos + pending >= self._end:
                raise Truncated(f"pickle line at offset {self.pos} is unterminated or too long")
            self._refill(pending + 1)

    def read_sized(self, n: int, *, is_text: bool) -> bytes | LargeData:
        """Read a length-prefixed payload, keeping only a head when it is larger than the inline limit."""
        if n < 0:
            raise MalformedInput(f"negative byte count at offset {self.pos}")
        if n <= self._inline_limit:
            return self.read(n)
        if n > self.remaining:
            raise Truncated(f"pickle data truncated at offset {self.pos} (wanted {n} bytes)")
        offset = self.pos
        head = self.read(BLOB_HEAD)
        self.skip(n - BLOB_HEAD)
        return LargeData(n, head, is_text, offset)

    def u8(self) -> int:
        return self.read(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack("<H", self.read(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack("<I", self.read(4))[0]
        return value

    def i32(self) -> int:
        value: int = struct.unpack("<i", self.read(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("<Q", self.read(8))[0]
        return value


def decode_long(data: bytes) -> int:
    return int.from_bytes(data, "little", signed=True)


def parse_int_line(line: bytes) -> int | bool:
    """INT: ``00``/``01`` are the protocol-0 booleans; anything int() accepts is a number."""
    text = line.decode("ascii", "replace")
    if text == "00":
        return False
    if text == "01":
        return True
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text)
        except ValueError as exc:
            raise MalformedInput(f"bad INT argument {text[:40]!r}") from exc


def parse_long_line(line: bytes) -> int:
    text = line.decode("ascii", "replace")
    text = text.removesuffix("L")
    try:
        return int(text, 0)
    except ValueError as exc:
        raise MalformedInput(f"bad LONG argument {text[:40]!r}") from exc


def parse_float_line(line: bytes) -> float:
    try:
        return float(line.decode("ascii", "replace"))
    except ValueError as exc:
        raise MalformedInput(f"bad FLOAT argument {line[:40]!r}") from exc


def parse_string_line(line: bytes) -> str:
    """STRING: a quoted Python 2 repr. The unpickler strips matching quotes and unescapes."""
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        body = line[1:-1]
    else:
        raise MalformedInput("the STRING opcode argument must be quoted")
    try:
        raw = codecs.escape_decode(body)[0]
    except ValueError as exc:
        raise MalformedInput(f"bad STRING escape: {exc}") from exc
    return bytes(raw).decode("latin-1")


def decode_unicode(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"undecodable pickle string: {exc}") from exc


def decode_raw_unicode_line(line: bytes) -> str:
    try:
        return line.decode("raw-unicode-escape")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"undecodable UNICODE argument: {exc}") from exc
