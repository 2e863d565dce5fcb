"""Send a body the way the Hub and its CDN do (HEAD, one Range, If-None-Match, content coding), shaped by
body faults.

Every successful answer of both servers goes through `send_bytes`, so `Truncate`, `WrongDigest` and a
throttling `Slow` apply to any of them. On-disk blobs are read in chunks off the event loop.

With a negotiated `coding` (see compression.py) the body goes out compressed and chunked, without a
Content-Length, and the ETag becomes weak, as CloudFront sends it. Faults then act on the wire: `Truncate`
and `Slow` count encoded bytes, `WrongDigest` flips a decoded byte before compression (still valid gzip).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from tests.fakehub.compression import VARY, Coding, Encoder, weak_etag
from tests.fakehub.faults import Effect, Slow, Truncate, WrongDigest

CHUNK_SIZE = 1 << 20
_IN_MEMORY_LIMIT = 1 << 20
_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class ByteSource(Protocol):
    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True)
class MemoryBytes:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


@dataclass(frozen=True)
class ByteRange:
    start: int
    stop: int  # exclusive

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{total}"


class RangeNotSatisfiable(Exception):
    """The Range starts past the end; each server renders the 416 its own way."""

    def __init__(self, size: int) -> None:
        super().__init__(f"bytes */{size}")
        self.content_range = f"bytes */{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to serve, or None for the whole body.

    Like S3 and the Hub: a malformed header or several ranges are ignored (whole body, 200); a range
    starting past the end raises RangeNotSatisfiable (416).
    """
    match = _SINGLE_RANGE.fullmatch(header.replace(" ", "")) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(0, size - length), size)
    start = int(first)
    stop = size if not last else int(last) + 1
    if last and stop <= start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, min(stop, size))


async def send_bytes(
    request: web.Request,
    source: ByteSource,
    *,
    headers: Mapping[str, str],
    effects: tuple[Effect, ...],
    etag: str | None = None,
    ranges: bool = True,
    coding: Coding | None = None,
    compressible: bool = False,
) -> web.StreamResponse:
    """Answer with `source` (HEAD: headers only). `etag` (quoted) enables If-None-Match -> 304;
    `ranges` honours one Range header and raises RangeNotSatisfiable for a range past the end.

    `compressible`: the CDN would compress this body for a client that asks (adds `Vary`); `coding`: the
    coding negotiated for this request (compression.negotiate), None for identity."""
    if compressible:
        headers = {**headers, "Vary": VARY}
    if coding is not None:
        etag = weak_etag(etag) if etag is not None else None
    if etag is not None and request.headers.get("If-None-Match") in (etag, _other_strength(etag), "*"):
        return web.Response(status=304, headers={**headers, "ETag": etag})
    if coding is not None:
        return await _send_encoded(
            request, source, headers=headers, effects=effects, etag=etag, coding=coding
        )
    wanted = parse_range(request.headers.get("Range"), source.size) if ranges else None
    span = wanted or ByteRange(0, source.size)
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    if etag is not None:
        response.headers["ETag"] = etag
    if wanted:
        response.headers["Content-Range"] = wanted.content_range(source.size)
    response.content_length = span.stop - span.start
    await response.prepare(request)
    if request.method != "HEAD":
        await _stream(request, response, source, span, effects)
    return response


def _other_strength(etag: str) -> str:
    # If-None-Match compares weakly (RFC 9110 section 13.1.2): W/"x" and "x" match each other.
    return etag[2:] if etag.startswith("W/") else f"W/{etag}"


async def _send_encoded(
    request: web.Request,
    source: ByteSource,
    *,
    headers: Mapping[str, str],
    effects: tuple[Effect, ...],
    etag: str | None,
    coding: Coding,
) -> web.StreamResponse:
    # No content_length: aiohttp then sends `Transfer-Encoding: chunked`, as the recorded Hub answer has.
    response = web.StreamResponse(status=200, headers={**headers, "Content-Encoding": coding})
    if etag is not None:
        response.headers["ETag"] = etag
    await response.prepare(request)
    cut = min((e.after_bytes for e in effects if isinstance(e, Truncate)), default=None)
    rate = min(
        (e.bytes_per_second for e in effects if isinstance(e, Slow) and e.bytes_per_second), default=None
    )
    flips = _flipped_offsets(effects, source.size)
    encoder = Encoder(coding)
    sent = 0

    async def send(encoded: bytes) -> bool:
        """Write `encoded` within the Truncate budget; False once the budget is spent."""
        nonlocal sent
        if cut is not None:
            encoded = encoded[: max(0, cut - sent)]
        step = len(encoded) if rate is None else max(1, min(len(encoded), rate // 20))
        for start in range(0, len(encoded), max(1, step)):
            piece = encoded[start : start + step]
            await response.write(piece)
            sent += len(piece)
            if rate is not None:
                await asyncio.sleep(len(piece) / rate)
        return cut is None or sent < cut

    offset = 0
    while offset < source.size:
        length = min(CHUNK_SIZE, source.size - offset)
        chunk = _flip(await _read(source, offset, length), offset, flips)
        offset += len(chunk)
        if not await send(encoder.feed(chunk)):
            return _hang_up_after(request, response)
    if not await send(encoder.finish()):
        return _hang_up_after(request, response)
    return response


def _hang_up_after(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    # Mid-body close of a chunked answer: the client sees the stream end without its last chunk.
    if request.transport is not None:
        request.transport.close()
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    source: ByteSource,
    span: ByteRange,
    effects: tuple[Effect, ...],
) -> None:
    cut = min((e.after_bytes for e in effects if isinstance(e, Truncate)), default=None)
    rate = min(
        (e.bytes_per_second for e in effects if isinstance(e, Slow) and e.bytes_per_second), default=None
    )
    flips = _span_flips(effects, span)
    stop = span.stop if cut is None else min(span.stop, span.start + cut)
    chunk_size = CHUNK_SIZE if rate is None else max(1, min(CHUNK_SIZE, rate // 20))
    offset = span.start
    while offset < stop:
        length = min(chunk_size, stop - offset)
        chunk = _flip(await _read(source, offset, length), offset, flips)
        await response.write(chunk)
        offset += len(chunk)
        if rate is not None:
            await asyncio.sleep(len(chunk) / rate)
    if cut is not None and stop < span.stop and request.transport is not None:
        # close() flushes what was written, then drops the connection mid-body: the client sees a
        # short read against the announced Content-Length.
        request.transport.close()


def _flipped_offsets(effects: tuple[Effect, ...], size: int) -> frozenset[int]:
    return _span_flips(effects, ByteRange(0, size))


def _span_flips(effects: tuple[Effect, ...], span: ByteRange) -> frozenset[int]:
    """The file offsets whose byte `WrongDigest` faults flip in this answer of `span`.

    `at_end=False` flips the first byte sent, `at_end=True` the last one, `offset=N` byte N of the file
    (when the span covers it).
    """
    flips: set[int] = set()
    for effect in effects:
        if not isinstance(effect, WrongDigest) or span.stop <= span.start:
            continue
        if effect.offset is not None:
            if span.start <= effect.offset < span.stop:
                flips.add(effect.offset)
        else:
            flips.add(span.stop - 1 if effect.at_end else span.start)
    return frozenset(flips)


def _flip(chunk: bytes, offset: int, flips: frozenset[int]) -> bytes:
    """`chunk` (the bytes at `offset`) with each byte at a flipped offset inverted."""
    inside = [at - offset for at in flips if offset <= at < offset + len(chunk)]
    if not inside:
        return chunk
    changed = bytearray(chunk)
    for index in inside:
        changed[index] ^= 0xFF
    return bytes(changed)


async def _read(source: ByteSource, offset: int, length: int) -> bytes:
    if source.size <= _IN_MEMORY_LIMIT or isinstance(source, MemoryBytes):
        return source.read(offset, length)
    return await asyncio.to_thread(source.read, offset, length)
