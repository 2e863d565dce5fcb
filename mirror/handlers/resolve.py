"""HEAD and GET /{prefix}{repo}/resolve/{revision}/{path}.

HEAD answers from metadata alone. GET serves only verified, stored bytes: a cold file is fetched and
verified first (waiting a few seconds at most, then 429 + Retry-After while the fetch goes on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from aiohttp import web

from mirror.errors import EntryNotFound, MirrorError
from mirror.handlers.common import STALE_WARNING, credentials, services
from mirror.hub.models import Credentials
from mirror.pipeline import FetchRequest
from mirror.ranges import parse_range
from mirror.revisions import Resolved
from mirror.routes import RouteMatch
from mirror.services import Services
from storage.objects import ObjectMissing
from storage.records import FileEntry


def file_headers(entry: FileEntry, commit: str) -> dict[str, str]:
    """The headers the Hub client needs to name, size and place a file in its cache."""
    filename = entry.path.rsplit("/", 1)[-1]
    headers = {
        "X-Repo-Commit": commit,
        "ETag": f'"{entry.etag}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}; filename=\"{quote(filename)}\";",
    }
    if entry.lfs_sha256 is not None:
        headers["X-Linked-Etag"] = f'"{entry.lfs_sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
    return headers


async def resolve(request: web.Request, match: RouteMatch) -> web.StreamResponse:
    repo, revision = match.target, match.pinned_revision
    mirror = services(request)
    creds = credentials(request)
    resolved = await mirror.catalog.resolve(repo, revision, creds, reading_files=True)
    try:
        return await _answer(request, match, resolved, creds)
    except MirrorError as exc:
        # Every answer about a resolved file names its commit, errors included: the client needs it.
        if exc.commit is None:
            exc.commit = resolved.commit
        raise


async def _answer(
    request: web.Request, match: RouteMatch, resolved: Resolved, creds: Credentials
) -> web.StreamResponse:
    mirror = services(request)
    repo = match.target
    entry = await mirror.catalog.file_entry(repo, resolved.commit, match.path, creds)
    if entry is None:
        raise EntryNotFound(f"{match.path} does not exist in {repo} at {resolved.commit}")

    headers = file_headers(entry, resolved.commit)
    if resolved.stale:
        headers["X-HF-Warning"] = STALE_WARNING
    if request.method == "HEAD":
        return web.Response(status=200, headers={**headers, "Content-Length": str(entry.size)})
    if _matches_etag(request.headers.get("If-None-Match"), entry.etag):
        return web.Response(status=304, headers=headers)

    span = parse_range(request.headers.get("Range"), entry.size)
    start, end = span if span is not None else (0, entry.size)
    fetch = FetchRequest(repo=repo, commit=resolved.commit, entry=entry, credentials=creds)
    chunks = await _open_stored(mirror, fetch, start, end)

    response = web.StreamResponse(status=206 if span is not None else 200, headers=headers)
    response.content_length = end - start
    if span is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def _open_stored(mirror: Services, fetch: FetchRequest, start: int, end: int) -> AsyncIterator[bytes]:
    """The stored bytes [start, end) of the file, fetching it first if needed.

    The first chunk is read before any header is sent, so an object that vanished from the store is
    fetched again instead of failing the client half-way.
    """
    for attempt in (1, 2):
        blob = await mirror.pipeline.ensure(fetch, wait_s=mirror.settings.server.fetch_wait_s)
        chunks = mirror.store.open_range(blob.sha256, start, end)
        try:
            first = await anext(chunks, b"")
        except ObjectMissing:
            if attempt == 2:
                raise
            await mirror.pipeline.forget(blob)
            continue
        return _prepend(first, chunks)
    raise AssertionError("unreachable")  # pragma: no cover


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


def _matches_etag(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {value.strip().removeprefix("W/").strip('"') for value in header.split(",")}
    return etag in candidates or "*" in candidates
