"""The inventory: one record per repository revision hubgate decided on or served.

The revisions already served before this upgrade are filled in from the download log, so the inventory
is complete at once; their licence shows as unrecorded until the gate decides on them again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revision_records",
        sa.Column("repo_pk", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("commit", sa.String(40), primary_key=True),
        sa.Column("licences", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("licence_bucket", sa.String(16), nullable=False, server_default=""),
        sa.Column("licence_verdict", sa.String(16), nullable=False, server_default=""),
        sa.Column("lineage", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("policy_version", sa.String(80), nullable=False, server_default=""),
        sa.Column("pipeline_tag", sa.String(100), nullable=False, server_default=""),
        sa.Column("library_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("base_models", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("datasets", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("languages", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("licence_decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_served_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_served_at", sa.DateTime(timezone=True), nullable=True),
    )
    # Served = a download recorded in the APPROVED state (what the download log writes for a file sent).
    op.execute(
        """
        INSERT INTO revision_records (repo_pk, "commit", first_served_at, last_served_at)
        SELECT repos.id, downloads."commit", MIN(downloads.at), MAX(downloads.at)
        FROM downloads
        JOIN repos ON repos.repo_type = downloads.repo_type AND repos.repo_id = downloads.repo_id
        WHERE downloads.state = 'APPROVED'
        GROUP BY repos.id, downloads."commit"
        """
    )


def downgrade() -> None:
    op.drop_table("revision_records")
