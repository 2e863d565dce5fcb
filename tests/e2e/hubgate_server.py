"""The real hubgate app, served on loopback from a background thread (for the synchronous Hub client)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from mirror.app import create_app
from mirror.config import Settings, load_settings
from mirror.server import server_options
from mirror.services import SERVICES, Services

_STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunningHubgate:
    url: str
    settings: Settings
    app: web.Application
    loop: asyncio.AbstractEventLoop

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    def run(self, coro: Any) -> Any:
        """Run a coroutine on hubgate's own loop (to inspect its database or store from a test)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stored_objects(self) -> list[Path]:
        return sorted(path for path in self.settings.objects_path.rglob("*") if path.is_file())


def hubgate_settings(data_dir: Path, upstream_url: str, **sections: Any) -> Settings:
    overrides: dict[str, Any] = {"data_dir": data_dir, "upstream": {"endpoint": upstream_url}, **sections}
    if "upstream" in sections:
        overrides["upstream"] = {"endpoint": upstream_url, **sections["upstream"]}
    return load_settings(None, **overrides)


@contextlib.contextmanager
def hubgate_in_thread(settings: Settings) -> Iterator[RunningHubgate]:
    ready = threading.Event()
    stop: dict[str, Any] = {}
    result: dict[str, Any] = {}

    async def serve() -> None:
        app = create_app(settings)
        runner = web.AppRunner(app, shutdown_timeout=1.0, **server_options(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        event = asyncio.Event()
        stop["event"] = event
        stop["loop"] = asyncio.get_running_loop()
        result["server"] = RunningHubgate(
            url=f"http://127.0.0.1:{port}", settings=settings, app=app, loop=asyncio.get_running_loop()
        )
        ready.set()
        try:
            await event.wait()
        finally:
            await runner.cleanup()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # handed to the starting thread
            result["error"] = error
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="hubgate", daemon=True)
    thread.start()
    if not ready.wait(_STARTUP_TIMEOUT_S) or "server" not in result:
        raise RuntimeError("hubgate did not start") from result.get("error")
    try:
        yield result["server"]
    finally:
        stop["loop"].call_soon_threadsafe(stop["event"].set)
        thread.join(timeout=30)
