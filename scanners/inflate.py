"""Bounded-output decompression: every decompressor is asked for at most ``OUTPUT_CHUNK`` bytes at a
time, so a bomb whose whole compressed stream fits in one read still never sits in memory at once."""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Iterator
from typing import Any

OUTPUT_CHUNK = 1 << 20
DECOMPRESSION_ERRORS = (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError)


class Inflater:
    """Wraps a zlib, bz2 or lzma decompressor behind one bounded ``feed``."""

    def __init__(self, impl: Any) -> None:
        # zlib's decompressor type is not importable at run time; the two families differ in how they
        # report pending input (unconsumed_tail versus needs_input).
        self._impl = impl
        self._zlib = hasattr(impl, "unconsumed_tail")

    @property
    def eof(self) -> bool:
        return bool(self._impl.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._impl.unused_data)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield the output of ``data`` in bounded pieces. Raises the decompressor's own errors."""
        impl = self._impl
        if self._zlib:
            out = impl.decompress(data, OUTPUT_CHUNK)
            yield out
            while impl.unconsumed_tail and not impl.eof:
                yield impl.decompress(impl.unconsumed_tail, OUTPUT_CHUNK)
            return
        out = impl.decompress(data, max_length=OUTPUT_CHUNK)
        yield out
        while not impl.eof and not impl.needs_input:
            yield impl.decompress(b"", max_length=OUTPUT_CHUNK)

    def flush(self) -> bytes:
        impl = self._impl
        return bytes(impl.flush()) if self._zlib else b""
