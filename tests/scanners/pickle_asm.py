"""A tiny pickle assembler for hand-crafted malicious samples (opcode sequences no pickler writes)."""

from __future__ import annotations

import struct

PROTO = b"\x80"
MARK = b"("
STOP = b"."
TUPLE = b"t"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
REDUCE = b"R"
BUILD = b"b"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
POP = b"0"
NEWOBJ = b"\x81"


def proto(version: int) -> bytes:
    return PROTO + bytes([version])


def text(value: str) -> bytes:
    """SHORT_BINUNICODE or BINUNICODE."""
    raw = value.encode()
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def string0(value: str) -> bytes:
    """Protocol-0 STRING (a quoted repr on its own line)."""
    return b"S" + repr(value).encode() + b"\n"


def binbytes(value: bytes) -> bytes:
    if len(value) < 256:
        return b"C" + bytes([len(value)]) + value
    return b"B" + struct.pack("<I", len(value)) + value


def glob(module: str, name: str) -> bytes:
    """GLOBAL (protocol 0 text form)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def stack_global(module: str, name: str) -> bytes:
    return text(module) + text(name) + STACK_GLOBAL


def binput(index: int) -> bytes:
    return b"q" + bytes([index])


def binget(index: int) -> bytes:
    return b"h" + bytes([index])


def call(function: bytes, *args: bytes) -> bytes:
    """``function(*args)`` via MARK ... TUPLE REDUCE."""
    return function + MARK + b"".join(args) + TUPLE + REDUCE


def program(*parts: bytes, version: int = 4) -> bytes:
    return proto(version) + b"".join(parts) + STOP
