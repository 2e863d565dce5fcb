"""Blob reviews record the interpretations they were decided under (what the names a blob was asked for
make of its bytes); a path of another interpretation is a new decision, never an inherited approval.

Older rows keep "" and count as decided under their first path's interpretation.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("interpretations", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("interpretations")
