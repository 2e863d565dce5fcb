"""The object-store seam: content-addressed blobs keyed by their sha256.

The protocol is deliberately narrow so that S3 fits as well as a local disk: whole objects are written
once from a finished spool file, read back by byte range, and deleted. There are no renames, no
directories and no partial writes; an object is either wholly present or absent.

Beside the blobs, a store keeps a few small named documents (the audit trail's signed checkpoints, kept
outside the database they vouch for). Their names (`audit/checkpoints/000000000042.json`) contain a `/`
and so can never be a sha256 key; every segment is at least three characters, so on disk they never fall
into the blobs' `ab/cd/` fan-out directories, and blob listings (and garbage collection) never see them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_SEGMENT = r"[a-z0-9][a-z0-9-]{2,62}"
_DOCUMENT_PREFIX = re.compile(rf"(?:{_SEGMENT}/){{1,4}}")
_DOCUMENT_NAME = re.compile(rf"(?:{_SEGMENT}/){{1,4}}[a-z0-9][a-z0-9_-]{{0,126}}\.json")


class ObjectStoreError(Exception):
    """The object store could not complete an operation (unreachable, full, permission denied)."""


class ObjectMissing(ObjectStoreError):
    """A key that was expected to exist is not in the store."""


def is_key(text: str) -> bool:
    """Whether `text` is a valid object key (a lower-case sha256 hex digest)."""
    return _SHA256_HEX.fullmatch(text) is not None


def validate_key(key: str) -> str:
    """Keys are lower-case sha256 hex digests; anything else is a programming error."""
    if not _SHA256_HEX.fullmatch(key):
        msg = f"object keys are sha256 hex digests, got {key!r}"
        raise ValueError(msg)
    return key


def validate_document_name(name: str) -> str:
    """Document names are `segment/.../name.json` in lower-case ASCII; anything else is a programming
    error (and never a path that could leave the store's root)."""
    if not _DOCUMENT_NAME.fullmatch(name):
        msg = f"document names look like 'audit/checkpoints/000000000042.json', got {name!r}"
        raise ValueError(msg)
    return name


def validate_document_prefix(prefix: str) -> str:
    """A folder of documents: one to four segments, each followed by `/`."""
    if not _DOCUMENT_PREFIX.fullmatch(prefix):
        msg = f"document prefixes look like 'audit/checkpoints/', got {prefix!r}"
        raise ValueError(msg)
    return prefix


class ObjectDiscarded(ObjectStoreError):
    """A put() was given a GrowingFile that was discarded: nothing was published."""


class GrowingFile:
    """A file still being downloaded and checked, handed to put() before it is finished.

    The writer reports how many leading bytes are final (`grew`), then either `publish()`es the file
    (complete and verified: the store may make the object visible) or `discard()`s it. A store that
    uploads (S3) sends what is final while the rest arrives, so the upload ends soon after the download;
    nothing becomes visible before publish(), and after discard() put() removes what it sent and raises
    ObjectDiscarded. Create it on the loop that runs the put.
    """

    def __init__(self) -> None:
        self.final = 0
        self._verdict: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()

    def grew(self, final: int) -> None:
        """The first `final` bytes of the file are written and will not change."""
        if final > self.final:
            self.final = final
            self._signal()

    def publish(self) -> None:
        if not self._verdict.done():
            self._verdict.set_result(True)
            self._signal()

    def discard(self) -> None:
        if not self._verdict.done():
            self._verdict.set_result(False)
            self._signal()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_final(self, end: int) -> None:
        """Until the first `end` bytes are final (or the file was published); ObjectDiscarded if discarded."""
        while self.final < end and not self._verdict.done():
            await self._changed.wait()
        if self._verdict.done():
            await self.wait_published()  # raises if it was discarded

    async def wait_published(self) -> None:
        """Until the file is published; ObjectDiscarded once it is discarded."""
        # Shielded: a cancelled waiter must not cancel the verdict that other waiters share.
        if not await asyncio.shield(self._verdict):
            msg = "the file was discarded before it was published"
            raise ObjectDiscarded(msg)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified_at: datetime | None = None  # when the object was written (for garbage collection)


@runtime_checkable
class ObjectStore(Protocol):
    """Async, content-addressed object storage."""

    async def put(self, key: str, source: Path, *, size: int, growing: GrowingFile | None = None) -> None:
        """Store the file `source` under `key`. Idempotent: storing an existing key is a no-op.

        The caller has verified that `source` hashes to `key`, or, with `growing`, will have once it
        publishes it (the store may read what `growing` reports final before then, and makes the object
        visible only after publish()); `source` is left in place. Raises ObjectStoreError when the store
        cannot take the object, ObjectDiscarded when `growing` was discarded.
        """
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """The object's size, or None when absent. Raises ObjectStoreError when the store is unreachable."""
        ...

    def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of the object. Raises ObjectMissing or ObjectStoreError."""
        ...

    async def presign_get(self, key: str, *, expires_s: int) -> str | None:
        """A short-lived URL a client may GET directly, or None when the store cannot issue one."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting an absent key is a no-op."""
        ...

    def iter_keys(self) -> AsyncIterator[ObjectInfo]:
        """Every stored object (for garbage collection and audits)."""
        ...

    async def put_document(self, name: str, data: bytes) -> None:
        """Store a small named document whole (replacing one of that name). Raises ObjectStoreError."""
        ...

    async def get_document(self, name: str) -> bytes | None:
        """The document's bytes, or None when absent. Raises ObjectStoreError."""
        ...

    async def list_documents(self, prefix: str) -> list[str]:
        """The names of the documents under `prefix` (e.g. 'audit/checkpoints/'), sorted.

        Raises ObjectStoreError."""
        ...

    async def check(self) -> None:
        """Raise ObjectStoreError unless the store is reachable and writable (readiness probe)."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...


@runtime_checkable
class LocalObjects(Protocol):
    """A store whose objects are files on this machine (the filesystem store; S3 is not one).

    Its objects can be handed to the kernel (sendfile) instead of being read through Python.
    """

    async def open_local(self, key: str) -> BinaryIO:
        """The object opened for reading; the caller closes it. The handle keeps reading the object's
        bytes even if the object is deleted meanwhile. Raises ObjectMissing or ObjectStoreError."""
        ...
