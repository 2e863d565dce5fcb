"""A minimal, bounded protobuf wire-format reader over a blob.

ONNX and TensorFlow models are protobuf messages that may be gigabytes long; this reader walks field
headers and skips payloads by offset arithmetic, so only the small messages we inspect are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .blobs import Blob
from .limits import LimitExceeded, MalformedInput

VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    wire_type: int
    value: int  # the integer for VARINT/FIXED, the payload length for LEN
    offset: int  # where the payload starts in the blob


class Cursor:
    """Chunked random-access reads with a budget on the number of fields visited."""

    def __init__(self, blob: Blob, *, max_fields: int) -> None:
        self.blob = blob
        self._chunk_start = 0
        self._chunk = b""
        self._fields_left = max_fields

    def _byte(self, pos: int) -> int:
        if not self._chunk_start <= pos < self._chunk_start + len(self._chunk):
            self._chunk_start = pos
            self._chunk = self.blob.read_at(pos, _CHUNK)
            if not self._chunk:
                raise MalformedInput(f"protobuf truncated at offset {pos}")
        return self._chunk[pos - self._chunk_start]

    def varint(self, pos: int) -> tuple[int, int]:
        result = 0
        for shift in range(0, 70, 7):
            byte = self._byte(pos)
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result, pos
        raise MalformedInput(f"protobuf varint too long at offset {pos}")

    def fields(self, start: int, end: int) -> Iterator[Field]:
        pos = start
        while pos < end:
            self._fields_left -= 1
            if self._fields_left < 0:
                raise LimitExceeded("max_proto_messages", "too many protobuf fields")
            key, pos = self.varint(pos)
            number, wire_type = key >> 3, key & 7
            if number == 0:
                raise MalformedInput(f"protobuf field number 0 at offset {pos}")
            if wire_type == VARINT:
                value, pos = self.varint(pos)
                yield Field(number, wire_type, value, pos)
            elif wire_type == FIXED64:
                yield Field(number, wire_type, 0, pos)
                pos += 8
            elif wire_type == FIXED32:
                yield Field(number, wire_type, 0, pos)
                pos += 4
            elif wire_type == LEN:
                length, pos = self.varint(pos)
                if pos + length > end:
                    raise MalformedInput(f"protobuf field {number} overruns its message at offset {pos}")
                yield Field(number, wire_type, length, pos)
                pos += length
            else:
                raise MalformedInput(f"unsupported protobuf wire type {wire_type} at offset {pos}")
        if pos != end:
            raise MalformedInput("protobuf message ends inside a field")

    def string(self, field: Field, limit: int = 64 * 1024) -> str:
        if field.wire_type != LEN:
            raise MalformedInput(f"protobuf field {field.number} is not length-delimited")
        data = self.blob.read_exact(field.offset, min(field.value, limit))
        return data.decode("utf-8", "replace")


def looks_like_protobuf(head: bytes) -> bool:
    """A cheap plausibility test: the head decodes as a sequence of well-formed fields."""
    pos, seen = 0, 0
    while pos < len(head) and seen < 64:
        key, pos = _varint(head, pos)
        if key is None:
            return seen > 0
        number, wire_type = key >> 3, key & 7
        if number == 0 or wire_type not in (VARINT, FIXED64, LEN, FIXED32):
            return False
        if wire_type == VARINT:
            value, pos = _varint(head, pos)
            if value is None:
                return seen > 0
        elif wire_type == LEN:
            length, pos = _varint(head, pos)
            if length is None:
                return seen > 0
            pos += length
        else:
            pos += 8 if wire_type == FIXED64 else 4
        seen += 1
    return seen > 0


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            return None, pos
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    return None, pos
