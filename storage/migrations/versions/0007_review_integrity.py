"""Review integrity: tokens belong to a person (subject), every review request is kept, audit rows name
the token as well as the person.

Existing tokens get their own name as subject (the bootstrap admin token's name is `bootstrap-admin`, so
that is its subject too). Every `request` event already in the audit trail becomes a kept request, so the
four-eyes rule sees the requests made before the upgrade as well.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("subject", sa.String(200), nullable=False, server_default=""))
    op.execute("UPDATE api_tokens SET subject = name")
    op.create_index("ix_api_tokens_subject", "api_tokens", ["subject"])
    # The hash covers actor_token only when it is set, so rows written before this revision still verify.
    op.add_column("audit_events", sa.Column("actor_token", sa.String(200), nullable=False, server_default=""))
    op.create_table(
        "review_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("token_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("review_state", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        # The audit event recording the request: orders it against the review's transitions.
        sa.Column("audit_event_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_review_requests_review", "review_requests", ["review_id", "audit_event_id"])
    # Before this revision a request's actor was the token name, which is now that token's subject.
    op.execute(
        "INSERT INTO review_requests "
        "(review_id, subject, token_name, role, justification, review_state, at, audit_event_id) "
        "SELECT review_id, actor, actor, role, reason, from_state, at, id FROM audit_events "
        "WHERE action = 'request' AND review_id IS NOT NULL ORDER BY id"
    )


def downgrade() -> None:
    op.drop_index("ix_review_requests_review", table_name="review_requests")
    op.drop_table("review_requests")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor_token")
    op.drop_index("ix_api_tokens_subject", table_name="api_tokens")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("subject")
