"""ensure(file): single-flight -> fetch -> verify -> check -> store -> record.

Nothing is written to the object store, and no row is committed, before the bytes have been hashed and
matched against the digest and size the Hub's metadata announced. Any failure leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cachetools import LRUCache

from mirror.errors import IntegrityError, ScanPending
from mirror.hub.client import HubClient
from mirror.hub.models import Credentials, RepoRef
from mirror.singleflight import SingleFlight
from mirror.spool import Digests, Spool
from storage.objects import ObjectStore
from storage.records import BlobRecord, FileEntry
from storage.repository import MetadataRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    repo: RepoRef
    commit: str
    entry: FileEntry
    credentials: Credentials


def blob_key(entry: FileEntry) -> str:
    """How a file's content is named before it is fetched: its sha256 (LFS) or its git blob sha1."""
    return entry.lfs_sha256 or f"git-sha1:{entry.git_oid}"


class CheckStep(Protocol):
    """What must pass before a spooled file may be stored and served. Raises a MirrorError to refuse."""

    async def check(self, request: FetchRequest, spooled: Path, digests: Digests) -> None: ...


class DigestCheck:
    """Today's only check: the bytes are exactly what the Hub's metadata announced."""

    async def check(self, request: FetchRequest, spooled: Path, digests: Digests) -> None:
        entry = request.entry
        if digests.size != entry.size:
            msg = f"{entry.path}: upstream sent {digests.size} bytes, the Hub announced {entry.size}"
            raise IntegrityError(msg, commit=request.commit)
        if entry.lfs_sha256 is not None and digests.sha256 != entry.lfs_sha256:
            msg = f"{entry.path}: sha256 {digests.sha256} does not match the Hub's {entry.lfs_sha256}"
            raise IntegrityError(msg, commit=request.commit)
        if entry.lfs_sha256 is None and digests.git_sha1 != entry.git_oid:
            msg = f"{entry.path}: git blob sha1 {digests.git_sha1} does not match the Hub's {entry.git_oid}"
            raise IntegrityError(msg, commit=request.commit)


class Pipeline:
    def __init__(
        self,
        *,
        hub: HubClient,
        repository: MetadataRepository,
        store: ObjectStore,
        spool_dir: Path,
        check: CheckStep,
    ) -> None:
        self._hub = hub
        self._repository = repository
        self._store = store
        self._spool_dir = spool_dir
        self._check = check
        self.flights: SingleFlight[str, BlobRecord] = SingleFlight()
        # Blobs known to be stored, by blob key: a warm request then touches neither database nor store.
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
        for key in (blob.sha256, f"git-sha1:{blob.git_sha1}"):
            self._stored.pop(key, None)
        await self._repository.forget_blob(blob.sha256)

    async def ensure(self, request: FetchRequest, *, wait_s: float | None = None) -> BlobRecord:
        """The stored blob for the request's file, fetching it if needed.

        Waits at most `wait_s` seconds for a fetch (None: as long as it takes), then raises ScanPending;
        the fetch carries on in the background. Raises the fetch's MirrorError when it fails.
        """
        blob = await self.stored_blob(request.entry)
        if blob is not None:
            return blob
        entry = request.entry
        task = self.flights.start(blob_key(entry), lambda: self._fetch_and_store(request))
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout=wait_s)
        except TimeoutError:
            retry_after = max(1, math.ceil(wait_s or 1))
            msg = (
                f"hubgate is still fetching and verifying {entry.path} ({entry.size} bytes) from upstream; "
                f"retry in {retry_after}s"
            )
            raise ScanPending(msg, retry_after_s=retry_after, commit=request.commit) from None

    async def _fetch_and_store(self, request: FetchRequest) -> BlobRecord:
        entry = request.entry
        spool = Spool(self._spool_dir)
        try:
            async with self._hub.open_file(
                request.repo, request.commit, entry.path, credentials=request.credentials
            ) as response:
                announced = response.content_length
                if announced is not None and announced != entry.size:
                    msg = (
                        f"{entry.path}: upstream announced {announced} bytes, the Hub's metadata {entry.size}"
                    )
                    raise IntegrityError(msg, commit=request.commit)
                digests = await spool.fill(response.content.iter_chunked(1 << 20), expected_size=entry.size)
            await self._check.check(request, spool.path, digests)
            await self._store.put(digests.sha256, spool.path, size=digests.size)
            blob = BlobRecord(sha256=digests.sha256, size=digests.size, git_sha1=digests.git_sha1)
            await self._repository.record_blob(blob)
            log.info(
                "stored %s (%d bytes) from %s@%s", entry.path, digests.size, request.repo, request.commit
            )
            return blob
        finally:
            await asyncio.get_running_loop().run_in_executor(None, spool.remove)
