"""ensure(file): single-flight -> fetch -> verify -> scan -> decide -> store -> record.

Nothing is written to the object store, and no row is committed, before the bytes have been hashed and
matched against the digest and size the Hub's metadata announced. A verified file is scanned in the
process pool and decided by policy; its object is stored whatever the verdict (so reviewers can look
and an approval needs no new download) but only an APPROVED review lets anyone have it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cachetools import LRUCache

from mirror.blobs.checkpoint_stream import judge_torch_zip
from mirror.blobs.external_data import ONNX_DATA
from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.gate import Gate, covered_interpretations
from mirror.blobs.leases import FetchLeases
from mirror.blobs.live import HOLDBACK_BYTES, LiveFile
from mirror.blobs.scanqueue import SCAN_OWNER
from mirror.blobs.spool import Digests, Spool
from mirror.errors import AccessDenied, IntegrityError, ScanPending
from mirror.hub.client import HubClient
from mirror.metrics import Metrics
from mirror.singleflight import SingleFlight
from scanners import interpretation
from scanners.torch_zip_stream import starts_like_torch_zip
from storage.db import DATABASE_ERRORS
from storage.objects import GrowingFile, ObjectStore, is_key
from storage.records import BlobRecord, FileEntry, ReviewRecord
from storage.repository import MetadataRepository
from storage.unverified_prefixes import UnverifiedPrefixStore

log = logging.getLogger(__name__)
_MAX_STREAMED_HEADER = 16 << 20  # a larger header waits for the full scan instead of streaming
_RECORD_UNVERIFIED_S = 5.0
_RECORD_FAILURES: tuple[type[Exception], ...] = (*DATABASE_ERRORS, TimeoutError)
# Names torch.load is pointed at (transformers' pytorch_model*.bin, diffusers', .pt/.pth/.ckpt files):
# such a file may stream if its first bytes are a PyTorch zip checkpoint's (see checkpoint_stream).
_CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def blob_key(entry: FileEntry) -> str:
    """How a file's content is named before it is fetched: its sha256 (LFS) or its git blob sha1."""
    return entry.lfs_sha256 or f"git-sha1:{entry.git_oid}"


def needs_git_sha1(entry: FileEntry) -> bool:
    """Whether the Hub describes the file by its git blob sha1 (kept in git) rather than its sha256 (LFS).

    For an LFS file the git id is its pointer's: hashing the content with sha1 would check nothing.
    """
    return entry.lfs_sha256 is None


def flight_key(entry: FileEntry) -> str:
    """One fetch-and-decide per blob and meaning: a path that gives the bytes another meaning (code, a
    template) never joins, and never inherits, the decision made for a path of another meaning."""
    return f"{blob_key(entry)}|{interpretation(entry.path)}"


def verify_digests(request: FetchRequest, digests: Digests) -> None:
    """The bytes are exactly what the Hub's metadata announced, or IntegrityError."""
    entry = request.entry
    if digests.size != entry.size:
        msg = f"{entry.path}: upstream sent {digests.size} bytes, the Hub announced {entry.size}"
        raise IntegrityError(msg, commit=request.commit)
    if entry.lfs_sha256 is not None and digests.sha256 != entry.lfs_sha256:
        msg = f"{entry.path}: sha256 {digests.sha256} does not match the Hub's {entry.lfs_sha256}"
        raise IntegrityError(msg, commit=request.commit)
    if entry.lfs_sha256 is None and (digests.git_sha1 is None or digests.git_sha1 != entry.git_oid):
        msg = f"{entry.path}: git blob sha1 {digests.git_sha1} does not match the Hub's {entry.git_oid}"
        raise IntegrityError(msg, commit=request.commit)


def _cache_keys(blob: BlobRecord) -> tuple[str, ...]:
    """The blob keys a stored blob may be cached under (see blob_key)."""
    return (blob.sha256,) if blob.git_sha1 is None else (blob.sha256, f"git-sha1:{blob.git_sha1}")


def _retrieve(upload: asyncio.Task[None]) -> None:
    """Take an abandoned upload's outcome (ObjectDiscarded, or the store's own failure): not news."""
    if not upload.cancelled() and upload.exception() is not None:
        log.debug("abandoned upload: %s", upload.exception())


def _check_announced_size(request: FetchRequest, announced: int | None) -> None:
    if announced is not None and announced != request.entry.size:
        entry = request.entry
        msg = f"{entry.path}: upstream announced {announced} bytes, the Hub's metadata {entry.size}"
        raise IntegrityError(msg, commit=request.commit)


def _read_prefix(path: Path, length: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(length)


@dataclass(frozen=True, slots=True)
class Stored:
    blob: BlobRecord
    review: ReviewRecord


class Pipeline:
    def __init__(
        self,
        *,
        hub: HubClient,
        repository: MetadataRepository,
        store: ObjectStore,
        spool_dir: Path,
        gate: Gate,
        metrics: Metrics,
        leases: FetchLeases,
        unverified: UnverifiedPrefixStore,
    ) -> None:
        self._leases = leases
        self._shared_unverified = unverified
        self._metrics = metrics
        self._hub = hub
        self._repository = repository
        self._store = store
        self._spool_dir = spool_dir
        self.gate = gate
        self.flights: SingleFlight[str, Stored] = SingleFlight()
        # Uploads of files that failed, ending in the background (an S3 abort waits for parts in flight):
        # the failed fetch is over at once, so that a retry starts afresh instead of joining it.
        self._abandoned: set[asyncio.Task[None]] = set()
        self._live: dict[str, LiveFile] = {}  # fetches that clients may read while they download
        # Blob key -> the longest prefix that readers of a live download were given before that download
        # failed. Those bytes were never verified: clients may hold them in a partial file, and no later
        # answer may complete such a prefix (see unverified_prefix). Recorded in the database too, for the
        # other replicas: a client cut by this one may resume on any of them.
        self._unverified: LRUCache[str, int] = LRUCache(maxsize=100_000)
        # Blobs known to be stored, by blob key: a warm request touches neither the blobs table nor the store.
        self._stored: LRUCache[str, BlobRecord] = LRUCache(maxsize=100_000)

    async def stored_blob(self, entry: FileEntry) -> BlobRecord | None:
        """The blob holding `entry` if it is stored and its object present."""
        key = blob_key(entry)
        blob = self._stored.get(key)
        if blob is not None:
            return blob
        blob = await self._repository.find_blob(entry)
        if blob is None:
            return None
        if await self._store.stat(blob.sha256) is None:
            await self.forget(blob)
            return None
        self._stored[key] = blob
        return blob

    async def forget(self, blob: BlobRecord) -> None:
        """A recorded blob's object is gone (deleted by hand, lost by the store): fetch it again next time."""
        log.warning(
            "blob %s is recorded but missing from the object store; it will be fetched again", blob.sha256
        )
        for key in _cache_keys(blob):
            self._stored.pop(key, None)
        await self._repository.forget_blob(blob.sha256)

    async def evict(self, blob: BlobRecord) -> None:
        """Drop a blob from the store for space (retention); its review stays for when it comes back."""
        await self._store.delete(blob.sha256)
        for key in _cache_keys(blob):
            self._stored.pop(key, None)
        await self._repository.forget_blob(blob.sha256)

    async def known(self, request: FetchRequest) -> Stored | None:
        """The stored blob and its current review, without fetching anything (for HEAD).

        None when the verdict on the blob was not reached under the meaning this path gives its bytes
        (`notes.txt` approved says nothing about the same bytes as `modeling_x.py`): that is a new decision.
        """
        blob = await self.stored_blob(request.entry)
        if blob is None:
            return None
        review = await self.gate.reviews.current("blob", blob.sha256)
        if review is None or not await self.covers(request, review):
            return None
        return Stored(blob=blob, review=review)

    async def covers(self, request: FetchRequest, review: ReviewRecord) -> bool:
        """Whether `review` was reached under the meaning the request's path has in its commit."""
        covered = covered_interpretations(review)
        plain = interpretation(request.entry.path)
        if plain in covered:
            return True
        # Tensor data an ONNX graph of this commit declares: its meaning comes from the commit.
        return ONNX_DATA in covered and await self.gate.declares_tensor_data(request)

    async def ensure(self, request: FetchRequest, *, wait_s: float | None = None) -> Stored:
        """The stored blob and its review for the request's file, fetching, scanning and deciding if needed.

        Waits at most `wait_s` seconds (None: as long as it takes), then raises ScanPending while the work
        goes on in the background. Raises the fetch's MirrorError when it fails, AccessDenied when policy
        refuses the file before it is downloaded.
        """
        known = await self.known(request)
        if known is not None:
            self._metrics.cache.labels("hit").inc()
            return known
        self._metrics.cache.labels("miss").inc()
        precheck = self.gate.policy.precheck_file(self.gate.facts_before_fetch(request))
        if precheck.enforced:
            raise AccessDenied(f"blocked by hubgate policy: {precheck.summary()}", commit=request.commit)
        entry = request.entry
        key = flight_key(entry)
        if self.flights.running(key):
            self._metrics.singleflight_waits.inc()
        task = self.flights.start(key, lambda: self._make_available(request))
        try:
            stored = await asyncio.wait_for(asyncio.shield(task), timeout=wait_s)
        except TimeoutError:
            retry_after = max(1, math.ceil(wait_s or 1))
            msg = (
                f"hubgate is still fetching, verifying and scanning {entry.path} ({entry.size} bytes); "
                f"retry in {retry_after}s"
            )
            raise ScanPending(msg, retry_after_s=retry_after, commit=request.commit) from None
        if not await self.covers(request, stored.review):  # pragma: no cover - _make_available widens first
            msg = f"the verdict on {entry.path} does not cover what its name makes of it"
            raise AccessDenied(msg, commit=request.commit)
        return stored

    async def unverified_prefix(self, entry: FileEntry, *, any_replica: bool) -> int:
        """How many leading bytes of `entry` a client may hold from a live download that then failed.

        0 when no live download of this file failed after handing bytes out: in this process, or with
        `any_replica` (for a request that could complete a partial file: one with a Range) in any of them.
        Raises DatabaseUnavailable when the other replicas' record cannot be read (fail closed).
        """
        key = blob_key(entry)
        known = self._unverified.get(key, 0)
        if not any_replica:
            return known
        return max(known, await self._shared_unverified.handed_out(key))

    @staticmethod
    def streamable(entry: FileEntry) -> bool:
        """Worth trying to stream while downloading: larger than what is held back, and named as a
        safetensors file or a checkpoint (whether it streams is decided by its first bytes)."""
        named = entry.path.endswith(".safetensors") or entry.path.lower().endswith(_CHECKPOINT_SUFFIXES)
        return named and entry.size > 2 * HOLDBACK_BYTES

    async def ensure_live(self, request: FetchRequest, *, wait_s: float) -> Stored | LiveFile:
        """Like ensure(), but a cold safetensors file is handed out as a LiveFile once its header passed,
        a PyTorch zip checkpoint once its first pickle passed."""
        known = await self.known(request)
        if known is not None:
            return known
        entry = request.entry
        key = flight_key(entry)
        live = self._live.get(key)
        if live is not None and live.outcome.done():
            if live.outcome.exception() is not None:
                # It failed and cut its readers, and is still cleaning up (its spool, its lease). A client
                # retrying the instant it was cut must get a fresh download, not inherit that failure.
                await self.flights.ended(key)
            live = None  # a download that just ended (its entry goes with its task's callback): not joined
        if live is None and not self.flights.running(key):
            precheck = self.gate.policy.precheck_file(self.gate.facts_before_fetch(request))
            if precheck.enforced:
                raise AccessDenied(f"blocked by hubgate policy: {precheck.summary()}", commit=request.commit)
            spool = Spool(self._spool_dir)
            live = LiveFile(spool.path, entry.size)
            self._live[key] = live
            task = self.flights.start(key, lambda: self._make_available(request, spool=spool, live=live))
            task.add_done_callback(functools.partial(self._forget_live, key, live))
        if live is None:
            return await self.ensure(request, wait_s=wait_s)
        try:
            if await live.wait_header(wait_s):
                return live
        except TimeoutError:
            pass
        # Not streamable (the header failed, or is not safetensors): wait for the whole verdict instead.
        return await self.ensure(request, wait_s=0 if live.outcome.done() else wait_s)

    def _forget_live(self, key: str, live: LiveFile, _done: object) -> None:
        if self._live.get(key) is live:  # not a newer download of the same file
            del self._live[key]

    async def _make_available(
        self, request: FetchRequest, *, spool: Spool | None = None, live: LiveFile | None = None
    ) -> Stored:
        """Fetch (or decide) under the cross-replica lease; wait for the replica that holds it otherwise."""
        key = blob_key(request.entry)
        # This task's scans queue under the file's repository (the scan queue is fair by repository).
        SCAN_OWNER.set(str(request.repo))
        while True:
            known = await self.known(request)
            if known is not None:  # another replica finished it meanwhile
                if live is not None:
                    live.finish(servable=self.gate.reviews.servable(known.review))
                return known
            if await self._leases.acquire(key):
                try:
                    blob = await self.stored_blob(request.entry)
                    if blob is not None:  # stored but never decided (an interrupted write): decide it now
                        if live is not None:
                            live.header_checked(False)
                        return await self._evaluate_stored(request, blob)
                    return await self._fetch_and_store(request, spool=spool, live=live)
                finally:
                    await self._leases.release(key)
            if live is not None:
                live.header_checked(False)  # another replica is downloading: nothing to stream from here
            await self._leases.wait_for_holder()

    async def _fetch_and_store(
        self, request: FetchRequest, *, spool: Spool | None = None, live: LiveFile | None = None
    ) -> Stored:
        entry = request.entry
        spool = spool or Spool(self._spool_dir)
        growing: GrowingFile | None = None
        upload: asyncio.Task[None] | None = None
        try:
            # No download for a file that could not be scanned now (a full queue answers 429 at once).
            self.gate.runner.queue.check_room(SCAN_OWNER.get())
            if entry.lfs_sha256 is not None and is_key(entry.lfs_sha256):
                # The object store takes the file while it downloads (S3 uploads the parts that are
                # final); nothing of it becomes visible before the bytes are verified and published.
                growing = GrowingFile()
                upload = asyncio.create_task(
                    self._store.put(entry.lfs_sha256, spool.path, size=entry.size, growing=growing)
                )
            on_progress = self._progress(request, spool, live, growing)
            async with self._hub.open_file(
                request.repo,
                request.commit,
                entry.path,
                credentials=request.credentials,
                expected_size=entry.size,
            ) as body:
                _check_announced_size(request, body.content_length)
                digests = await spool.fill(
                    body.chunks(),
                    expected_size=entry.size,
                    git_sha1=needs_git_sha1(entry),
                    on_progress=on_progress,
                )
            self._metrics.upstream_bytes.inc(digests.size)
            verify_digests(request, digests)
            if growing is not None:
                growing.publish()  # the upload's last parts go up while the file is scanned
            assessment = await self.gate.assess(request, spool.path, digests)
            if upload is not None:
                await upload
            else:
                await self._store.put(digests.sha256, spool.path, size=digests.size)
            review = await self.gate.record(request, digests, assessment)
            blob = BlobRecord(sha256=digests.sha256, size=digests.size, git_sha1=digests.git_sha1)
            if assessment.meaning not in covered_interpretations(review):
                # Another name's verdict on the same bytes was recorded first (a concurrent fetch under a
                # path of another meaning): judge the stored blob under both.
                review = (await self._evaluate_stored(request, blob)).review
            self._stored[blob_key(entry)] = blob
            if live is not None:
                # The judge's last word too: a checkpoint whose two views of its members differ is cut.
                live.finish(servable=self.gate.reviews.servable(review) and await live.judged())
            self._metrics.upstream_fetches.labels("ok").inc()
            return Stored(blob=blob, review=review)
        except BaseException as exc:
            self._metrics.upstream_fetches.labels(getattr(exc, "code", type(exc).__name__)).inc()
            try:
                if live is not None:
                    await self._remember_handed_out(entry, live)
            finally:  # cut the readers and drop the upload whatever happened while recording
                self._failed(entry, exc, live=live, growing=growing, upload=upload)
            raise
        finally:
            await asyncio.get_running_loop().run_in_executor(None, spool.remove)

    def _failed(
        self,
        entry: FileEntry,
        exc: BaseException,
        *,
        live: LiveFile | None,
        growing: GrowingFile | None,
        upload: asyncio.Task[None] | None,
    ) -> None:
        """A fetch failed: its readers are cut at once, and what its upload sent is removed."""
        if growing is not None:
            growing.discard()
        if live is not None:
            live.finish(servable=False, error=exc)
        if upload is not None and not upload.done():
            self._abandoned.add(upload)
            upload.add_done_callback(self._forget_abandoned)
        elif upload is not None:
            _retrieve(upload)

    async def _remember_handed_out(self, entry: FileEntry, live: LiveFile) -> None:
        """Before a failed live download cuts its readers: record how much of it they were given, here and
        for every replica, so that no resume (on any replica) completes those unverified bytes."""
        live.halt()  # what readers hold is final from here on
        if not live.handed_out:
            return
        key = blob_key(entry)
        self._unverified[key] = max(live.handed_out, self._unverified.get(key, 0))
        log.warning(
            "%s: a live download failed after handing out %d unverified bytes; ranges inside them will "
            "not be served",
            entry.path,
            live.handed_out,
        )
        try:
            # Bounded: the halted readers wait for this before they are cut.
            async with asyncio.timeout(_RECORD_UNVERIFIED_S):
                await self._shared_unverified.record(key, live.handed_out)
        except _RECORD_FAILURES as exc:
            # The readers are cut regardless. A resume on another replica fails closed while the database
            # stays unavailable (it cannot read the record either); once it is back, that replica does
            # not know: an operator alarm.
            log.error(  # noqa: TRY400 - an outage to report, not a stack to trace
                "%s: the %d unverified bytes handed out could not be recorded for the other replicas: %s",
                entry.path,
                live.handed_out,
                exc,
            )

    def _forget_abandoned(self, upload: asyncio.Task[None]) -> None:
        self._abandoned.discard(upload)
        _retrieve(upload)

    async def drain(self) -> None:
        """Wait for every fetch, and for the uploads of failed ones to be removed (at shutdown)."""
        await self.flights.drain()
        if self._abandoned:
            await asyncio.wait(set(self._abandoned))

    def _progress(
        self, request: FetchRequest, spool: Spool, live: LiveFile | None, growing: GrowingFile | None
    ) -> Callable[[int], None] | None:
        """The spool's progress callback: feeds the object store's upload and live readers, and starts
        the format's judge once the first bytes have arrived."""
        if live is None and growing is None:
            return None

        def progress(available: int) -> None:
            if growing is not None:
                growing.grew(available)
            if live is not None:
                live.progress(available)
                if live.judge is None and available >= 8:
                    live.judge = asyncio.ensure_future(self._judge(request, spool, live))

        return progress

    async def _judge(self, request: FetchRequest, spool: Spool, live: LiveFile) -> bool:
        """Decide from the first bytes whether (and how far) readers may have the file before it is
        verified; returns the judge's last word (LiveFile.judged)."""
        loop = asyncio.get_running_loop()
        try:
            prefix = await loop.run_in_executor(None, _read_prefix, spool.path, 8)
            if request.entry.path.endswith(".safetensors"):
                await self._check_header(request, spool, live, prefix)
                return True  # its header is its only danger: the header check said all there is to say
        except Exception:  # the judge's catch-all: a check that failed lets no reader in
            if not live.outcome.done():  # (once the download ended, its spool file is gone)
                log.exception("%s: the streaming header check failed", request.entry.path)
            live.header_checked(False)
            return False
        if starts_like_torch_zip(prefix):
            return await judge_torch_zip(self.gate, request, spool.path, live)
        live.header_checked(False)  # a legacy checkpoint or a raw pickle: loadable from its first bytes
        return True

    async def _check_header(self, request: FetchRequest, spool: Spool, live: LiveFile, prefix: bytes) -> None:
        loop = asyncio.get_running_loop()
        header_len = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 0 < header_len <= _MAX_STREAMED_HEADER or header_len + 8 > live.size:
            live.header_checked(False)
            return
        if not await live.wait_available(8 + header_len):
            return
        header = await loop.run_in_executor(None, _read_prefix, spool.path, 8 + header_len)
        scratch = spool.path.with_name(spool.path.name + ".header")
        try:
            allowed = await self.gate.header_allows_streaming(request, header, live.size, scratch)
        except ScanPending:
            allowed = False  # the scanners are busy: the file waits for its full scan instead
        if allowed:
            live.clear(live.size)  # every byte but the held-back tail flows as it arrives
        live.header_checked(allowed)

    async def _evaluate_stored(self, request: FetchRequest, blob: BlobRecord) -> Stored:
        """Decide on a stored blob: never decided (an interrupted write), or asked for under a name that
        gives its bytes a meaning its verdict did not cover (judged again under every meaning, worst wins)."""
        spool = Spool(self._spool_dir)
        try:
            digests = await spool.fill(
                self._store.open_range(blob.sha256, 0, blob.size),
                expected_size=blob.size,
                git_sha1=needs_git_sha1(request.entry),
            )
            verify_digests(request, digests)
            existing = await self.gate.reviews.current("blob", blob.sha256)
            covered = covered_interpretations(existing) if existing is not None else frozenset()
            assessment = await self.gate.assess(request, spool.path, digests, interpretations=covered)
            if existing is None:
                review = await self.gate.record(request, digests, assessment)
            else:
                review = await self.gate.widen(request, existing, assessment)
            return Stored(blob=blob, review=review)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, spool.remove)
