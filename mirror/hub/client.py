"""The upstream Hub client: one aiohttp ClientSession, coded errors, redirects followed here.

hubgate follows upstream redirects itself and never relays a Location to its clients:
* metadata calls follow only redirects within the upstream's own origin (the Hub answers a renamed
  repository's old name with a relative 307: huggingface_hub's `_request_wrapper(follow_relative_redirects)`);
* file downloads also follow redirects to the hosts `upstream.redirect_hosts` allows (the Hub's CDNs),
  checked by mirror.hub.egress before any request is made. `Authorization` never leaves the upstream's
  origin, and error text is relayed to clients only when the upstream itself wrote it.
Bodies are decoded here, within a bound on their decoded size (mirror.hub.codings), and a 429 makes
every later request of the same identity wait as the Hub asked (mirror.hub.ratelimit).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import quote, urlencode, urljoin

import aiohttp
from pydantic import SecretStr
from yarl import URL

from mirror.config import UpstreamSettings
from mirror.errors import (
    MirrorError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRedirectRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mirror.hub.codings import FILE_ACCEPT_ENCODING, METADATA_ACCEPT_ENCODING, BodyDecoder
from mirror.hub.egress import RedirectGuard, RefusedAddress
from mirror.hub.models import Credentials, RepoRef
from mirror.hub.ratelimit import API, RESOLVERS, UpstreamRateLimits

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_ERROR_BYTES = 1 << 16
_PASSED_THROUGH = frozenset({400, 401, 403, 404, 410, 413, 416, 422, 451})
# A download's socket is paused once twice this much waits unread (aiohttp's default, 64 KiB, pauses and
# resumes it every few hundred KiB at loopback speeds).
_FILE_READ_BUFFER = 1 << 20


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


class UpstreamBody:
    """The body of a file download, decoded: the bytes the Hub's digests describe."""

    def __init__(self, response: aiohttp.ClientResponse, *, limit: int, path: str) -> None:
        self._response = response
        self._decoder = BodyDecoder(
            response.headers.get("Content-Encoding"), limit=limit, what=f"download of {path}"
        )

    @property
    def content_length(self) -> int | None:
        """The announced length of the decoded bytes, when the transfer is not encoded."""
        return self._response.content_length if self._decoder.identity else None

    async def chunks(self) -> AsyncIterator[bytes]:
        # Whatever the socket delivered, as it was delivered: iter_chunked(n) would join pieces into new
        # bytes objects of n, a copy of every byte (the spool gathers chunks into blocks without copying).
        stream = (data async for data, _end_of_http_chunk in self._response.content.iter_chunks() if data)
        if self._decoder.identity:
            async for chunk in stream:
                yield chunk
            return
        # A compressed transfer of a file (a CDN compressing text although hubgate asked for identity):
        # decoded off the event loop, hashed and stored decoded, so digests are checked on the real bytes.
        loop = asyncio.get_running_loop()
        async for chunk in stream:
            decoded = await loop.run_in_executor(None, self._decoder.decode, chunk)
            if decoded:
                yield decoded
        tail = self._decoder.finish()
        if tail:
            yield tail


class HubClient:
    """Talks to the upstream Hub (huggingface.co or another mirror)."""

    def __init__(
        self,
        settings: UpstreamSettings,
        session: aiohttp.ClientSession,
        *,
        guard: RedirectGuard,
        limits: UpstreamRateLimits,
    ) -> None:
        self._settings = settings
        self._session = session
        self._guard = guard
        self._limits = limits
        self.endpoint = settings.endpoint
        self._metadata_timeout = aiohttp.ClientTimeout(
            total=settings.metadata_timeout_s, sock_connect=settings.connect_timeout_s
        )

    def credentials(self, client_token: str | None) -> Credentials:
        """The client's own token when it sent one, else the configured service token, else none.

        The service token goes upstream for anonymous callers either way (the Hub's rate limit for a
        token is far higher than for an anonymous IP, and a whole company shares hubgate's IP); it grants
        them private and gated repositories only with `upstream.service_token_for_anonymous`.
        """
        if client_token:
            return Credentials(token=SecretStr(client_token), source="client")
        if self._settings.token is not None:
            source = "service" if self._settings.service_token_for_anonymous else "service-public"
            return Credentials(token=self._settings.token, source=source)
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
        self._limits.check(credentials.identity, API)
        url = f"{self.endpoint}{path}"
        if params:
            url += f"?{urlencode(list(params))}"
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": METADATA_ACCEPT_ENCODING,
            **credentials.authorization(),
        }
        body = None if form is None else urlencode(list(form)).encode()
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            for _hop in range(self._settings.max_redirects + 1):
                async with self._session.request(
                    method,
                    URL(url, encoded=True),
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._metadata_timeout,
                ) as response:
                    if response.status in _REDIRECTS:
                        url = self._same_origin_target(url, response)
                        continue
                    text = await _read_decoded(response, self._settings.max_json_bytes, "JSON answer")
                    if response.status == 429:
                        raise self._limits.limited(credentials.identity, API, response.headers)
                    if response.status >= 400:
                        raise _upstream_error(response, text, trusted=True)
                    next_link = response.links.get("next")
                    link_next = None if next_link is None else next_link.get("url")
                    return JsonAnswer(body=text, link_next=None if link_next is None else str(link_next))
            raise _too_many_redirects(self._settings.max_redirects)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            msg = f"upstream {self.endpoint} did not answer in time"
            raise UpstreamTimeout(msg) from exc
        except aiohttp.ClientError as exc:
            raise _unreachable(self.endpoint, exc) from exc

    def _same_origin_target(self, url: str, response: aiohttp.ClientResponse) -> str:
        """Where a metadata redirect points, if it stays on the upstream (a renamed repository)."""
        location = response.headers.get("Location")
        if not location:
            msg = "upstream redirected without a Location"
            raise UpstreamProtocolError(msg)
        target = urljoin(url, location)
        if not self._guard.is_upstream(target):
            msg = "upstream redirected a metadata call to another host; hubgate follows only its own"
            raise UpstreamRedirectRefused(msg)
        return target

    @asynccontextmanager
    async def open_file(
        self, repo: RepoRef, commit: str, path: str, *, credentials: Credentials, expected_size: int
    ) -> AsyncIterator[UpstreamBody]:
        """Open the content of `path` at `commit`, following allowed redirects; yields its decoded body.

        Decoding stops past `expected_size` bytes (the caller fails the size check on one byte more).
        """
        self._limits.check(credentials.identity, RESOLVERS)
        url = f"{self.endpoint}/{repo.repo_type.url_prefix}{repo.repo_id}/resolve/{commit}/{quote(path)}"
        headers = {"Accept-Encoding": FILE_ACCEPT_ENCODING, **credentials.authorization()}
        try:
            for _hop in range(self._settings.max_redirects + 1):
                response = await self._session.get(
                    URL(url, encoded=True),
                    headers=headers,
                    allow_redirects=False,
                    read_bufsize=_FILE_READ_BUFFER,
                )
                if response.status in _REDIRECTS:
                    location = response.headers.get("Location")
                    response.release()
                    if not location:
                        msg = "upstream redirected without a Location"
                        raise UpstreamProtocolError(msg)
                    url = urljoin(url, location)
                    self._guard.check(url)
                    if not self._guard.is_upstream(url):
                        # The CDN gets a signed URL; the user's token stays with the Hub.
                        headers = {"Accept-Encoding": FILE_ACCEPT_ENCODING}
                    continue
                if response.status != 200:
                    await self._raise_for_file(response, url, credentials)
                try:
                    yield UpstreamBody(response, limit=expected_size + 1, path=path)
                finally:
                    response.release()
                return
            raise _too_many_redirects(self._settings.max_redirects)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            msg = f"upstream {self.endpoint} stopped answering while sending {path}"
            raise UpstreamTimeout(msg) from exc
        except aiohttp.ClientPayloadError as exc:
            msg = f"upstream sent an incomplete body for {path}"
            raise UpstreamProtocolError(msg) from exc
        except aiohttp.ClientError as exc:
            raise _unreachable(self.endpoint, exc) from exc

    async def _raise_for_file(
        self, response: aiohttp.ClientResponse, url: str, credentials: Credentials
    ) -> NoReturn:
        from_upstream = self._guard.is_upstream(url)
        try:
            body = await _read_decoded(response, _MAX_ERROR_BYTES, "error answer")
        finally:
            response.release()
        if response.status == 429 and from_upstream:
            raise self._limits.limited(credentials.identity, RESOLVERS, response.headers)
        raise _upstream_error(response, body, trusted=from_upstream)


def _unreachable(endpoint: str, exc: aiohttp.ClientError) -> MirrorError:
    refused = getattr(exc, "os_error", None)
    if isinstance(refused, RefusedAddress):
        return UpstreamRedirectRefused(str(refused))
    return UpstreamUnavailable(f"upstream {endpoint} is unreachable ({type(exc).__name__})")


def _too_many_redirects(limit: int) -> UpstreamProtocolError:
    return UpstreamProtocolError(f"upstream redirected more than {limit} times")


async def _read_decoded(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The whole body, decoded, refusing more than `limit` bytes before or after decoding."""
    decoder = BodyDecoder(response.headers.get("Content-Encoding"), limit=limit, what=what)
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.content.iter_any():
        received += len(chunk)
        if received > limit:
            msg = f"upstream's {what} is larger than {limit} bytes"
            raise UpstreamProtocolError(msg)
        chunks.append(decoder.decode(chunk))
    chunks.append(decoder.finish())
    return b"".join(chunks)


def _upstream_error(response: aiohttp.ClientResponse, body: bytes, *, trusted: bool) -> MirrorError:
    """Map an upstream error answer to ours, keeping the Hub's own code and message for client errors.

    Only the upstream's own answers are `trusted`: a CDN's or storage host's error text and codes never
    reach clients (it could say anything, and its 403 means an expired URL, not a gated repository).
    """
    status = response.status
    commit = response.headers.get("X-Repo-Commit") if trusted else None
    if not trusted:
        message = f"upstream's download host {response.url.host or '?'} answered {status}"
        return UpstreamUnavailable(message) if status >= 500 else UpstreamError(message)
    code = response.headers.get("X-Error-Code")
    message = response.headers.get("X-Error-Message") or _json_error(body) or f"upstream answered {status}"
    if status in _PASSED_THROUGH:
        return MirrorError(message, status=status, code=code or _default_code(status), commit=commit)
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
