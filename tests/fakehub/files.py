"""`FakeFile`: one file of a fake repo, with the ids the Hub shows for it (git oid, sha256, LFS pointer)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath

from tests.fakehub.blobs import Blob, blob_from_bytes, generated_blob
from tests.fakehub.gitobjects import blob_id

# The Hub's default .gitattributes stores these in LFS; anything over 10 MB must be LFS too.
LFS_SIZE_THRESHOLD = 10 * 1000 * 1000
LFS_SUFFIXES = frozenset(
    {
        ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gguf", ".gz", ".h5", ".joblib", ".lz4",
        ".mlmodel", ".model", ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle",
        ".pkl", ".pt", ".pth", ".rar", ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz", ".zip",
        ".zst",
    }
)  # fmt: skip


def is_lfs_by_default(path: str, size: int) -> bool:
    return size > LFS_SIZE_THRESHOLD or PurePosixPath(path).suffix.lower() in LFS_SUFFIXES


def validate_repo_path(path: str) -> None:
    """Raise ValueError for paths git would not store: absolute, empty segments, `.` or `..`."""
    segments = path.split("/")
    if not path or path.startswith("/") or any(s in ("", ".", "..") for s in segments) or "\0" in path:
        raise ValueError(f"invalid file path in repo: {path!r}")


@dataclass(frozen=True)
class LfsPointer:
    """The small text file git stores in place of an LFS object."""

    sha256: str
    size: int

    @cached_property
    def text(self) -> bytes:
        spec = "version https://git-lfs.github.com/spec/v1"
        return f"{spec}\noid sha256:{self.sha256}\nsize {self.size}\n".encode()

    @property
    def git_oid(self) -> str:
        return blob_id(self.text)


@dataclass(frozen=True)
class FakeFile:
    """A file in a fake repo. Build it with `text`, `from_bytes` or `generated`."""

    path: str
    blob: Blob
    lfs: bool

    def __post_init__(self) -> None:
        validate_repo_path(self.path)

    @classmethod
    def from_bytes(cls, path: str, data: bytes, *, lfs: bool | None = None) -> FakeFile:
        return cls(path=path, blob=blob_from_bytes(data), lfs=_lfs_choice(path, len(data), lfs))

    @classmethod
    def text(cls, path: str, text: str, *, lfs: bool | None = None) -> FakeFile:
        return cls.from_bytes(path, text.encode(), lfs=lfs)

    @classmethod
    def generated(
        cls, path: str, size: int, *, seed: int = 0, prefix: bytes = b"", lfs: bool | None = None
    ) -> FakeFile:
        """`prefix` then deterministic pseudo-random bytes, `size` in all; served from disk (GiBs fine)."""
        blob = generated_blob(size, seed=seed, prefix=prefix)
        return cls(path=path, blob=blob, lfs=_lfs_choice(path, size, lfs))

    @property
    def size(self) -> int:
        return self.blob.size

    @property
    def sha256(self) -> str:
        return self.blob.sha256

    @cached_property
    def pointer(self) -> LfsPointer | None:
        return LfsPointer(sha256=self.blob.sha256, size=self.blob.size) if self.lfs else None

    @property
    def git_oid(self) -> str:
        """The id git shows for this path: of the pointer for LFS files, of the content otherwise."""
        return self.pointer.git_oid if self.pointer is not None else self.blob.git_sha1

    @property
    def etag(self) -> str:
        """What the Hub puts in ETag / X-Linked-Etag (unquoted): sha256 for LFS, git sha1 otherwise."""
        return self.blob.sha256 if self.lfs else self.blob.git_sha1

    @property
    def xet_hash(self) -> str:
        # The real Xet hash is a Merkle hash of content chunks; clients only check it is 64 hex digits,
        # so a value derived from the sha256 is realistic enough and stays stable.
        return hashlib.sha256(b"xet-merkle:" + self.blob.sha256.encode()).hexdigest()


def _lfs_choice(path: str, size: int, explicit: bool | None) -> bool:
    return is_lfs_by_default(path, size) if explicit is None else explicit
