"""The inventory records each revision's origins: the publisher and every repository of its base_model
lineage with country, family and the entity lists naming it, the origin verdict and its findings.

Existing rows keep "" (not recorded); the re-evaluation job decides them again and fills it in.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("revision_records") as batch:
        batch.add_column(sa.Column("origins", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("revision_records") as batch:
        batch.drop_column("origins")
