"""Blobs, repositories, refs, file entries and cached metadata documents.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("git_sha1", sa.String(40), nullable=False, unique=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_access_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "repos",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("repo_type", sa.String(16), nullable=False),
        sa.Column("repo_id", sa.String(200), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("gated", sa.String(16), nullable=False, server_default=""),
        sa.Column("flags_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("repo_type", "repo_id", name="uq_repos_type_id"),
    )
    op.create_table(
        "refs",
        sa.Column("repo_pk", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("commit", sa.String(40), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "file_entries",
        sa.Column("repo_pk", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("commit", sa.String(40), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("git_oid", sa.String(40), nullable=False),
        sa.Column("lfs_sha256", sa.String(64), nullable=True),
        sa.Column("lfs_pointer_size", sa.Integer(), nullable=True),
    )
    op.create_index("ix_file_entries_lfs_sha256", "file_entries", ["lfs_sha256"])
    op.create_index("ix_file_entries_oid", "file_entries", ["git_oid"])
    op.create_table(
        "metadata_docs",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("repo_pk", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("next_cursor", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_metadata_docs_repo", "metadata_docs", ["repo_pk"])


def downgrade() -> None:
    op.drop_table("metadata_docs")
    op.drop_table("file_entries")
    op.drop_table("refs")
    op.drop_table("repos")
    op.drop_table("blobs")
