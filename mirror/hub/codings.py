"""Content codings of upstream answers: decoded here, never trusted to stay within their announced size.

The Hub sits behind a CDN that gzip-compresses JSON and text for clients that accept it (huggingface_hub
issue #3269 records such an answer: `Content-Encoding: gzip`, `Vary: Origin,accept-encoding`, a weak
ETag). hubgate's session does not decompress by itself (`auto_decompress=False`), so that every byte is
counted: a decoder here caps the *decoded* size, and a small gzip that inflates to gigabytes (a bomb) is
refused after at most `limit` bytes of output, whatever its compressed size.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from mirror.errors import UpstreamProtocolError

# What hubgate asks for on metadata calls: what it can decode with the standard library. File downloads ask
# for identity (the Hub's digests describe the identity bytes) and decode whatever comes back anyway.
METADATA_ACCEPT_ENCODING = "gzip, deflate"
FILE_ACCEPT_ENCODING = "identity"


class _Inflater(Protocol):
    @property
    def unconsumed_tail(self) -> bytes: ...
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...
    def flush(self, length: int = ...) -> bytes: ...


class BodyDecoder:
    """Decodes one answer body chunk by chunk; raises UpstreamProtocolError past `limit` decoded bytes.

    `Content-Encoding` may list several codings, applied in order; they are undone in reverse.
    """

    def __init__(self, content_encoding: str | None, *, limit: int, what: str) -> None:
        self._limit = limit
        self._what = what
        self._decoded = 0
        self._stages = [_inflater(coding) for coding in reversed(_codings(content_encoding))]

    @property
    def identity(self) -> bool:
        return not self._stages

    def decode(self, chunk: bytes) -> bytes:
        data = chunk
        for stage in self._stages:
            data = self._bounded(stage, data)
        return self._count(data)

    def finish(self) -> bytes:
        """The rest of the output; raises UpstreamProtocolError for a truncated compressed stream."""
        data = b""
        for stage in self._stages:
            data = self._bounded(stage, data) + stage.flush()
            if not stage.eof:
                msg = f"upstream's compressed {self._what} ended before its end marker"
                raise UpstreamProtocolError(msg)
        return self._count(data)

    def _bounded(self, stage: _Inflater, data: bytes) -> bytes:
        # Never let one call inflate more than what is left of the limit (+1, to notice the overrun).
        room = self._limit - self._decoded + 1
        try:
            out = stage.decompress(data, room)
        except zlib.error as exc:
            msg = f"upstream sent a {self._what} that does not decode: {exc}"
            raise UpstreamProtocolError(msg) from exc
        if stage.unconsumed_tail:
            self._overrun()
        return out

    def _count(self, data: bytes) -> bytes:
        self._decoded += len(data)
        if self._decoded > self._limit:
            self._overrun()
        return data

    def _overrun(self) -> None:
        msg = f"upstream's {self._what} decodes to more than {self._limit} bytes"
        raise UpstreamProtocolError(msg)


def _codings(header: str | None) -> list[str]:
    if not header:
        return []
    found = [part.strip().lower() for part in header.split(",") if part.strip()]
    return [coding for coding in found if coding != "identity"]


def _inflater(coding: str) -> _Inflater:
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if coding == "deflate":
        # RFC 9110 says zlib-wrapped; some servers send raw deflate.
        return _LenientDeflate()
    msg = f"upstream answered with a content coding hubgate did not ask for: {coding!r}"
    raise UpstreamProtocolError(msg)


class _LenientDeflate:
    """`deflate` as servers send it: zlib-wrapped (the standard) or raw, told apart by the first bytes."""

    def __init__(self) -> None:
        self._inner: _Inflater | None = None
        self._head = b""

    @property
    def unconsumed_tail(self) -> bytes:
        return b"" if self._inner is None else self._inner.unconsumed_tail

    @property
    def eof(self) -> bool:
        return self._inner is not None and self._inner.eof

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._inner is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            wrapped = (self._head[0] & 0x0F) == 8 and int.from_bytes(self._head[:2], "big") % 31 == 0
            inner = zlib.decompressobj(wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            self._inner = inner
            data, self._head = self._head, b""
            return inner.decompress(data, max_length)
        return self._inner.decompress(data, max_length)

    def flush(self, length: int = zlib.DEF_BUF_SIZE) -> bytes:
        if self._inner is None:
            return b""
        return self._inner.flush(length)
