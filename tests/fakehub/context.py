"""What every Hub handler needs, resolved once per request, and small helpers they share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakehub import errors
from tests.fakehub.access import Caller
from tests.fakehub.bodies import MemoryBytes, send_bytes
from tests.fakehub.compression import Coding, negotiate
from tests.fakehub.faults import Effect
from tests.fakehub.hub import FakeHub
from tests.fakehub.repo import FakeRepo, ResolvedRevision
from tests.fakehub.routing import split_revision


@dataclass(frozen=True)
class PublicUrls:
    """Where the two fake servers listen, as clients should address them (no trailing slash)."""

    hub: str
    cdn: str


@dataclass(frozen=True)
class HubRequest:
    request: web.Request
    hub: FakeHub
    urls: PublicUrls
    caller: Caller
    effects: tuple[Effect, ...]

    def require_method(self, *allowed: str) -> None:
        if self.request.method not in allowed:
            raise errors.method_not_allowed()

    def flag(self, name: str) -> bool:
        return parse_bool(self.request.rel_url.query.get(name))

    def coding(self) -> Coding | None:
        """The content coding this request negotiates for a compressible body (None: identity)."""
        return negotiate(self.request.method, self.request.headers, enabled=self.hub.compress)

    async def send_json(self, body: Any, *, headers: Mapping[str, str] | None = None) -> web.StreamResponse:
        """JSON as the Hub sends it: gzip-compressed by its CDN when the client accepts it."""
        data = json.dumps(body, separators=(",", ":")).encode()
        return await send_bytes(
            self.request,
            MemoryBytes(data),
            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
            effects=self.effects,
            ranges=False,
            coding=self.coding(),
            compressible=self.hub.compress,
        )


def parse_bool(value: str | None) -> bool:
    """Case-insensitive: 0.36 sends `True`, 1.x and later `true`."""
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def resolve_revision(
    repo: FakeRepo, rest: tuple[str, ...], *, keep: int
) -> tuple[ResolvedRevision, tuple[str, ...]]:
    """The revision at the start of `rest` and the segments after it; RevisionNotFound otherwise."""
    name, resolved, tail = split_revision(rest, repo.resolve, keep=keep)
    if resolved is None:
        raise errors.revision_not_found(name)
    return resolved, tail
