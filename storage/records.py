"""Frozen records that cross the storage seam; ORM rows never leave storage/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RepoKey:
    """A repository as the database knows it."""

    repo_type: str
    repo_id: str


@dataclass(frozen=True, slots=True)
class RepoFlags:
    """Whether reading a repository's files needs an entitlement upstream."""

    private: bool
    gated: str  # "" when not gated, else the Hub's gating mode ("auto", "manual")
    checked_at: datetime

    @property
    def restricted(self) -> bool:
        return self.private or bool(self.gated)


@dataclass(frozen=True, slots=True)
class RefRecord:
    commit: str
    resolved_at: datetime


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file at a commit with the digests the Hub advertised for it.

    `git_oid` is the git blob sha1 of the file (for LFS files, of its pointer); `lfs_sha256` is the
    sha256 of the content of an LFS file.
    """

    path: str
    size: int
    git_oid: str
    lfs_sha256: str | None = None
    lfs_pointer_size: int | None = None

    @property
    def is_lfs(self) -> bool:
        return self.lfs_sha256 is not None

    @property
    def etag(self) -> str:
        """What the Hub sends as the file's ETag: the sha256 for LFS files, else the git blob sha1."""
        return self.lfs_sha256 or self.git_oid


@dataclass(frozen=True, slots=True)
class BlobRecord:
    sha256: str
    size: int
    git_sha1: str


@dataclass(frozen=True, slots=True)
class MetadataDoc:
    body: bytes
    next_cursor: str | None
    fetched_at: datetime
