"""What a verdict on arbitrary bytes must satisfy, judged by reference parsers that are not ours.

Used by tests/scanners/test_fuzz.py and bench/fuzz_scanners.py. For every input:

1. The scan returns a report (never raises) within the time limit and a memory budget (the callers
   measure those).
2. CLEAN only for formats that are harmless by design or were parsed whole (:data:`CLEAN_FORMATS`);
   never for ``unknown`` or an unscannable container.
3. A CLEAN file is no dangerous pickle: CPython's own unpickler, run on the bytes (and on every zip
   member and decompressed stream Python's zipfile/gzip/bz2/lzma find in them) with every import
   intercepted, never asks for a global our policy would flag when called. Imports are answered with an
   inert stand-in, so the stream runs on exactly as far as a real loader's would: a mutation that
   destroys the payload opcodes may be CLEAN, one that leaves them loadable may not.
4. CLEAN text (text, json, script, jinja) is UTF-8 without NUL bytes, which is what makes it text.
5. CLEAN safetensors loads with the safetensors library, and CLEAN npy with NumPy (pickles refused): a
   header the reference rejects was malformed, and malformed is never CLEAN for these formats.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import lzma
import pickle
import re
import zipfile
import zlib
from typing import Any

from scanners import ScanReport, ScanStatus
from scanners.pickle_policy import classify

CLEAN_FORMATS = frozenset(
    {
        # harmless by design: no consumer executes them
        "empty", "text", "json", "script", "jinja", "passive-data",
        # parsed whole by their scanner (malformed is an ERROR or a finding)
        "safetensors", "gguf", "ggml", "npy", "onnx", "tensorflow-protobuf", "tflite", "keras-h5",
        # HDF5 is data; the Keras configs in it are found in the raw bytes wherever they lie
        "hdf5",
        # containers judged by what they hold (property 3 checks the pickles inside)
        "pickle", "pytorch-legacy", "joblib", "zip", "npz", "pytorch-zip", "torchscript", "keras", "tar",
        "pytorch-legacy-tar", "gzip", "bzip2", "xz", "lzma", "zlib", "joblib-zfile",
    }
)  # fmt: skip
_TEXT_FORMATS = frozenset({"text", "json", "script", "jinja"})
_MAX_INFLATE = 16 << 20
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MAX_DEPTH = 3


class _Inert:
    """Stands in for every imported global: calling, building or filling it does nothing."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Inert:
        return _Inert()

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, value: object) -> None:
        pass

    def extend(self, values: object) -> None:
        pass


class _RecordingUnpickler(pickle.Unpickler):
    def __init__(self, data: io.BytesIO, imports: list[tuple[str, str]]) -> None:
        super().__init__(data)
        self.imports = imports

    def find_class(self, module: str, name: str) -> Any:
        self.imports.append((module, name))
        return _Inert

    def persistent_load(self, pid: object) -> object:
        return _Inert()


def pickle_imports(data: bytes) -> list[tuple[str, str]]:
    """Every global the real unpickler asks for, reading pickle after pickle like a loader of several."""
    imports: list[tuple[str, str]] = []
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            _RecordingUnpickler(stream, imports).load()
        except Exception:
            break
        if stream.tell() == start:
            break
    return imports


def reference_imports(data: bytes, depth: int = 0) -> list[tuple[str, str]]:
    """Imports a loader would make from ``data``, its zip members and its decompressed streams."""
    found = pickle_imports(data)
    if depth >= _MAX_DEPTH:
        return found
    for inner in _unpacked(data):
        found.extend(reference_imports(inner, depth + 1))
    return found


def _unpacked(data: bytes) -> list[bytes]:
    inner: list[bytes] = []
    with contextlib.suppress(Exception), zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist()[:64]:
            with contextlib.suppress(Exception), archive.open(info) as member:
                inner.append(member.read(_MAX_INFLATE))
    # Bounded output: a fuzzed stream may well be a bomb.
    for decompressor in (
        zlib.decompressobj(16 + zlib.MAX_WBITS),
        bz2.BZ2Decompressor(),
        lzma.LZMADecompressor(),
    ):
        with contextlib.suppress(Exception):
            inner.append(decompressor.decompress(data, _MAX_INFLATE))
    return inner


def violation(data: bytes, report: ScanReport) -> str | None:
    """Why ``report`` is a wrong verdict on ``data``, or None when it keeps the promises above."""
    if report.status is not ScanStatus.CLEAN:
        return None
    family = report.format.split("+", 1)[0].split(":", 1)[0]
    if family not in CLEAN_FORMATS:
        return f"CLEAN for format {report.format!r}"
    dangerous = [(m, n) for m, n in reference_imports(data) if _flags(m, n)]
    if dangerous:
        return f"CLEAN, but a loader imports {dangerous[:3]}"
    if family in _TEXT_FORMATS and not _is_text(data):
        return f"CLEAN as {family}, but the bytes are not UTF-8 text"
    if family == "safetensors":
        return _reference_rejects(data, _load_safetensors)
    if family == "npy":
        return _reference_rejects(data, _load_npy)
    return None


def _flags(module: str, name: str) -> bool:
    if not (_DOTTED.fullmatch(module) and _DOTTED.fullmatch(name)):
        return False  # no module or attribute can have this name: the real import fails, nothing runs
    verdict = classify(module, name, called=True)
    return verdict is not None and verdict.severity.flags


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _reference_rejects(data: bytes, load: Any) -> str | None:
    try:
        load(data)
    except Exception as exc:
        return f"CLEAN, but the reference loader rejects it: {type(exc).__name__}: {exc}"[:300]
    return None


def _load_safetensors(data: bytes) -> None:
    from safetensors.numpy import load  # noqa: PLC0415

    load(data)


def _load_npy(data: bytes) -> None:
    import numpy as np  # noqa: PLC0415

    np.load(io.BytesIO(data), allow_pickle=False)
