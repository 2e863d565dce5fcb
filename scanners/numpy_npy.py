"""NumPy ``.npy``: a Python-literal header and raw array bytes, except object arrays, whose data is a
pickle that ``np.load(allow_pickle=True)`` runs. (``.npz`` is a zip of these.)"""

from __future__ import annotations

import ast
import math
import re
import struct
from typing import TYPE_CHECKING, Any

from .blobs import Blob
from .limits import MalformedInput
from .pickled import read_pickles, report_analysis
from .rules import NUMPY_OBJECT_ARRAY, NUMPY_SIZE_MISMATCH

if TYPE_CHECKING:
    from .context import ScanContext

_MAX_HEADER = 1024 * 1024
_TYPESTR = re.compile(r"[<>|=]?([?bBhHiIlLqQpPefdgFDGSaUVOMmcbiufc])(\d*)(\[\w+\])?")
_KIND_SIZES = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
               "p": 8, "P": 8, "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "O": 8,
               "M": 8, "m": 8, "c": 1, "a": 1}  # fmt: skip


class NpyScanner:
    name = "npy"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        header, data_start = read_header(blob)
        itemsize, has_object = descr_layout(header["descr"])
        if has_object:
            ctx.add(
                NUMPY_OBJECT_ARRAY.finding(
                    "object array: np.load(allow_pickle=True) unpickles its data", location=blob.label
                )
            )
            analyses, _kind = read_pickles(blob, ctx, start=data_start)
            for analysis in analyses:
                report_analysis(analysis, blob, ctx)
            return "npy-object"
        expected = math.prod(header["shape"]) * itemsize
        actual = blob.size - data_start
        if actual < expected:
            raise MalformedInput(f"array data is {actual} bytes, header needs {expected}")
        if actual > expected:
            ctx.add(
                NUMPY_SIZE_MISMATCH.finding(
                    f"{actual - expected} bytes follow the array data",
                    location=f"{blob.label}@{data_start + expected}",
                )
            )
        return None


def read_header(blob: Blob) -> tuple[dict[str, Any], int]:
    prefix = blob.read_exact(0, 8)
    major = prefix[6]
    if prefix[7] != 0:
        # numpy.lib.format reads only versions 1.0, 2.0 and 3.0; anything else is refused, not loaded.
        raise MalformedInput(f"unknown .npy format version {major}.{prefix[7]}")
    if major == 1:
        (length,) = struct.unpack("<H", blob.read_exact(8, 2))
        start = 10
    elif major in (2, 3):
        (length,) = struct.unpack("<I", blob.read_exact(8, 4))
        start = 12
    else:
        raise MalformedInput(f"unknown .npy format version {major}")
    if length > _MAX_HEADER:
        raise MalformedInput(f".npy header of {length} bytes is larger than numpy accepts")
    raw = blob.read_exact(start, length)
    try:
        header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
    except (UnicodeDecodeError, ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise MalformedInput(f".npy header is not a Python literal: {exc}") from exc
    if not isinstance(header, dict) or {"descr", "fortran_order", "shape"} - header.keys():
        raise MalformedInput(".npy header lacks descr, fortran_order or shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise MalformedInput(".npy shape is not a tuple of sizes")
    return header, start + length


def descr_layout(descr: Any, depth: int = 0) -> tuple[int, bool]:
    """(itemsize, has_object) for a numpy array-protocol descriptor (string or structured list)."""
    if depth > 16:
        raise MalformedInput(".npy dtype nests too deeply")
    if isinstance(descr, str):
        match = _TYPESTR.fullmatch(descr)
        if match is None:
            raise MalformedInput(f"unsupported .npy dtype {descr!r}")
        kind, digits = match.group(1), match.group(2)
        if kind == "O":
            return 8, True
        if digits:
            return int(digits) * (4 if kind == "U" else 1) if kind in "SUVa" else int(digits), False
        return _KIND_SIZES.get(kind, 1), False
    if isinstance(descr, list):
        total, has_object = 0, False
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                raise MalformedInput(".npy structured dtype field is malformed")
            size, obj = descr_layout(field[1], depth + 1)
            count = math.prod(field[2]) if len(field) == 3 and isinstance(field[2], tuple) else 1
            total += size * count
            has_object = has_object or obj
        return total, has_object
    raise MalformedInput(f"unsupported .npy dtype {descr!r}")
