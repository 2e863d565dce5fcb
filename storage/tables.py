"""ORM tables. Rows never leave storage/: repository.py turns them into frozen records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class BlobRow(Base):
    """A verified object in the object store, named by the sha256 of its content."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    git_sha1: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_access_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RepoRow(Base):
    """A repository hubgate has seen, with the access flags that decide who may read its stored files."""

    __tablename__ = "repos"
    __table_args__ = (UniqueConstraint("repo_type", "repo_id", name="uq_repos_type_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_type: Mapped[str] = mapped_column(String(16), nullable=False)
    repo_id: Mapped[str] = mapped_column(String(200), nullable=False)
    private: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    gated: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    # NULL until the Hub has told us whether the repository is private or gated.
    flags_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RefRow(Base):
    """The last known commit of a branch, tag, PR ref or short commit ('' is the default branch)."""

    __tablename__ = "refs"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), nullable=False)
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class FileEntryRow(Base):
    """A file of a repository at one commit, as the Hub's tree or paths-info described it."""

    __tablename__ = "file_entries"
    __table_args__ = (
        Index("ix_file_entries_lfs_sha256", "lfs_sha256"),
        Index("ix_file_entries_oid", "git_oid"),
    )

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    git_oid: Mapped[str] = mapped_column(String(40), nullable=False)
    lfs_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lfs_pointer_size: Mapped[int | None] = mapped_column(Integer, nullable=True)


class MetadataDocRow(Base):
    """An upstream JSON answer kept so that hubgate can answer offline.

    `key` is a digest of the request variant (kind, repo, revision, path, query, cursor). Documents
    addressed by a full commit are immutable; others are fresh for the ref TTL and stale after.
    """

    __tablename__ = "metadata_docs"
    __table_args__ = (Index("ix_metadata_docs_repo", "repo_pk"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    next_cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
