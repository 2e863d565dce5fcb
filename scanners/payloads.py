"""Unwrapping data that a pickle hands to a loader: raw serialized or compressed bytes, base64 text.

Only content that sniffs as a serialized or compressed format is returned; plain text and numbers
passed to ordinary constructors are not payloads.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from .blobs import Blob, bytes_blob
from .formats import FileFormat, sniff
from .limits import Limits

_SERIALIZED = frozenset(
    {
        FileFormat.PICKLE, FileFormat.ZIP, FileFormat.TAR, FileFormat.GZIP, FileFormat.BZIP2,
        FileFormat.XZ, FileFormat.LZMA, FileFormat.ZLIB, FileFormat.NPY, FileFormat.UNSCANNABLE_CONTAINER,
        FileFormat.JOBLIB_ZFILE, FileFormat.HDF5,
    }
)  # fmt: skip
_BASE64 = re.compile(rb"[A-Za-z0-9+/=_\-\s]+")
_MAX_LAYERS = 4


def unwrap_payloads(blob: Blob, limits: Limits) -> Iterator[Blob]:
    """Yield the serialized blobs found in ``blob``, looking through base64 and zlib layers."""
    current: Blob | None = blob
    for layer in range(_MAX_LAYERS):
        if current is None:
            return
        fmt, _ = sniff(current, None, limits)
        if fmt in _SERIALIZED:
            yield current  # compressed layers are opened by the engine's own scanners
            return
        current = _peel(current, limits) if layer < _MAX_LAYERS - 1 else None


def _peel(blob: Blob, limits: Limits) -> Blob | None:
    if blob.size > limits.max_inline_bytes:
        return None
    data = blob.read_at(0, blob.size)
    if len(data) >= 16 and _BASE64.fullmatch(data):
        try:
            decoded = base64.b64decode(
                re.sub(rb"\s", b"", data).replace(b"-", b"+").replace(b"_", b"/"), validate=True
            )
        except (binascii.Error, ValueError):
            decoded = b""
        if decoded:
            return bytes_blob(decoded, f"{blob.label}:base64")
    return None
