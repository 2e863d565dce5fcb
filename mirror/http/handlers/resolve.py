"""HEAD and GET /{prefix}{repo}/resolve/{revision}/{path}.

HEAD answers from metadata alone. GET serves only verified, stored bytes: a cold file is fetched and
verified first (waiting a few seconds at most, then 429 + Retry-After while the fetch goes on).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO, Literal
from urllib.parse import quote

from aiohttp import web

from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.live import LiveFile
from mirror.blobs.pipeline import Pipeline, Stored
from mirror.errors import EntryNotFound, MirrorError
from mirror.http.handlers.common import HubRequests
from mirror.http.ranges import requested_span
from mirror.http.routes import RouteMatch
from mirror.http.sendfile import send_span
from mirror.hub.catalog import Catalog
from mirror.hub.models import Credentials, RepoRef
from mirror.hub.refs import Resolved
from mirror.inventory.downloads import DownloadLog
from mirror.inventory.refusals import RefusalLog
from mirror.metrics import Metrics
from mirror.review.service import ReviewRefused, ReviewService
from mirror.revision.admission import Admission
from scanners import interpretation
from scanners.names import ANY
from storage.objects import LocalObjects, ObjectMissing, ObjectStore, ObjectStoreError
from storage.records import BlobRecord, DownloadEvent, FileEntry, ReviewRecord

log = logging.getLogger(__name__)
# Stores hand over multi-MiB chunks (fewer trips to their threads), but a write larger than the socket's
# send buffer makes asyncio copy the part the kernel did not take into its own buffer first. Writing
# in slices that fit spares that copy: hubgate's CPU per GiB streamed from S3 fell from 0.54 to 0.41 s.
_WRITE_SIZE = 1 << 20
# Marks a download log entry of an anonymous caller whose upstream requests carried the service token.
ANONYMOUS_VIA_SERVICE = "[service-token]"


def served_etag(entry: FileEntry) -> str:
    """The ETag clients get: the Hub's, plus the meaning the path gives the bytes when that is not `any`.

    huggingface_hub names its cache blob after the ETag and never checks bytes against it, so two paths of
    one repository with the same bytes share one cached blob: a client that got `notes.txt` would complete
    `modeling_x.py` from its own cache without asking hubgate for it. hubgate's verdicts are per content and
    meaning, so the ETag it hands out names both: the client only ever completes a `.py` from bytes
    hubgate served as a `.py`.
    """
    meaning = interpretation(entry.path)
    return entry.etag if meaning == ANY else f"{entry.etag}.{meaning.replace('/', '+')}"


def file_headers(entry: FileEntry, commit: str) -> dict[str, str]:
    """The headers the Hub client needs to name, size and place a file in its cache."""
    filename = quote(entry.path.rsplit("/", 1)[-1])
    etag = served_etag(entry)
    headers = {
        "X-Repo-Commit": commit,
        "ETag": f'"{etag}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        # Files are served on the review page's origin: a browser must save them, never render or run
        # them there (the Hub sends the same CSP). huggingface_hub reads the name with the pattern
        # `filename="(?P<filename>.*?)";` (file_download.HEADER_FILENAME_PATTERN): keep the quotes and `;`.
        "Content-Disposition": f"attachment; filename*=UTF-8''{filename}; filename=\"{filename}\";",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if entry.lfs_sha256 is not None:
        headers["X-Linked-Etag"] = f'"{etag}"'
        headers["X-Linked-Size"] = str(entry.size)
    return headers


@dataclass(frozen=True, slots=True)
class ServingOptions:
    fetch_wait_s: float  # how long a GET waits for a cold file before answering 429 + Retry-After
    stream_while_downloading: bool
    serve_mode: Literal["stream", "redirect"]  # redirect: a 302 to a presigned URL where the store has one
    presign_expires_s: int


class FileServer:
    """HEAD and GET of a file: metadata from the catalog, bytes only once verified and approved."""

    def __init__(
        self,
        *,
        requests: HubRequests,
        catalog: Catalog,
        admission: Admission,
        pipeline: Pipeline,
        reviews: ReviewService,
        store: ObjectStore,
        downloads: DownloadLog,
        refusals: RefusalLog,
        metrics: Metrics,
        options: ServingOptions,
    ) -> None:
        self._requests = requests
        self._catalog = catalog
        self._admission = admission
        self._pipeline = pipeline
        self._reviews = reviews
        self._store = store
        self._downloads = downloads
        self._refusals = refusals
        self._metrics = metrics
        self._options = options

    async def resolve(self, request: web.Request, match: RouteMatch) -> web.StreamResponse:
        revision = match.pinned_revision
        creds = self._requests.credentials(request)
        repo = await self._requests.target_repo(request, match)
        held, warning = await self._requests.held_revision(request, repo, revision)
        resolved = await self._catalog.resolve(repo, held, creds, reading_files=True)
        try:
            await self._admission.admit_revision(repo, resolved.commit, creds)
            return await self._answer(request, match, repo, resolved, creds, warning=warning)
        except MirrorError as exc:
            # Every answer about a resolved file names its commit, errors included: the client needs it.
            if exc.commit is None:
                exc.commit = resolved.commit
            if isinstance(exc, ReviewRefused):
                # Who tried to get what a review refuses (HEAD too: it is how huggingface_hub asks first).
                self._refusals.note(
                    exc.review,
                    repo_type=repo.repo_type.value,
                    repo_id=repo.repo_id,
                    commit=resolved.commit,
                    path=match.path,
                    identity=identity_of(creds),
                    client=_client_label(request, creds),
                    method=request.method,
                )
            raise

    async def _answer(
        self,
        request: web.Request,
        match: RouteMatch,
        repo: RepoRef,
        resolved: Resolved,
        creds: Credentials,
        *,
        warning: str | None,
    ) -> web.StreamResponse:
        entry = await self._catalog.file_entry(repo, resolved.commit, match.path, creds)
        if entry is None:
            raise EntryNotFound(f"{match.path} does not exist in {repo} at {resolved.commit}")

        headers = file_headers(entry, resolved.commit)
        notice = self._requests.warning(stale=resolved.stale, warning=resolved.continuity or warning)
        if notice is not None:
            headers["X-HF-Warning"] = notice
        fetch = FetchRequest(repo=repo, commit=resolved.commit, entry=entry, credentials=creds)
        if request.method == "HEAD":
            # Metadata only: a known verdict is reported, an unknown one is never waited for.
            known = await self._pipeline.known(fetch)
            if known is not None:
                _require_servable(self._reviews, known.review)
            return web.Response(status=200, headers={**headers, "Content-Length": str(entry.size)})

        # A Range could complete a partial file a client holds from a failed live download on any replica.
        unverified = await self._pipeline.unverified_prefix(entry, any_replica="Range" in request.headers)
        span = requested_span(
            request.headers.get("Range"),
            if_range=request.headers.get("If-Range"),
            etag=served_etag(entry),
            size=entry.size,
            unverified_prefix=unverified,
        )
        start, end = span if span is not None else (0, entry.size)
        options = self._options
        # The object store would honour the client's Range itself: not for a file whose prefix went out
        # unverified once (requested_span may have overruled that Range).
        if options.serve_mode == "redirect" and not unverified:
            redirect = await self._presigned_redirect(request, fetch, headers=headers, creds=creds)
            if redirect is not None:
                return redirect
        # Only a request for the whole file may stream while downloading. A ranged one (a resume, a window)
        # is served from the verified store: from a live download it could join bytes of this download to
        # bytes the client holds from another one. The held-back tail keeps a failed download incomplete.
        if span is None and options.stream_while_downloading and self._pipeline.streamable(entry):
            ready = await self._pipeline.ensure_live(fetch, wait_s=options.fetch_wait_s)
            # The download may end between that answer and opening its spool file (a small file, a busy
            # machine): then the verified store serves it below.
            handle = await ready.open() if isinstance(ready, LiveFile) else None
            if isinstance(ready, LiveFile) and handle is not None:
                return await self._stream_live(
                    request, ready, handle, headers=headers, creds=creds, fetch=fetch
                )
        stored, body = await _open_servable(
            self._pipeline, self._store, fetch, (start, end), wait_s=options.fetch_wait_s
        )
        if _matches_etag(request.headers.get("If-None-Match"), served_etag(entry)):
            await body.close()
            return web.Response(status=304, headers=headers)

        response = web.StreamResponse(status=206 if span is not None else 200, headers=headers)
        response.content_length = end - start
        if span is not None:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"
        try:
            await response.prepare(request)
        except BaseException:
            await body.close()
            raise
        try:
            await body.send(request, response)
            await response.write_eof()
        finally:
            await body.close()
            await self._record_download(
                request,
                fetch,
                creds,
                sha256=stored.blob.sha256,
                state=stored.review.state,
                start=start,
                sent=body.sent,
            )
        return response

    async def _presigned_redirect(
        self, request: web.Request, fetch: FetchRequest, *, headers: dict[str, str], creds: Credentials
    ) -> web.StreamResponse | None:
        """A 302 to a short-lived presigned URL of the approved object, or None when the store has none.

        The 302 carries the headers the client needs to name and size the file (it does not follow them
        to the store for that), and the client drops its Authorization header for the store's host.
        """
        stored = await self._pipeline.ensure(fetch, wait_s=self._options.fetch_wait_s)
        _require_servable(self._reviews, stored.review)
        url = await self._store.presign_get(stored.blob.sha256, expires_s=self._options.presign_expires_s)
        if url is None:
            return None
        redirect_headers = {**headers, "Location": url, "X-Linked-Size": str(stored.blob.size)}
        redirect_headers["X-Linked-Etag"] = f'"{served_etag(fetch.entry)}"'
        await self._record_download(
            request, fetch, creds, sha256=stored.blob.sha256, state=stored.review.state, start=0, sent=0
        )
        return web.Response(status=302, headers=redirect_headers)

    async def _stream_live(
        self,
        request: web.Request,
        live: LiveFile,
        handle: BinaryIO,
        *,
        headers: dict[str, str],
        creds: Credentials,
        fetch: FetchRequest,
    ) -> web.StreamResponse:
        """The whole file while it downloads (never a range: see _answer)."""
        start, end = 0, live.size
        response = web.StreamResponse(status=200, headers=headers)
        response.content_length = end - start
        try:
            await response.prepare(request)
        except BaseException:
            handle.close()
            raise
        sent = 0
        state = "APPROVED"
        try:
            async for offset, length in live.windows(start, end):
                async for done in send_span(request, response, handle, offset, length):
                    sent += done
            await response.write_eof()
        except (MirrorError, OSError) as exc:
            # Headers are gone: the only honest answer left is a broken connection, never a complete file.
            state = "CUT"
            log.warning("cut %s mid-stream after %d bytes: %s", fetch.entry.path, sent, exc)
            if request.transport is not None:
                request.transport.abort()
        finally:
            handle.close()
            await self._record_download(
                request, fetch, creds, sha256=live_sha256(fetch), state=state, start=start, sent=sent
            )
        return response

    async def _record_download(
        self,
        request: web.Request,
        fetch: FetchRequest,
        creds: Credentials,
        *,
        sha256: str,
        state: str,
        start: int,
        sent: int,
    ) -> None:
        self._metrics.bytes_served.inc(sent)
        await self._downloads.record(
            DownloadEvent(
                blob_sha256=sha256,
                repo_type=fetch.repo.repo_type.value,
                repo_id=fetch.repo.repo_id,
                commit=fetch.commit,
                path=fetch.entry.path,
                identity=identity_of(creds),
                client=_client_label(request, creds),
                state=state,
                range_start=start,
                bytes=sent,
            )
        )


def identity_of(creds: Credentials) -> str:
    """The caller as the download log and the refusal record name it: a hash prefix of its token."""
    return "anonymous" if creds.anonymous_caller else creds.identity[:16]


def live_sha256(fetch: FetchRequest) -> str:
    return fetch.entry.lfs_sha256 or ""


def _client_label(request: web.Request, creds: Credentials) -> str:
    """The client as logged: its User-Agent, marked when an anonymous caller rode on the service token."""
    agent = request.headers.get("User-Agent", "")
    if creds.anonymous_caller and creds.token is not None:
        agent = f"{ANONYMOUS_VIA_SERVICE} {agent}"
    return agent[:200]


async def _send(response: web.StreamResponse, chunk: bytes) -> None:
    view = memoryview(chunk)
    for offset in range(0, len(view), _WRITE_SIZE):
        await response.write(view[offset : offset + _WRITE_SIZE])


def _require_servable(reviews: ReviewService, review: ReviewRecord) -> None:
    if not reviews.servable(review):
        raise reviews.refuse(review)


class _StoredChunks:
    """A stored span read through the store's API (S3): chunks written as they come."""

    def __init__(self, chunks: AsyncGenerator[bytes, None]) -> None:
        self._chunks = chunks
        self.sent = 0

    async def send(self, request: web.Request, response: web.StreamResponse) -> None:
        async for chunk in self._chunks:
            await _send(response, chunk)
            self.sent += len(chunk)

    async def close(self) -> None:
        await self._chunks.aclose()


class _StoredFile:
    """A stored span of a local object (the filesystem store): sent by the kernel."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        self._handle = handle
        self._start = start
        self._end = end
        self.sent = 0

    async def send(self, request: web.Request, response: web.StreamResponse) -> None:
        count = self._end - self._start
        async for done in send_span(request, response, self._handle, self._start, count):
            self.sent += done

    async def close(self) -> None:
        self._handle.close()


async def _open_servable(
    pipeline: Pipeline,
    store: ObjectStore,
    fetch: FetchRequest,
    span: tuple[int, int],
    *,
    wait_s: float,
) -> tuple[Stored, _StoredChunks | _StoredFile]:
    """The approved, stored bytes [start, end) of the file, fetching, scanning and deciding it if needed.

    The review is checked on every request (a decision on any replica applies at once), and the object is
    opened (or its first chunk read) before any header is sent, so an object that vanished from the store
    is fetched again instead of failing the client half-way.
    """
    start, end = span
    for attempt in (1, 2):
        stored = await pipeline.ensure(fetch, wait_s=wait_s)
        _require_servable(pipeline.gate.reviews, stored.review)
        try:
            body = await _open_stored(store, stored.blob, start, end)
        except ObjectMissing:
            if attempt == 2:
                raise
            await pipeline.forget(stored.blob)
            continue
        return stored, body
    raise AssertionError("unreachable")  # pragma: no cover


async def _open_stored(
    store: ObjectStore, blob: BlobRecord, start: int, end: int
) -> _StoredChunks | _StoredFile:
    if isinstance(store, LocalObjects):
        handle = await store.open_local(blob.sha256)
        # The object is content-addressed and published whole (verified first): one of another size is
        # damaged, and is not served.
        if os.fstat(handle.fileno()).st_size != blob.size:
            handle.close()
            raise ObjectStoreError(f"stored object {blob.sha256} does not have its recorded size")
        return _StoredFile(handle, start, end)
    chunks = store.open_range(blob.sha256, start, end)
    first = await anext(chunks, b"")
    return _StoredChunks(_prepend(first, chunks))


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


def _matches_etag(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {value.strip().removeprefix("W/").strip('"') for value in header.split(",")}
    return etag in candidates or "*" in candidates
