"""A response body straight from a file: the kernel copies the bytes (sendfile), not Python.

aiohttp's own FileResponse does the same, but it also decides Range, If-Range, ETag and 304 answers by
its own rules; hubgate's differ (mirror.http.ranges), so a handler prepares its StreamResponse as usual
and hands the body's bytes to `send_span`. On a transport without sendfile (TLS), asyncio falls back to
reading the file in its threads and writing what it read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import BinaryIO

from aiohttp import web

# Bytes per sendfile call: the count of what went out (for the download log) is kept per call.
_SPAN = 16 << 20


async def send_span(
    request: web.Request, response: web.StreamResponse, handle: BinaryIO, offset: int, count: int
) -> AsyncIterator[int]:
    """Send bytes [offset, offset + count) of `handle` as (part of) `response`'s body, which must be
    prepared; yields how many went out after each piece (for the download log, also when the client
    goes away half-way: then ConnectionResetError)."""
    if not response.prepared:
        raise RuntimeError("prepare() the response first: its headers go before the body")
    loop = asyncio.get_running_loop()
    sent = 0
    while sent < count:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        done = await loop.sendfile(transport, handle, offset + sent, min(_SPAN, count - sent))
        sent += done
        yield done
