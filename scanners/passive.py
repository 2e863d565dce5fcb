"""Formats that hold only data (images, audio, Parquet, Arrow, raw tensors named as such, legacy GGML,
TFLite flatbuffers), content no scanner can classify, and empty files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .blobs import Blob
from .rules import TF_UNSAFE_OP

if TYPE_CHECKING:
    from .context import ScanContext

_TFLITE_RISKY = (b"FlexWriteFile", b"FlexReadFile", b"FlexPyFunc", b"FlexEagerPyFunc", b"FlexMatchingFiles")
_TFLITE_SCAN_LIMIT = 64 << 20


class PassiveScanner:
    name = "data"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        return None


class TfliteScanner:
    """TFLite models run builtin kernels; Flex (select TensorFlow) ops can reach file and Python ops."""

    name = "tflite"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        data = blob.read_at(0, _TFLITE_SCAN_LIMIT)
        for op in _TFLITE_RISKY:
            if op in data:
                ctx.add(
                    TF_UNSAFE_OP.finding(
                        "TFLite model uses a Flex op that touches files or Python",
                        location=blob.label,
                        evidence=op.decode(),
                    )
                )
        return None


class UnknownScanner:
    name = "unknown"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        ctx.unsupported.append(blob.label)
        return None
