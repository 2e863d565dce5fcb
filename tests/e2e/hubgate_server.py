"""The real hubgate app, served on loopback from a background thread (for the synchronous Hub client)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import text

from mirror.app import COMPONENTS, create_app
from mirror.app.wiring import Components
from mirror.config import Settings, load_settings
from mirror.http.server import server_options
from storage.s3 import S3ObjectStore

_STARTUP_TIMEOUT_S = 30.0
# The fake Hub's CDN host (tests.fakehub.server.PREFERRED_CDN_HOST): a download redirect to it is one
# hubgate must follow, as it follows the real Hub's to `*.hf.co`; any other loopback port stays refused.
TEST_REDIRECT_HOSTS = ("127.0.0.2:*",)
TEST_REDIRECT_HOSTS_ENV = {"HUBGATE_UPSTREAM__REDIRECT_HOSTS": json.dumps(list(TEST_REDIRECT_HOSTS))}


@dataclass(frozen=True)
class RunningHubgate:
    url: str
    settings: Settings
    app: web.Application
    loop: asyncio.AbstractEventLoop

    @property
    def components(self) -> Components:
        return self.app[COMPONENTS]

    def run(self, coro: Any) -> Any:
        """Run a coroutine on hubgate's own loop (to inspect its database or store from a test)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stored_objects(self) -> list[str]:
        """The keys (sha256) of every object in hubgate's store, whatever the backend."""

        async def keys() -> list[str]:
            return sorted([info.key async for info in self.components.store.iter_keys()])

        result: list[str] = self.run(keys())
        return result

    def flush_downloads(self, *, settle_s: float = 30.0) -> None:
        """Write the download log now, once every request hubgate is answering has finished: a client
        returns with the last byte, a moment before hubgate's handler records the download it served."""
        registry = self.components.metrics.registry
        deadline = time.monotonic() + settle_s
        while (registry.get_sample_value("hubgate_requests_in_progress") or 0) > 0:
            if time.monotonic() > deadline:
                break  # a request still running (a test's slow reader): write what was recorded so far
            time.sleep(0.02)
        self.run(self.components.downloads.flush())

    def unfinished_uploads(self) -> list[str]:
        """Keys of the S3 multipart uploads begun and neither completed nor aborted in hubgate's bucket
        (invisible to listings, yet stored and billed); always empty on the local disk store."""
        store = self.components.store
        if not isinstance(store, S3ObjectStore):
            return []
        found = store.client.list_multipart_uploads(Bucket=self.settings.storage.s3.bucket)
        return [upload["Key"] for upload in found.get("Uploads", [])]

    def delete_objects(self) -> None:
        async def delete_all() -> None:
            keys = [info.key async for info in self.components.store.iter_keys()]
            for key in keys:
                await self.components.store.delete(key)

        self.run(delete_all())

    def cli_env(self) -> dict[str, str]:
        """Environment for a `hubgate` CLI process that must use this server's database and store."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGATE_")}
        env["HUBGATE_DATA_DIR"] = str(self.settings.data_dir)
        env["HUBGATE_DATABASE__URL"] = self.settings.database_url
        env["HUBGATE_UPSTREAM__ENDPOINT"] = self.settings.upstream.endpoint
        env["HUBGATE_UPSTREAM__REDIRECT_HOSTS"] = json.dumps(list(self.settings.upstream.redirect_hosts))
        storage = self.settings.storage
        env["HUBGATE_STORAGE__BACKEND"] = storage.backend
        if storage.backend == "s3":
            s3 = storage.s3
            env["HUBGATE_STORAGE__S3__BUCKET"] = s3.bucket
            env["HUBGATE_STORAGE__S3__ENDPOINT_URL"] = s3.endpoint_url or ""
            for name in ("access_key_id", "secret_access_key"):
                secret = getattr(s3, name)
                if secret is not None:
                    env[f"HUBGATE_STORAGE__S3__{name.upper()}"] = secret.get_secret_value()
        return env

    def execute_sql(self, statement: str) -> None:
        """Run one SQL statement on hubgate's own database (to simulate tampering)."""

        async def run() -> None:
            async with self.components.database.engine.begin() as connection:
                await connection.execute(text(statement))

        self.run(run())


def hubgate_settings(data_dir: Path, upstream_url: str, **sections: Any) -> Settings:
    upstream = {"endpoint": upstream_url, "redirect_hosts": TEST_REDIRECT_HOSTS}
    overrides: dict[str, Any] = {"data_dir": data_dir, "upstream": upstream, **sections}
    if "upstream" in sections:
        overrides["upstream"] = {**upstream, **sections["upstream"]}
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
