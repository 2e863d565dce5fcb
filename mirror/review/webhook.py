"""An optional webhook: JSON posted on quarantine and on every human decision, in the background."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)
_ATTEMPTS = 3


class Webhook:
    def __init__(self, url: str | None, session: aiohttp.ClientSession, *, timeout_s: float = 5.0) -> None:
        self._url = url
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, event: dict[str, Any]) -> None:
        """Post `event` without making the caller wait; failures are logged, never raised."""
        if not self._url:
            return
        task = asyncio.ensure_future(self._post(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, event: dict[str, Any]) -> None:
        assert self._url is not None
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self._session.post(self._url, json=event, timeout=self._timeout) as response:
                    if response.status < 300:
                        return
                    log.warning("webhook answered %d (attempt %d)", response.status, attempt)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("webhook failed: %s (attempt %d)", type(exc).__name__, attempt)
            await asyncio.sleep(0.5 * attempt)
        log.error("webhook gave up on %s event for review %s", event.get("event"), event.get("review_id"))

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
