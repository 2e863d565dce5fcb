"""Compare a verified manifest with a repository revision, in two phases.

Phase (a), before any weight is fetched: `ManifestChecker.compare(repo_files)` with the revision's file
listing (path -> sha256 where the Hub metadata gives one: LFS files; None for small files not fetched
yet). It checks exact set equality after the ignore rules (see `paths`) and every sha256 already known.
Files whose digest could not be checked yet are returned as `pending`.

Phase (b), as files are fetched: `check_fetched(path, sha256)` for `files`/`sha256` manifests, or, for
manifests whose digests are not whole-file SHA-256 (`shards`, blake2b), a `ContentVerifier` fed with the
file's bytes. A `files`/`sha256` manifest never needs the bytes themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from mirror.provenance.errors import Failure, FailureReason
from mirror.provenance.paths import DEFAULT_SIGNATURE_PATH, ignored_paths, is_ignored
from mirror.provenance.statement import SerializationMethod, SignedFile, SignedManifest

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CONTENT_HASHES = frozenset({"sha256", "blake2b"})  # hashes this module can compute (not blake3)


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


def _new_hasher(algorithm: str) -> _Hasher:
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake2b":
        return hashlib.blake2b()
    raise ValueError(f"cannot compute {algorithm}")


@dataclass(frozen=True, slots=True)
class ManifestComparison:
    """Result of phase (a)."""

    failures: tuple[Failure, ...]
    pending: frozenset[str]  # signed files whose content is still to be checked when fetched
    ignored: tuple[str, ...]  # repository files the ignore rules leave out (for display)

    @property
    def ok(self) -> bool:
        return not self.failures


class ManifestChecker:
    """A verified manifest bound to the signature's location in the repository."""

    def __init__(self, manifest: SignedManifest, signature_path: str = DEFAULT_SIGNATURE_PATH) -> None:
        self.manifest = manifest
        self.signature_path = signature_path
        self._ignore = ignored_paths(signature_path, manifest.ignore_paths)

    @property
    def needs_content(self) -> bool:
        """True when some fetched files need `content_verifier`: a whole-file sha256 cannot check every
        file of a `shards` or non-sha256 signature (`check_fetched` says UNSUPPORTED for those)."""
        return self.manifest.method is SerializationMethod.SHARDS or self.manifest.hash_type != "sha256"

    @property
    def supported(self) -> bool:
        return self.manifest.hash_type in CONTENT_HASHES

    def is_ignored(self, path: str) -> bool:
        return is_ignored(path, self._ignore)

    def compare(self, repo_files: Mapping[str, str | None]) -> ManifestComparison:
        """Phase (a): file sets equal after the ignore rules, every known sha256 matches."""
        failures: list[Failure] = []
        pending: set[str] = set()
        ignored: list[str] = []
        signed = self.manifest.files
        shards = self.manifest.method is SerializationMethod.SHARDS
        considered: dict[str, str | None] = {}
        for path, digest in repo_files.items():
            if self.is_ignored(path):
                ignored.append(path)
            else:
                considered[path] = digest.lower() if digest is not None else None
        for path in sorted(considered.keys() - signed.keys()):
            digest = considered[path]
            if shards and digest == EMPTY_SHA256:
                continue  # shard manifests have no entry for empty files
            if shards and digest is None:
                pending.add(path)  # must turn out empty when fetched
                continue
            failures.append(
                Failure(FailureReason.UNSIGNED_FILE, f"{path!r} is in the repository but not signed", path)
            )
        for path in sorted(signed.keys() - considered.keys()):
            failures.append(
                Failure(
                    FailureReason.MISSING_FILE, f"{path!r} is signed but missing from the repository", path
                )
            )
        for path in sorted(signed.keys() & considered.keys()):
            digest = considered[path]
            expected = whole_file_sha256(signed[path])
            if digest is None or expected is None:
                pending.add(path)
            elif digest != expected:
                failures.append(_mismatch(path, expected, digest))
        return ManifestComparison(tuple(failures), frozenset(pending), tuple(sorted(ignored)))

    def check_fetched(self, path: str, sha256: str) -> Failure | None:
        """Phase (b) for one fetched file, given the sha256 of all its bytes. None: fine or not covered."""
        if self.is_ignored(path):
            return None
        sha256 = sha256.lower()
        entry = self.manifest.files.get(path)
        if entry is None:
            if self.manifest.method is SerializationMethod.SHARDS and sha256 == EMPTY_SHA256:
                return None
            return Failure(FailureReason.UNSIGNED_FILE, f"{path!r} is not signed", path)
        expected = whole_file_sha256(entry)
        if expected is None:
            return Failure(
                FailureReason.UNSUPPORTED,
                f"{path!r}: this signature uses {self._describe_hashing()}; a whole-file sha256 cannot "
                "check it (use content_verifier)",
                path,
            )
        if expected != sha256:
            return _mismatch(path, expected, sha256)
        return None

    def content_verifier(self, path: str) -> ContentVerifier:
        """Phase (b) from the bytes themselves; works for every manifest kind this module supports."""
        return ContentVerifier(self, path)

    def _describe_hashing(self) -> str:
        if self.manifest.method is SerializationMethod.SHARDS:
            return f"{self.manifest.hash_type} shards of {self.manifest.shard_size} bytes"
        return f"{self.manifest.hash_type} file digests"


def whole_file_sha256(entry: SignedFile) -> str | None:
    """The sha256 of the whole file, if the signature pins it: a `sha256` file digest, or a file that
    fits in a single `sha256` shard (its one shard [0, size) is then the whole file)."""
    if entry.algorithm != "sha256":
        return None
    if not entry.shards:
        return entry.digest
    if len(entry.shards) == 1:
        return entry.shards[0].digest  # parsing guarantees shards start at 0
    return None


def _mismatch(path: str, expected: str | None, actual: str) -> Failure:
    return Failure(
        FailureReason.DIGEST_MISMATCH, f"{path!r}: signed digest {expected}, repository has {actual}", path
    )


class ContentVerifier:
    """Feed one file's bytes in order with `update`, then `finish()`; also yields the file's sha256."""

    def __init__(self, checker: ManifestChecker, path: str) -> None:
        self._checker = checker
        self._path = path
        self._ignored = checker.is_ignored(path)
        self._entry: SignedFile | None = checker.manifest.files.get(path)
        self._algorithm = checker.manifest.hash_type
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._whole: _Hasher | None = None
        self._shard_index = 0
        self._shard_hasher: _Hasher | None = None
        self._shard_failure: Failure | None = None
        self._finished: Failure | None = None
        self._done = False
        self._supported = self._algorithm in CONTENT_HASHES
        if self._supported and self._entry is not None:
            if self._entry.shards:
                self._shard_hasher = _new_hasher(self._algorithm)
            elif self._algorithm != "sha256":
                self._whole = _new_hasher(self._algorithm)

    @property
    def sha256(self) -> str:
        """The sha256 of the bytes fed so far (of the whole file once finished)."""
        return self._sha256.hexdigest()

    @property
    def size(self) -> int:
        return self._size

    def update(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("ContentVerifier.update after finish")
        self._sha256.update(chunk)
        if self._whole is not None:
            self._whole.update(chunk)
        if self._shard_hasher is not None and self._entry is not None:
            self._feed_shards(self._entry, memoryview(chunk))
        self._size += len(chunk)

    def _feed_shards(self, entry: SignedFile, view: memoryview) -> None:
        offset = self._size
        while view and self._shard_failure is None:
            if self._shard_index >= len(entry.shards):
                return  # longer than signed: reported by finish() from the size
            shard = entry.shards[self._shard_index]
            take = min(len(view), shard.end - offset)
            assert self._shard_hasher is not None
            self._shard_hasher.update(view[:take])
            view = view[take:]
            offset += take
            if offset == shard.end:
                self._close_shard(shard.digest, shard.start, shard.end)

    def _close_shard(self, expected: str, start: int, end: int) -> None:
        assert self._shard_hasher is not None
        actual = self._shard_hasher.hexdigest()
        if actual != expected and self._shard_failure is None:
            self._shard_failure = Failure(
                FailureReason.DIGEST_MISMATCH,
                f"{self._path!r}: bytes {start}-{end} have digest {actual}, signed {expected}",
                self._path,
            )
        self._shard_index += 1
        self._shard_hasher = _new_hasher(self._algorithm)

    def finish(self) -> Failure | None:
        """Check what was fed against the manifest. None: matches, or the path is not covered (ignored)."""
        if self._done:
            return self._finished
        self._done = True
        self._finished = self._result()
        return self._finished

    def _result(self) -> Failure | None:
        path = self._path
        if self._ignored:
            return None
        sha256 = self._sha256.hexdigest()
        entry = self._entry
        manifest = self._checker.manifest
        if entry is None:
            if manifest.method is SerializationMethod.SHARDS and self._size == 0:
                return None
            return Failure(FailureReason.UNSIGNED_FILE, f"{path!r} is not signed", path)
        if not self._supported:
            return Failure(
                FailureReason.UNSUPPORTED, f"{path!r}: {self._algorithm} digests are not supported", path
            )
        if entry.shards:
            if self._size != entry.size:
                return Failure(
                    FailureReason.DIGEST_MISMATCH,
                    f"{path!r}: {self._size} bytes, the signed shards cover {entry.size}",
                    path,
                )
            return self._shard_failure
        actual = self._whole.hexdigest() if self._whole is not None else sha256
        if actual != entry.digest:
            return _mismatch(path, entry.digest, actual)
        return None
