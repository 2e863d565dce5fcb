"""Run the fake Hub and its CDN: inside a running event loop, or on a background thread for sync code.

    async with serve_fakehub(hub) as server:      # pytest-asyncio tests, hubgate in the same loop
        ...server.url, server.cdn_url

    with fakehub_in_thread(hub) as server:        # the synchronous huggingface_hub client
        hf_hub_download(..., endpoint=server.url)

The CDN listens on another loopback address (127.0.0.2) when the OS allows it, else on another port: a
different origin either way, as cdn-lfs.hf.co is to huggingface.co.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from aiohttp import web

from tests.fakehub.cdn import create_cdn_app
from tests.fakehub.context import PublicUrls
from tests.fakehub.hub import FakeHub
from tests.fakehub.hub_app import create_hub_app

# In-flight answers (a throttled download) must not hold shutdown for aiohttp's default minute.
SHUTDOWN_TIMEOUT_SECONDS = 0.5
_STARTUP_TIMEOUT_SECONDS = 30.0
PREFERRED_CDN_HOST = "127.0.0.2"


@dataclass(frozen=True)
class FakeHubServer:
    hub: FakeHub
    url: str  # use as HF_ENDPOINT / endpoint=
    cdn_url: str


@contextlib.asynccontextmanager
async def serve_fakehub(
    hub: FakeHub,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    cdn_host: str | None = None,
    cdn_port: int = 0,
) -> AsyncIterator[FakeHubServer]:
    """Serve `hub` until the block exits. Port 0 picks free ports."""
    hub_socket = _listening_socket(host, port)
    cdn_socket = _listening_socket(cdn_host, cdn_port) if cdn_host else _cdn_socket(host, cdn_port)
    urls = PublicUrls(hub=_url_of(hub_socket), cdn=_url_of(cdn_socket))
    runners: list[web.AppRunner] = []
    try:
        for app, sock in ((create_cdn_app(hub), cdn_socket), (create_hub_app(hub, urls), hub_socket)):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
            runners.append(runner)
            await runner.setup()
            await web.SockSite(runner, sock).start()
        yield FakeHubServer(hub=hub, url=urls.hub, cdn_url=urls.cdn)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        hub_socket.close()
        cdn_socket.close()


@contextlib.contextmanager
def fakehub_in_thread(
    hub: FakeHub,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    cdn_host: str | None = None,
    cdn_port: int = 0,
) -> Iterator[FakeHubServer]:
    """`serve_fakehub` on a daemon thread with its own event loop; stops it cleanly on exit."""
    runner = _ThreadRunner(
        lambda: serve_fakehub(hub, host=host, port=port, cdn_host=cdn_host, cdn_port=cdn_port)
    )
    runner.start()
    try:
        yield runner.server()
    finally:
        runner.stop()


class _ThreadRunner:
    def __init__(self, serve: Callable[[], contextlib.AbstractAsyncContextManager[FakeHubServer]]) -> None:
        self._serve_factory = serve
        self._ready = threading.Event()
        self._server: FakeHubServer | None = None
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fakehub", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(_STARTUP_TIMEOUT_SECONDS):
            raise RuntimeError("the fake Hub did not start in time")

    def server(self) -> FakeHubServer:
        if self._server is None:
            raise RuntimeError("the fake Hub failed to start") from self._error
        return self._server

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        if self._error is not None and self._server is not None:
            raise RuntimeError("the fake Hub failed while stopping") from self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # handed to the test thread, which raises it
            self._error = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self._serve_factory() as server:
            self._server = server
            self._ready.set()
            await self._stop.wait()


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _cdn_socket(hub_host: str, port: int) -> socket.socket:
    if hub_host.startswith("127."):
        with contextlib.suppress(OSError):
            return _listening_socket(PREFERRED_CDN_HOST, port)
    return _listening_socket(hub_host, port)


def _url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"
