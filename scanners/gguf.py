"""GGUF (llama.cpp): bounded parsing of the metadata and tensor table. Structure violations are the
memory-corruption class of llama.cpp advisories (CVE-2024-25664..25668, GHSA-8947-pfff-2f3c); chat
templates in the metadata are analysed like any other (CVE-2024-34359, llama-cpp-python)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, BinaryIO

from .blobs import Blob
from .limits import LimitExceeded, MalformedInput
from .rules import GGUF_MALFORMED
from .templates import analyse_template

if TYPE_CHECKING:
    from .context import ScanContext

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_NAME = 64  # GGML_MAX_NAME, including the terminating NUL
_MAX_GGML_TYPE = 64
_MAX_KEY = 65_535


class _Reader:
    def __init__(self, raw: BinaryIO, size: int, endian: str) -> None:
        self.raw = raw
        self.size = size
        self.pos = 0
        self.endian = endian

    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise MalformedInput(
                f"GGUF field of {n} bytes runs past the end of the file at offset {self.pos}"
            )
        data = self.raw.read(n)
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise MalformedInput(
                f"GGUF field of {n} bytes runs past the end of the file at offset {self.pos}"
            )
        self.raw.seek(n, 1)
        self.pos += n

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(self.endian + fmt, self.read(struct.calcsize(fmt)))[0]


class GgufScanner:
    name = "gguf"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        head = blob.read_exact(0, 8)
        endian = "<" if head[:4] == b"GGUF" else ">"
        (version,) = struct.unpack(endian + "I", head[4:8])
        if version > 0xFFFF:
            endian = ">" if endian == "<" else "<"
            (version,) = struct.unpack(endian + "I", head[4:8])
        if version not in (1, 2, 3):
            ctx.add(GGUF_MALFORMED.finding(f"unknown GGUF version {version}", location=blob.label))
            return None
        with blob.open() as raw:
            reader = _Reader(raw, blob.size, endian)
            reader.skip(8)
            try:
                self._parse(reader, version, blob, ctx)
            except MalformedInput as exc:
                ctx.add(GGUF_MALFORMED.finding(str(exc), location=f"{blob.label}@{reader.pos}"))
        return None

    def _parse(self, reader: _Reader, version: int, blob: Blob, ctx: ScanContext) -> None:
        count_fmt = "I" if version == 1 else "Q"
        tensors = reader.unpack(count_fmt)
        kv_count = reader.unpack(count_fmt)
        if tensors > ctx.limits.max_gguf_tensors or kv_count > ctx.limits.max_gguf_kv:
            raise LimitExceeded("max_gguf_kv", f"GGUF declares {kv_count} keys and {tensors} tensors")
        alignment = 32
        keys: set[str] = set()
        for _ in range(kv_count):
            ctx.deadline.check()
            key = self._string(reader, version, ctx, limit=_MAX_KEY)
            if key in keys:
                raise MalformedInput(f"duplicate metadata key {key!r}")
            keys.add(key)
            value_type = reader.unpack("I")
            keep = key.startswith("tokenizer.chat_template") or key == "general.alignment"
            value = self._value(reader, value_type, version, ctx, keep=keep)
            if key == "general.alignment":
                if value_type != 4 or not isinstance(value, int) or value == 0 or value & (value - 1):
                    raise MalformedInput(f"general.alignment must be a power-of-two uint32, got {value!r}")
                alignment = value
            elif key.startswith("tokenizer.chat_template") and isinstance(value, str):
                analyse_template(value, location=f"{blob.label}#{key}", ctx=ctx, origin=f"GGUF {key}")
        self._tensors(reader, tensors, version, alignment, ctx)

    def _tensors(self, reader: _Reader, count: int, version: int, alignment: int, ctx: ScanContext) -> None:
        names: set[str] = set()
        offsets: list[int] = []
        for _ in range(count):
            ctx.deadline.check()
            name = self._string(reader, version, ctx, limit=_MAX_KEY)
            if len(name.encode()) >= _MAX_NAME:
                raise MalformedInput(f"tensor name longer than {_MAX_NAME - 1} bytes: {name[:80]!r}")
            if name in names:
                raise MalformedInput(f"duplicate tensor name {name!r}")
            names.add(name)
            n_dims = reader.unpack("I")
            if n_dims > _MAX_DIMS:
                raise MalformedInput(f"tensor {name!r} has {n_dims} dimensions (max {_MAX_DIMS})")
            elements = 1
            for _ in range(n_dims):
                dim = reader.unpack("Q" if version > 1 else "I")
                elements *= dim
                if elements >= 1 << 63:
                    raise MalformedInput(f"tensor {name!r} has an invalid or overflowing shape")
            ggml_type = reader.unpack("I")
            if ggml_type >= _MAX_GGML_TYPE:
                raise MalformedInput(f"tensor {name!r} has unknown ggml type {ggml_type}")
            offset = reader.unpack("Q")
            if offset % alignment:
                raise MalformedInput(f"tensor {name!r} offset {offset} is not aligned to {alignment}")
            offsets.append(offset)
        data_start = -(-reader.pos // alignment) * alignment
        for offset in offsets:
            if data_start + offset > reader.size:
                raise MalformedInput(f"tensor data offset {offset} lies past the end of the file")

    def _string(self, reader: _Reader, version: int, ctx: ScanContext, *, limit: int) -> str:
        length = reader.unpack("I" if version == 1 else "Q")
        if length > min(limit, ctx.limits.max_gguf_string):
            raise MalformedInput(f"GGUF string of {length} bytes at offset {reader.pos}")
        return reader.read(length).decode("utf-8", "replace")

    def _value(self, reader: _Reader, value_type: int, version: int, ctx: ScanContext, *, keep: bool) -> Any:
        if value_type in _SCALARS:
            return reader.unpack(_SCALARS[value_type])
        if value_type == _STRING:
            if keep:
                return self._string(reader, version, ctx, limit=ctx.limits.max_gguf_string)
            length = reader.unpack("I" if version == 1 else "Q")
            if length > ctx.limits.max_gguf_string:
                raise MalformedInput(f"GGUF string of {length} bytes at offset {reader.pos}")
            reader.skip(length)
            return None
        if value_type == _ARRAY:
            element_type = reader.unpack("I")
            count = reader.unpack("I" if version == 1 else "Q")
            if count > ctx.limits.max_gguf_array:
                raise MalformedInput(f"GGUF array of {count} elements at offset {reader.pos}")
            if element_type == _ARRAY:
                raise MalformedInput("nested GGUF arrays are not supported by llama.cpp")
            if element_type in _SCALARS:
                reader.skip(count * struct.calcsize(_SCALARS[element_type]))
                return None
            if element_type != _STRING:
                raise MalformedInput(f"GGUF array of unknown type {element_type}")
            for index in range(count):
                if index & 0xFFF == 0:
                    ctx.deadline.check()
                self._value(reader, _STRING, version, ctx, keep=False)
            return None
        raise MalformedInput(f"unknown GGUF value type {value_type}")
