"""Write valid safetensors files without torch: 8-byte little-endian header length, JSON header, data.

Written by hand (the format is tiny) so fixture weights can also be a big generated file whose header
is valid and whose tensor data is the random payload.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

_DTYPE_NAMES = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}
_ALIGNMENT = 8


def safetensors_bytes(
    tensors: Mapping[str, npt.NDArray[Any]], *, metadata: Mapping[str, str] | None = None
) -> bytes:
    header: dict[str, Any] = {"__metadata__": dict(metadata or {"format": "pt"})}
    chunks: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        dtype_name = _DTYPE_NAMES[array.dtype]
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": dtype_name,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    return _framed_header(header) + b"".join(chunks)


def single_tensor_prefix(total_size: int, *, name: str = "weight") -> bytes:
    """The header of a safetensors file of exactly `total_size` bytes holding one U8 tensor.

    Followed by `total_size - len(prefix)` arbitrary bytes, it is a valid file of that size.
    """
    length = 64
    while True:
        data_size = total_size - 8 - length
        if data_size < 0:
            raise ValueError(f"{total_size} bytes cannot hold a safetensors header")
        header = {
            "__metadata__": {"format": "pt"},
            name: {"dtype": "U8", "shape": [data_size], "data_offsets": [0, data_size]},
        }
        encoded = json.dumps(header, separators=(",", ":")).encode()
        if len(encoded) <= length:
            return struct.pack("<Q", length) + encoded.ljust(length, b" ")
        length += _ALIGNMENT


def _framed_header(header: Mapping[str, Any]) -> bytes:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    padded = encoded.ljust(-(-len(encoded) // _ALIGNMENT) * _ALIGNMENT, b" ")
    return struct.pack("<Q", len(padded)) + padded
