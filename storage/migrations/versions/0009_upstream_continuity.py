"""Continuity when a repository disappears or moves behind approvals: what the Hub last said about each
repository (present, removed, gated, and since when), and which revisions hubgate held while their
repository was public (only those may be served once the Hub stops serving them).

Backfill: revisions whose files hubgate already knows count as held while public when the Hub's last
answer about their repository (private, gated) said public. That is the best evidence there is, and it
fails closed: a revision of a repository last seen private or gated (or never checked) is not public.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("repos") as batch:
        batch.add_column(sa.Column("upstream_state", sa.String(16), nullable=False, server_default="present"))
        batch.add_column(sa.Column("upstream_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("upstream_detail", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "held_revisions",
        sa.Column("repo_pk", sa.Integer(), sa.ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("commit", sa.String(40), primary_key=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        """
        INSERT INTO held_revisions (repo_pk, "commit", public, seen_at)
        SELECT DISTINCT f.repo_pk, f."commit",
               CASE WHEN r.private = false AND r.gated = '' AND r.flags_checked_at IS NOT NULL
                    THEN true ELSE false END,
               COALESCE(r.flags_checked_at, CURRENT_TIMESTAMP)
        FROM file_entries f JOIN repos r ON r.id = f.repo_pk
        """
    )


def downgrade() -> None:
    op.drop_table("held_revisions")
    with op.batch_alter_table("repos") as batch:
        batch.drop_column("upstream_detail")
        batch.drop_column("upstream_since")
        batch.drop_column("upstream_state")
