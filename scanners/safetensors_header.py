"""safetensors is safe only when its header is exactly right; this checks every rule of the format
without touching the tensor data (so a 100 GB file costs one small read)."""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

from .blobs import Blob
from .rules import (
    ST_DTYPE,
    ST_DUPLICATE_KEY,
    ST_GAP,
    ST_HEADER_JSON,
    ST_HEADER_SIZE,
    ST_METADATA,
    ST_NESTING,
    ST_OFFSETS,
    ST_OVERLAP,
    ST_SHAPE,
    ST_TENSOR_ENTRY,
    ST_TRAILING,
)

if TYPE_CHECKING:
    from .context import ScanContext

DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64,
    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}
_MAX_DEPTH = 3  # {"name": {"shape": [1, 2]}}


class _DuplicateKeys:
    def __init__(self) -> None:
        self.found: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                self.found.append(key)
            result[key] = value
        return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class SafetensorsScanner:
    name = "safetensors"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        where = blob.label
        if blob.size < 8:
            ctx.add(ST_HEADER_SIZE.finding("file is shorter than the 8-byte header length", location=where))
            return None
        (length,) = struct.unpack("<Q", blob.read_exact(0, 8))
        if length > ctx.limits.max_safetensors_header:
            ctx.add(ST_HEADER_SIZE.finding(f"header length {length} exceeds the limit", location=where))
            return None
        if 8 + length > blob.size:
            ctx.add(
                ST_HEADER_SIZE.finding(
                    f"header length {length} runs past the end of the file", location=where
                )
            )
            return None
        header = self._parse(blob.read_exact(8, length), where, ctx)
        if header is None:
            return None
        data_size = blob.size - 8 - length
        spans = self._check_entries(header, where, ctx)
        _check_layout(spans, data_size, where, ctx)
        return None

    def _parse(self, raw: bytes, where: str, ctx: ScanContext) -> dict[str, Any] | None:
        duplicates = _DuplicateKeys()
        try:
            header = json.loads(
                raw.decode("utf-8"), object_pairs_hook=duplicates, parse_constant=_reject_constant
            )
        except RecursionError:
            ctx.add(ST_NESTING.finding("header JSON nests too deeply to parse", location=where))
            return None
        except (UnicodeDecodeError, ValueError) as exc:
            ctx.add(
                ST_HEADER_JSON.finding(
                    "header is not valid UTF-8 JSON", location=where, evidence=str(exc)[:200]
                )
            )
            return None
        for key in duplicates.found[:20]:
            ctx.add(ST_DUPLICATE_KEY.finding("header repeats a key", location=where, evidence=key))
        if not isinstance(header, dict):
            ctx.add(ST_HEADER_JSON.finding("header is not a JSON object", location=where))
            return None
        if _depth(header) > _MAX_DEPTH:
            ctx.add(ST_NESTING.finding(f"header nests deeper than {_MAX_DEPTH} levels", location=where))
        return header

    def _check_entries(
        self, header: dict[str, Any], where: str, ctx: ScanContext
    ) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        for name, entry in header.items():
            if name == "__metadata__":
                _check_metadata(entry, where, ctx)
                continue
            span = _check_entry(name, entry, where, ctx)
            if span is not None:
                spans.append(span)
        return spans


def _check_metadata(entry: Any, where: str, ctx: ScanContext) -> None:
    if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
        ctx.add(
            ST_METADATA.finding(
                "__metadata__ must map strings to strings", location=where, evidence=repr(entry)[:200]
            )
        )


def _check_entry(name: str, entry: Any, where: str, ctx: ScanContext) -> tuple[int, int, str] | None:
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        ctx.add(
            ST_TENSOR_ENTRY.finding(
                "tensor entry must have exactly dtype, shape, data_offsets",
                location=where,
                evidence=f"{name}: {keys}",
            )
        )
        return None
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not _is_int_list(shape):
        ctx.add(
            ST_TENSOR_ENTRY.finding(
                "shape must be a list of non-negative integers",
                location=where,
                evidence=f"{name}: {shape!r}"[:200],
            )
        )
        return None
    if not (_is_int_list(offsets) and len(offsets) == 2 and offsets[0] <= offsets[1]):
        ctx.add(
            ST_OFFSETS.finding(
                "data_offsets must be [begin, end] with begin <= end",
                location=where,
                evidence=f"{name}: {offsets!r}"[:200],
            )
        )
        return None
    if dtype not in DTYPE_BITS:
        ctx.add(ST_DTYPE.finding("unknown dtype", location=where, evidence=f"{name}: {dtype!r}"[:200]))
        return None
    bits = DTYPE_BITS[dtype]
    numel = 1
    for dim in shape:
        numel *= dim
    nbits = numel * bits
    if nbits % 8 or nbits // 8 != offsets[1] - offsets[0]:
        ctx.add(
            ST_SHAPE.finding(
                "byte length does not equal dtype size x number of elements",
                location=where,
                evidence=f"{name}: {dtype} {shape} needs {nbits / 8:g} bytes, "
                f"offsets give {offsets[1] - offsets[0]}",
            )
        )
    return offsets[0], offsets[1], name


def _check_layout(spans: list[tuple[int, int, str]], data_size: int, where: str, ctx: ScanContext) -> None:
    cursor = 0
    last_name = "<start>"
    for begin, end, name in sorted(spans):
        if end > data_size:
            ctx.add(
                ST_OFFSETS.finding(
                    "tensor data lies past the end of the file",
                    location=where,
                    evidence=f"{name}: end {end} > {data_size}",
                )
            )
        if begin < cursor:
            ctx.add(
                ST_OVERLAP.finding(
                    "tensors overlap", location=where, evidence=f"{last_name} and {name} at {begin}"
                )
            )
        elif begin > cursor:
            ctx.add(
                ST_GAP.finding(
                    "unused bytes between tensors",
                    location=where,
                    evidence=f"{cursor}..{begin} before {name}",
                )
            )
        cursor = max(cursor, end)
        last_name = name
    if cursor < data_size:
        ctx.add(
            ST_TRAILING.finding(
                f"{data_size - cursor} bytes follow the last tensor", location=f"{where}@{cursor}"
            )
        )


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    )


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH + 1:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level
