"""Refused download attempts: who tried to pull a file or revision a review refused, when, with which
client, aggregated per day (see storage/refused_attempts.py and mirror/inventory/refusals.py).

Chained after 0011 (a blob's optional git sha1, merged later than this was written); it depends on
nothing that one adds.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refused_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("repo_type", sa.String(16), nullable=False),
        sa.Column("repo_id", sa.String(200), nullable=False),
        sa.Column("commit", sa.String(40), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("identity", sa.String(80), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("folded", sa.String(16), nullable=False, server_default=""),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("day", "key_hash", name="uq_refused_attempts_day_key"),
    )
    op.create_index("ix_refused_attempts_review", "refused_attempts", ["review_id", "last_at"])


def downgrade() -> None:
    op.drop_index("ix_refused_attempts_review", table_name="refused_attempts")
    op.drop_table("refused_attempts")
