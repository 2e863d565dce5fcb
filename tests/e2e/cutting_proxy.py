"""A loopback TCP proxy that cuts one connection mid-answer, to interrupt a client's download for real."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class CutState:
    cut_after_bytes: int
    cuts_left: int = 1
    requests: list[bytes] = field(default_factory=list)  # raw client->server chunks, for asserting on headers


@contextlib.contextmanager
def cutting_proxy(target_url: str, *, cut_after_bytes: int) -> Iterator[tuple[str, CutState]]:
    """Proxy to `target_url`; the first connection to send more than `cut_after_bytes` back is closed."""
    parts = urlsplit(target_url)
    state = CutState(cut_after_bytes=cut_after_bytes)
    started = threading.Event()
    holder: dict[str, object] = {}

    async def pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        downstream: bool,
        peer: asyncio.StreamWriter,
    ) -> None:
        sent = 0
        try:
            while chunk := await reader.read(1 << 16):
                if not downstream:
                    state.requests.append(chunk)
                elif state.cuts_left > 0 and sent + len(chunk) > state.cut_after_bytes:
                    state.cuts_left -= 1
                    writer.write(chunk[: max(0, state.cut_after_bytes - sent)])
                    await writer.drain()
                    _close(writer)
                    peer.transport.abort()
                    return
                sent += len(chunk)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(parts.hostname, parts.port)
        open_writers.update({client_writer, server_writer})
        try:
            await asyncio.gather(
                pipe(client_reader, server_writer, downstream=False, peer=client_writer),
                pipe(server_reader, client_writer, downstream=True, peer=server_writer),
            )
        finally:
            open_writers.difference_update({client_writer, server_writer})
            for writer in (client_writer, server_writer):
                _close(writer)

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        stop = asyncio.Event()
        holder.update(port=server.sockets[0].getsockname()[1], loop=asyncio.get_running_loop(), stop=stop)
        started.set()
        async with server:
            await stop.wait()
            # Keep-alive connections still open would be dropped unclosed with the loop: close them.
            for writer in list(open_writers):
                _close(writer)
            await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="cutting-proxy", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{holder['port']}", state
    finally:
        loop = holder["loop"]
        stop_event = holder["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert isinstance(stop_event, asyncio.Event)
        loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout=10)


def _close(writer: asyncio.StreamWriter) -> None:
    """Abort the connection and close the writer, so nothing is left for the garbage collector."""
    writer.transport.abort()
    writer.close()
