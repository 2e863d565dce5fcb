"""A loopback TCP proxy in front of one or more servers, for the tests to play the network.

- In front of one server (`toggle_proxy`), it can be taken down and brought back (a dependency's outage),
  or stalled: connections stay open and nothing more gets through (a host that froze, a partition that
  drops packets instead of refusing them).
- In front of several (`round_robin_proxy`), each new connection goes to the next one in turn: a load
  balancer without session affinity, as a Kubernetes Service is by default. It records what each
  connection's client sent, and to which server.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Switch:
    port: int = 0
    down: bool = False
    # Per connection, in order, when recording: the index of the server it went to and what the client sent.
    connections: list[tuple[int, bytearray]] = field(default_factory=list)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None
    _flowing: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def take_down(self) -> None:
        """New connections are refused (closed at once) and open ones are cut."""
        self.down = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._cut_all)

    def bring_up(self) -> None:
        self.down = False

    def stall(self) -> None:
        """Connections, open and new, stay open; no byte gets through either way until `flow()`."""
        if self._loop is not None and self._flowing is not None:
            self._loop.call_soon_threadsafe(self._flowing.clear)

    def flow(self) -> None:
        if self._loop is not None and self._flowing is not None:
            self._loop.call_soon_threadsafe(self._flowing.set)

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            _close(writer)
        self._writers.clear()


def toggle_proxy(host: str, port: int) -> contextlib.AbstractContextManager[Switch]:
    return _proxy([(host, port)], record=False)


def round_robin_proxy(ports: list[int]) -> contextlib.AbstractContextManager[Switch]:
    return _proxy([("127.0.0.1", port) for port in ports], record=True)


@contextlib.contextmanager
def _proxy(servers: list[tuple[str, int]], *, record: bool) -> Iterator[Switch]:
    switch = Switch()
    started = threading.Event()
    stop: dict[str, asyncio.Event] = {}

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: bytearray | None
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(1 << 16):
                assert switch._flowing is not None
                await switch._flowing.wait()
                if seen is not None:
                    seen.extend(chunk)
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if switch.down:
            _close(client_writer)
            return
        index = len(switch.connections) % len(servers)
        sent = bytearray() if record else None
        if sent is not None:
            switch.connections.append((index, sent))
        try:
            server_reader, server_writer = await asyncio.open_connection(*servers[index])
        except OSError:
            _close(client_writer)
            return
        switch._writers.update({client_writer, server_writer})
        await asyncio.gather(
            pipe(client_reader, server_writer, sent), pipe(server_reader, client_writer, None)
        )
        switch._writers.difference_update({client_writer, server_writer})

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        switch.port = server.sockets[0].getsockname()[1]
        switch._loop = asyncio.get_running_loop()
        switch._flowing = asyncio.Event()
        switch._flowing.set()
        stop["event"] = asyncio.Event()
        started.set()
        async with server:
            await stop["event"].wait()
            switch._cut_all()
            await asyncio.sleep(0.05)  # let the aborted transports finish closing

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="tcp-proxy", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield switch
    finally:
        loop = switch._loop
        if loop is not None:
            loop.call_soon_threadsafe(stop["event"].set)
        thread.join(timeout=10)


def _close(writer: asyncio.StreamWriter) -> None:
    """Abort the connection and close the writer, so nothing is left for the garbage collector."""
    writer.transport.abort()
    writer.close()
