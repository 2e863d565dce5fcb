"""A loopback TCP proxy that sends each new connection to the next of several replicas in turn: a load
balancer without session affinity, as a Kubernetes Service is by default."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Spread:
    url: str = ""
    # Per connection, in order: the index of the replica it went to and what the client sent on it.
    connections: list[tuple[int, bytearray]] = field(default_factory=list)

    def requests_to(self, replica: int) -> bytes:
        return b"".join(bytes(sent) for index, sent in self.connections if index == replica)


@contextlib.contextmanager
def round_robin_proxy(ports: list[int]) -> Iterator[Spread]:
    spread = Spread()
    started = threading.Event()
    state: dict[str, object] = {}

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: bytearray | None
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(1 << 16):
                if seen is not None:
                    seen.extend(chunk)
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        replica = len(spread.connections) % len(ports)
        sent = bytearray()
        spread.connections.append((replica, sent))
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", ports[replica])
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, server_writer, sent), pipe(server_reader, client_writer, None)
        )

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        spread.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        stop = asyncio.Event()
        state["stop"], state["loop"] = stop, asyncio.get_running_loop()
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="round-robin-proxy", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield spread
    finally:
        loop, stop = state["loop"], state["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
