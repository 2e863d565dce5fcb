"""Repository aliases: which canonical id a spelling of a repository id (legacy, renamed, case variant)
names on the Hub.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repo_aliases",
        sa.Column("repo_type", sa.String(16), primary_key=True),
        sa.Column("alias", sa.String(200), primary_key=True),
        sa.Column("canonical_id", sa.String(200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("repo_aliases")
