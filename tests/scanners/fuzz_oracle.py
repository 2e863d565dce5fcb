"""What a verdict on arbitrary bytes must satisfy, judged by reference parsers that are not ours.

Used by tests/scanners/test_fuzz.py and bench/fuzz_scanners.py. For every input:

1. The scan returns a report (never raises) within the time limit and a memory budget (the callers
   measure those).
2. CLEAN only for formats that are harmless by design or were parsed whole (:data:`CLEAN_FORMATS`);
   never for ``unknown`` or an unscannable container.
3. A CLEAN file is no dangerous pickle: CPython's own (pure-Python) unpickler, run on the bytes (and
   on every zip member and decompressed stream Python's zipfile/gzip/bz2/lzma find in them) with every
   import intercepted, never asks for a global our policy flags as the stream uses it (called, or only
   imported). Imports are answered with inert stand-ins that note whether they are called, so the
   stream runs exactly as far as a real loader's would: a mutation that destroys the payload opcodes
   may be CLEAN, one that leaves them loadable may not.
4. CLEAN text (text, json, script, jinja) starts as UTF-8 without NUL bytes (the first 4 KiB, what the
   sniffer reads; every loader that executes something recognises it from the start, or from the end
   for zip, which is checked before text). A vocabulary with one broken byte further on is still text.
5. CLEAN safetensors loads with the safetensors library, and CLEAN npy with NumPy (pickles refused): a
   header the reference rejects was malformed, and malformed is never CLEAN for these formats.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import io
import lzma
import pickle
import re
import zipfile
import zlib
from typing import Any

from scanners import ScanReport, ScanStatus
from scanners.pickle_policy import BINDING_WRAPPERS, GETATTR_GLOBALS, classify

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
_MAX_INFLATE = 4 << 20  # per member or stream; the oracle's own memory must stay small
_TEXT_HEAD = 4096
_JUDGED_BY_TARGET = BINDING_WRAPPERS | GETATTR_GLOBALS
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


class Import:
    """One global the unpickler asked for, and whether the stream then called it."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        self.called = False

    def stand_in(self) -> type[_Inert]:
        site = self

        class Imported(_Inert):
            def __new__(cls, *args: object, **kwargs: object) -> Imported:
                site.called = True  # REDUCE, INST, OBJ and NEWOBJ all come through here
                return super().__new__(cls)

        return Imported


class _RecordingUnpickler(pickle._Unpickler):
    """CPython's pure-Python unpickler (the reference implementation of the format). Not the C one: its
    memo is an array that LONG_BINPUT 0x52740a27 grows to 11 GB, which killed a fuzz run."""

    def __init__(self, data: io.BytesIO, imports: list[Import]) -> None:
        super().__init__(data)
        self.imports = imports

    def find_class(self, module: str, name: str) -> Any:
        if not (_DOTTED.fullmatch(module) and _DOTTED.fullmatch(name)):
            # The real find_class fails here (no such module or attribute), ending the load. (It imports
            # a valid module before failing on a bad attribute name; that import-only side effect is a
            # known gap of the scanner too, which stops at such a GLOBAL.)
            raise pickle.UnpicklingError(f"cannot import {module[:40]!r} {name[:40]!r}")
        site = Import(module, name)
        self.imports.append(site)
        return site.stand_in()

    def persistent_load(self, pid: object) -> object:
        # The most lenient real loader, torch.load, resolves ("storage", ...) tuples and fails on any
        # other persistent id (plain pickle.load fails on all of them).
        if isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage"):
            return _Inert()
        raise pickle.UnpicklingError("unsupported persistent id")


class _StrictLines(io.BytesIO):
    """A line without its newline ends the load, as in the C unpickler (the Python one would drop the
    line's last character and import what is left)."""

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if not line.endswith(b"\n"):
            raise pickle.UnpicklingError("pickle data was truncated")
        return line


def pickle_imports(data: bytes) -> list[Import]:
    """Every global the real unpickler asks for, reading pickle after pickle like a loader of several."""
    imports: list[Import] = []
    stream = _StrictLines(data)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            _RecordingUnpickler(stream, imports).load()
        except Exception:
            break
        if stream.tell() == start:
            break
    return imports


def reference_imports(data: bytes, depth: int = 0) -> list[Import]:
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
        for info in archive.infolist()[:16]:
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
    dangerous = [(i.module, i.name, i.called) for i in reference_imports(data) if _flags(i)]
    if dangerous:
        return f"CLEAN, but a loader imports {dangerous[:3]}"
    if family in _TEXT_FORMATS and not _is_text(data):
        return f"CLEAN as {family}, but the bytes are not UTF-8 text"
    if family == "safetensors":
        return _reference_rejects(data, _load_safetensors)
    if family == "npy":
        return _reference_rejects(data, _load_npy)
    return None


def _flags(site: Import) -> bool:
    """Would our policy stop this import as the stream uses it (called or only referenced)?"""
    if f"{site.module}.{site.name}" in _JUDGED_BY_TARGET:
        return False  # the policy judges these by what they wrap, itself an import checked here
    verdict = classify(site.module, site.name, called=site.called)
    return verdict is not None and verdict.severity.flags


def _is_text(data: bytes) -> bool:
    head = data[:_TEXT_HEAD]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(data) <= _TEXT_HEAD)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def _reference_rejects(data: bytes, load: Any) -> str | None:
    try:
        load(data)
    except Exception as exc:
        return f"CLEAN, but the reference loader rejects it: {type(exc).__name__}: {exc}"[:300]
    return None


def _load_safetensors(data: bytes) -> None:
    from safetensors.torch import load  # noqa: PLC0415 - torch's loader knows every dtype (NumPy lacks BF16)

    load(data)


def _load_npy(data: bytes) -> None:
    import numpy as np  # noqa: PLC0415

    np.load(io.BytesIO(data), allow_pickle=False)
