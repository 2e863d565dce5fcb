"""A blob's git blob sha1 is optional: content fetched as an LFS file is hashed with sha256 alone (the
digest the Hub publishes for it; an LFS file's git id is its pointer's). The sha1 is filled in when the
same bytes are fetched as a file kept in git.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.alter_column("git_sha1", existing_type=sa.String(40), nullable=True)


def downgrade() -> None:
    # Rows without a sha1 cannot be kept under NOT NULL: forget them (their objects are fetched again).
    op.execute("DELETE FROM blobs WHERE git_sha1 IS NULL")
    with op.batch_alter_table("blobs") as batch:
        batch.alter_column("git_sha1", existing_type=sa.String(40), nullable=False)
