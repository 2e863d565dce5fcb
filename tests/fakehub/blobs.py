"""File contents of the fake Hub: small ones held in memory, big ones generated once on disk.

A generated blob is deterministic pseudo-random bytes named by `(seed, size)`. It is written once into a
shared temporary directory (reused across test runs and processes) and always read back from disk in
chunks, so a 1 GiB file never sits whole in memory. Its digests are computed while it is written and kept
next to it, so later runs pay neither the generation nor the hashing again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHUNK_SIZE = 1 << 20

# Bump when the generation algorithm changes, so stale files on disk are never reused.
_GENERATOR_VERSION = 1
_generated_lock = threading.Lock()
_generated_memo: dict[tuple[Path, int, int, bytes], Blob] = {}


def git_blob_header(size: int) -> bytes:
    """The prefix git hashes before a blob's bytes: its object id is sha1(header + content)."""
    return b"blob " + str(size).encode() + b"\0"


@dataclass(frozen=True)
class Blob:
    """Immutable bytes with the digests the Hub advertises for them.

    Exactly one of `data` (in memory) or `path` (on disk) is set.
    """

    size: int
    sha256: str
    git_sha1: str
    data: bytes | None = field(default=None, repr=False)
    path: Path | None = None

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset`; blocking file I/O for on-disk blobs."""
        if self.data is not None:
            return self.data[offset : offset + length]
        if self.path is None:
            raise ValueError("a blob needs either data or a path")
        with self.path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def head(self, length: int) -> bytes:
        return self.read(0, length)


def blob_from_bytes(data: bytes) -> Blob:
    return Blob(
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        git_sha1=hashlib.sha1(git_blob_header(len(data)) + data).hexdigest(),
        data=data,
    )


def default_blob_directory() -> Path:
    # One directory per user: another user's files in a shared /tmp would be neither readable nor writable.
    owner = getattr(os, "getuid", lambda: "user")()
    return Path(tempfile.gettempdir()) / f"hubgate-fakehub-blobs-{owner}"


def generated_blob(size: int, *, seed: int = 0, prefix: bytes = b"", directory: Path | None = None) -> Blob:
    """`prefix` then deterministic pseudo-random bytes, `size` in all, generated on disk at most once.

    The prefix lets a big file still be a valid format (e.g. a safetensors header before random weights).
    """
    if size < len(prefix):
        raise ValueError(f"size {size} is smaller than the {len(prefix)}-byte prefix")
    directory = directory or default_blob_directory()
    key = (directory, size, seed, prefix)
    with _generated_lock:
        memo = _generated_memo.get(key)
        if memo is not None:
            return memo
        blob = _load_or_generate(directory, size=size, seed=seed, prefix=prefix)
        _generated_memo[key] = blob
        return blob


def _load_or_generate(directory: Path, *, size: int, seed: int, prefix: bytes) -> Blob:
    prefix_id = hashlib.sha256(prefix).hexdigest()[:12] if prefix else "none"
    stem = f"gen-v{_GENERATOR_VERSION}-seed{seed}-size{size}-prefix{prefix_id}"
    data_path = directory / f"{stem}.bin"
    digest_path = directory / f"{stem}.json"
    existing = _read_digests(data_path, digest_path, size=size)
    if existing is not None:
        return existing
    directory.mkdir(parents=True, exist_ok=True)
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(git_blob_header(size))
    # Write under a unique name then rename: concurrent test processes may generate the same blob.
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f"{stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in itertools.chain((prefix,), _pseudo_random_chunks(size - len(prefix), seed=seed)):
                out.write(chunk)
                sha256.update(chunk)
                sha1.update(chunk)
        os.replace(tmp_name, data_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    blob = Blob(size=size, sha256=sha256.hexdigest(), git_sha1=sha1.hexdigest(), path=data_path)
    digest_tmp = digest_path.with_suffix(f".{os.getpid()}.tmp")
    digest_tmp.write_text(json.dumps({"size": size, "sha256": blob.sha256, "git_sha1": blob.git_sha1}))
    os.replace(digest_tmp, digest_path)
    return blob


def _read_digests(data_path: Path, digest_path: Path, *, size: int) -> Blob | None:
    try:
        recorded = json.loads(digest_path.read_text())
        on_disk = data_path.stat().st_size
    except (OSError, ValueError):
        return None
    if recorded.get("size") != size or on_disk != size:
        return None
    return Blob(size=size, sha256=recorded["sha256"], git_sha1=recorded["git_sha1"], path=data_path)


def _pseudo_random_chunks(size: int, *, seed: int) -> Iterator[bytes]:
    # One independent generator per chunk keeps any chunk reproducible on its own and is fast (>1 GB/s).
    for index, offset in enumerate(range(0, size, CHUNK_SIZE)):
        length = min(CHUNK_SIZE, size - offset)
        yield np.random.default_rng([seed, index]).bytes(length)
