"""The upstream Hub client: one aiohttp ClientSession, coded errors, redirects followed here.

hubgate follows upstream redirects itself (to the CDN or Xet bridge) and never relays a Location to
its clients. The Authorization header never leaves the upstream host's origin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
from pydantic import SecretStr

from mirror.config import UpstreamSettings
from mirror.errors import (
    MirrorError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mirror.hub.models import Credentials, RepoRef

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_JSON_BYTES = 256 << 20
_PASSED_THROUGH = frozenset({400, 401, 403, 404, 410, 413, 416, 422, 451})


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    body: bytes
    link_next: str | None

    def parsed(self) -> object:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            msg = "upstream answered malformed JSON"
            raise UpstreamProtocolError(msg) from exc


class HubClient:
    """Talks to the upstream Hub (huggingface.co or another mirror)."""

    def __init__(self, settings: UpstreamSettings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self.endpoint = settings.endpoint
        self._metadata_timeout = aiohttp.ClientTimeout(
            total=settings.metadata_timeout_s, sock_connect=settings.connect_timeout_s
        )

    def credentials(self, client_token: str | None) -> Credentials:
        """The client's own token when it sent one, else the configured service token, else none."""
        if client_token:
            return Credentials(token=SecretStr(client_token), source="client")
        if self._settings.token is not None:
            return Credentials(token=self._settings.token, source="service")
        return Credentials(token=None, source="anonymous")

    async def get_json(
        self, path: str, *, params: Sequence[tuple[str, str]] = (), credentials: Credentials
    ) -> JsonAnswer:
        return await self._json_request("GET", path, params=params, form=None, credentials=credentials)

    async def post_form(
        self, path: str, *, form: Sequence[tuple[str, str]], credentials: Credentials
    ) -> JsonAnswer:
        return await self._json_request("POST", path, params=(), form=form, credentials=credentials)

    async def _json_request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]],
        form: Sequence[tuple[str, str]] | None,
        credentials: Credentials,
    ) -> JsonAnswer:
        url = f"{self.endpoint}{path}"
        headers = {"Accept": "application/json", **credentials.authorization()}
        data = aiohttp.FormData(list(form)) if form is not None else None
        try:
            async with self._session.request(
                method,
                url,
                params=list(params),
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=self._metadata_timeout,
            ) as response:
                body = await _read_limited(response, _MAX_JSON_BYTES)
                if response.status >= 400 or response.status in _REDIRECTS:
                    raise _upstream_error(response, body)
                next_link = response.links.get("next")
                link_next = None if next_link is None else next_link.get("url")
                return JsonAnswer(body=body, link_next=None if link_next is None else str(link_next))
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            msg = f"upstream {self.endpoint} did not answer in time"
            raise UpstreamTimeout(msg) from exc
        except aiohttp.ClientError as exc:
            msg = f"upstream {self.endpoint} is unreachable ({type(exc).__name__})"
            raise UpstreamUnavailable(msg) from exc

    @asynccontextmanager
    async def open_file(
        self, repo: RepoRef, commit: str, path: str, *, credentials: Credentials
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open the content of `path` at `commit`, following redirects; yields a 200 response to stream."""
        url = f"{self.endpoint}/{repo.repo_type.url_prefix}{repo.repo_id}/resolve/{commit}/{quote(path)}"
        headers = {"Accept-Encoding": "identity", **credentials.authorization()}
        origin = _origin(url)
        try:
            for _hop in range(self._settings.max_redirects + 1):
                response = await self._session.get(url, headers=headers, allow_redirects=False)
                if response.status in _REDIRECTS:
                    location = response.headers.get("Location")
                    response.release()
                    if not location:
                        msg = "upstream redirected without a Location"
                        raise UpstreamProtocolError(msg)
                    url = urljoin(url, location)
                    if _origin(url) != origin:
                        # The CDN gets a signed URL; the user's token stays with the Hub.
                        headers = {"Accept-Encoding": "identity"}
                    continue
                if response.status != 200:
                    body = await _read_limited(response, 1 << 16)
                    response.release()
                    raise _upstream_error(response, body)
                try:
                    yield response
                finally:
                    response.release()
                return
            msg = f"upstream redirected more than {self._settings.max_redirects} times"
            raise UpstreamProtocolError(msg)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            msg = f"upstream {self.endpoint} stopped answering while sending {path}"
            raise UpstreamTimeout(msg) from exc
        except aiohttp.ClientPayloadError as exc:
            msg = f"upstream sent an incomplete body for {path}"
            raise UpstreamProtocolError(msg) from exc
        except aiohttp.ClientError as exc:
            msg = f"upstream {self.endpoint} is unreachable ({type(exc).__name__})"
            raise UpstreamUnavailable(msg) from exc


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_any():
        total += len(chunk)
        if total > limit:
            msg = f"upstream answer is larger than {limit} bytes"
            raise UpstreamProtocolError(msg)
        chunks.append(chunk)
    return b"".join(chunks)


def _upstream_error(response: aiohttp.ClientResponse, body: bytes) -> MirrorError:
    """Map an upstream error answer to ours, keeping the Hub's own code and message for client errors."""
    status = response.status
    code = response.headers.get("X-Error-Code")
    message = response.headers.get("X-Error-Message") or _json_error(body) or f"upstream answered {status}"
    commit = response.headers.get("X-Repo-Commit")
    if status in _PASSED_THROUGH:
        return MirrorError(message, status=status, code=code or _default_code(status), commit=commit)
    if status == 429:
        return UpstreamUnavailable(f"upstream is rate-limiting hubgate: {message}", commit=commit)
    if status in _REDIRECTS:
        return UpstreamProtocolError(f"upstream answered an unexpected redirect ({status})", commit=commit)
    return UpstreamUnavailable(f"upstream failed with {status}: {message}", commit=commit)


def _default_code(status: int) -> str:
    return {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(status, "UpstreamClientError")


def _json_error(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    return None
