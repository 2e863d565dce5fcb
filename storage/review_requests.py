"""Review requests: kept one row each, never overwritten, and the four-eyes question asked of them.

The queries take the caller's session, so that the four-eyes check runs in the same transaction as the
waiver it guards (a request and a transition racing cannot slip between a check and a write).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.queries import aware
from storage.records import ReviewRequest
from storage.tables import AuditEventRow, ReviewRequestRow


class FourEyesUnmet(Exception):
    """No one but the deciding person asked for a review since the review last changed state."""


def _request(row: ReviewRequestRow) -> ReviewRequest:
    return ReviewRequest(
        id=row.id,
        review_id=row.review_id,
        subject=row.subject,
        token_name=row.token_name,
        role=row.role,
        justification=row.justification,
        review_state=row.review_state,
        at=aware(row.at),
        audit_event_id=row.audit_event_id,
    )


def add_request(
    session: AsyncSession,
    *,
    review_id: int,
    subject: str,
    token_name: str,
    role: str,
    justification: str,
    review_state: str,
    at: datetime,
    audit_event_id: int,
) -> None:
    session.add(
        ReviewRequestRow(
            review_id=review_id,
            subject=subject,
            token_name=token_name,
            role=role,
            justification=justification,
            review_state=review_state,
            at=at,
            audit_event_id=audit_event_id,
        )
    )


async def requests_of(session: AsyncSession, review_id: int) -> list[ReviewRequest]:
    rows = await session.scalars(
        select(ReviewRequestRow)
        .where(ReviewRequestRow.review_id == review_id)
        .order_by(ReviewRequestRow.audit_event_id)
    )
    return [_request(row) for row in rows]


async def last_transition_event(session: AsyncSession, review_id: int) -> int:
    """The audit event id of the review's last change of state (0 when none is recorded)."""
    found = await session.scalar(
        select(func.max(AuditEventRow.id)).where(
            AuditEventRow.review_id == review_id, AuditEventRow.from_state != AuditEventRow.to_state
        )
    )
    return int(found or 0)


async def require_request_by_other(
    session: AsyncSession, review_id: int, subject: str, *, since_event: int
) -> None:
    """Raise FourEyesUnmet unless someone other than `subject` requested the review after `since_event`.

    Requests made before the review's current state began belong to an earlier decision: a waiver after
    an expiry or a rescan needs a request of its own.
    """
    other = await session.scalar(
        select(ReviewRequestRow.id)
        .where(
            ReviewRequestRow.review_id == review_id,
            ReviewRequestRow.audit_event_id > since_event,
            ReviewRequestRow.subject != subject,
        )
        .limit(1)
    )
    if other is None:
        raise FourEyesUnmet(f"review {review_id}: no request by anyone but {subject!r} since its last change")
