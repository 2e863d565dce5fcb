"""Unverified prefixes: how much of a blob a failed live download handed out, shared by every replica
(see storage/unverified_prefixes.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unverified_prefixes",
        sa.Column("blob_key", sa.String(80), primary_key=True),
        sa.Column("handed_out", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("unverified_prefixes")
