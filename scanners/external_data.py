"""Judging a raw ONNX external-data file for what it is.

An ONNX graph may keep its weights in another file (``model.onnx_data``, ``weights.bin``...) that it
names by ``location`` with an ``(offset, length)`` per tensor. Those bytes have no format of their own,
so on their own they are UNSUPPORTED (quarantined). When the caller declares, from the graph's scan
report, that a file is such data, :func:`check_external_data` judges it against the declaration: CLEAN
only when no loader would execute it and its size fits the declared tensors.

    model = scan_file(onnx_path, name_hint="model.onnx")[0]
    declared = OnnxExternalData.from_report(model, model_path="model.onnx", location="model.onnx_data")
    reports = scan_file(data_path, name_hint="model.onnx_data", external_data=declared)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .blobs import Blob
from .formats import FileFormat, has_zip_end, pickle_trial
from .onnx import EXTERNAL_DATA_KEY
from .pickle_opcodes import PICKLE_OPCODE_BYTES
from .rules import ONNX_EXTERNAL_MISMATCH, ONNX_EXTERNAL_PAYLOAD

if TYPE_CHECKING:
    from .base import ScanReport
    from .context import ScanContext

FORMAT = "onnx-external-data"
_GAP_CHECK = 1 << 20  # bytes between declared tensors are alignment padding and must be zero

# Signatures of formats a loader executes or unpacks, long enough (4+ bytes, or checked structurally) that
# raw float data does not match them by chance.
_EXECUTABLE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x1f\x8b\x08", "gzip"), (b"\xfd7zXZ\x00", "xz"),
    (b"\x93NUMPY", "npy"), (b"GGUF", "gguf"), (b"\x89HDF\r\n\x1a\n", "hdf5"), (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x7fELF", "elf"), (b"ZF0x", "joblib-zfile"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TensorRange:
    offset: int
    length: int | None  # None: from offset to the end of the file (ONNX's default)


@dataclass(frozen=True, slots=True)
class OnnxExternalData:
    """The caller's declaration: this file is the tensor data that graph ``model_path`` reads."""

    model_path: str
    ranges: tuple[TensorRange, ...]

    @classmethod
    def from_report(cls, report: ScanReport, *, model_path: str, location: str) -> OnnxExternalData | None:
        """The declaration for ``location`` (as written in the graph) from the graph's primary report;
        None when the graph does not reference it."""
        return cls.from_references(report.metadata.get(EXTERNAL_DATA_KEY, ()), model_path, location)

    @classmethod
    def from_references(
        cls, references: Iterable[Mapping[str, Any]], model_path: str, location: str
    ) -> OnnxExternalData | None:
        ranges = tuple(
            TensorRange(int(ref["offset"]), None if ref["length"] is None else int(ref["length"]))
            for ref in references
            if ref["location"] == location
        )
        return cls(model_path, ranges) if ranges else None


def check_external_data(blob: Blob, declared: OnnxExternalData, ctx: ScanContext) -> str:
    """Record findings on ``ctx`` for ``blob`` judged as the declared tensor data; returns the format."""
    where = f"{blob.label} (tensor data of {declared.model_path})"
    kind = executable_signature(blob, 0, ctx) or ("zip" if has_zip_end(blob) else None)
    if kind is not None:
        ctx.add(
            ONNX_EXTERNAL_PAYLOAD.finding(
                f"declared as tensor data, but the file is a {kind} a loader would open",
                location=where,
                evidence=kind,
            )
        )
        ctx.scan_nested(blob, name_hint=None)
        return FORMAT
    spans = _spans(blob, declared, where, ctx)
    for offset, _end in spans:
        kind = executable_signature(blob, offset, ctx) if offset else None
        if kind is not None:
            ctx.add(
                ONNX_EXTERNAL_PAYLOAD.finding(
                    f"a declared tensor starts with a {kind}",
                    location=f"{where}@{offset}",
                    evidence=kind,
                )
            )
            ctx.scan_nested(blob.slice(offset, blob.size - offset, f"{blob.label}@{offset}"), name_hint=None)
    _check_coverage(blob, spans, where, ctx)
    return FORMAT


def _spans(blob: Blob, declared: OnnxExternalData, where: str, ctx: ScanContext) -> list[tuple[int, int]]:
    spans = []
    for tensor in declared.ranges:
        end = blob.size if tensor.length is None else tensor.offset + tensor.length
        if tensor.offset > blob.size or end > blob.size:
            ctx.add(
                ONNX_EXTERNAL_MISMATCH.finding(
                    "a declared tensor lies beyond the end of the file",
                    location=where,
                    evidence=f"offset {tensor.offset} length {tensor.length} in {blob.size} bytes",
                )
            )
            continue
        spans.append((tensor.offset, end))
    return sorted(spans)


def _check_coverage(blob: Blob, spans: list[tuple[int, int]], where: str, ctx: ScanContext) -> None:
    """Every byte belongs to a declared tensor or is zero padding between them, up to the last one."""
    position = 0
    for start, end in [*spans, (blob.size, blob.size)]:
        ctx.deadline.check()
        if start > position:
            gap = blob.read_at(position, min(start - position, _GAP_CHECK + 1))
            if start - position > _GAP_CHECK or gap.strip(b"\x00"):
                ctx.add(
                    ONNX_EXTERNAL_MISMATCH.finding(
                        "bytes no declared tensor covers (not alignment padding)",
                        location=f"{where}@{position}",
                        evidence=f"{start - position} bytes",
                    )
                )
                return
        position = max(position, end)


def executable_signature(blob: Blob, offset: int, ctx: ScanContext) -> str | None:
    """The kind of executable or unpackable content starting at ``offset``, if any."""
    head = blob.read_at(offset, 4096)
    for magic, kind in _EXECUTABLE_MAGIC:
        if head.startswith(magic):
            return kind
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return "bzip2"
    if head[:1] and head[0] in PICKLE_OPCODE_BYTES:
        window = blob.slice(offset, blob.size - offset, f"{blob.label}@{offset}")
        # Strict: only a pickle that calls something, or one that is exactly the rest of the file.
        if pickle_trial(window, ctx.limits, strict=True):
            return FileFormat.PICKLE.value
    return None
