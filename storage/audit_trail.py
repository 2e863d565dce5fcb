"""The audit trail: append-only, hash-chained events.

Appends are serialised by updating the single audit_head row first, so the chain never forks on SQLite or
PostgreSQL. Stores that change state (reviews, tokens) append in their own transaction with
`append_event`; `AuditTrail` reads the trail and records events that change nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import event_hash
from storage.db import Database
from storage.queries import Queries, aware, utcnow
from storage.records import AuditEvent
from storage.tables import AuditEventRow, AuditHeadRow


async def append_event(
    session: AsyncSession,
    *,
    actor: str,
    role: str,
    action: str,
    review_id: int | None,
    subject: str,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    rule_ids: str = "",
    report_digest: str = "",
    actor_token: str = "",
) -> int:
    """Append one event to the chain; returns its id. Call inside the caller's transaction."""
    # Taking the head row's write lock first makes concurrent appends queue up behind each other.
    await session.execute(
        update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_id=AuditHeadRow.last_id + 1)
    )
    head = await session.get(AuditHeadRow, 1, populate_existing=True)
    if head is None:  # pragma: no cover - created by the migration
        raise RuntimeError("audit_head row missing: run `hubgate migrate`")
    # One field set feeds both the hash and the row, so the two can never disagree.
    fields: dict[str, Any] = {
        "at": utcnow(),
        "actor": actor,
        "role": role,
        "action": action,
        "review_id": review_id,
        "subject": subject,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "rule_ids": rule_ids,
        "report_digest": report_digest,
        "prev_hash": head.last_hash,
    }
    digest = event_hash(event_id=head.last_id, actor_token=actor_token, **fields)
    session.add(AuditEventRow(id=head.last_id, hash=digest, actor_token=actor_token, **fields))
    head.last_hash = digest
    return head.last_id


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=aware(row.at),
        actor=row.actor,
        role=row.role,
        action=row.action,
        review_id=row.review_id,
        subject=row.subject,
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        rule_ids=row.rule_ids,
        report_digest=row.report_digest,
        prev_hash=row.prev_hash,
        hash=row.hash,
        actor_token=row.actor_token,
    )


class AuditTrail:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    def _session(self) -> Any:
        return self._q.session()

    async def audit(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        subject: str,
        reason: str = "",
        actor_token: str = "",
    ) -> int:
        """An audit event that changes no review (token created, records lost, ...); returns its id."""
        async with self._session() as session, session.begin():
            return await append_event(
                session,
                actor=actor,
                role=role,
                action=action,
                review_id=None,
                subject=subject,
                reason=reason,
                actor_token=actor_token,
            )

    async def audit_events(
        self, *, after_id: int = 0, limit: int = 1000, review_id: int | None = None
    ) -> list[AuditEvent]:
        async with self._session() as session:
            query = select(AuditEventRow).where(AuditEventRow.id > after_id)
            if review_id is not None:
                query = query.where(AuditEventRow.review_id == review_id)
            rows = await session.scalars(query.order_by(AuditEventRow.id).limit(limit))
            return [_event(row) for row in rows]

    async def iter_audit(self, batch: int = 5000) -> AsyncIterator[AuditEvent]:
        after = 0
        while True:
            events = await self.audit_events(after_id=after, limit=batch)
            if not events:
                return
            for event in events:
                yield event
            after = events[-1].id

    async def audit_head(self) -> tuple[int, str]:
        async with self._session() as session:
            head = await session.get(AuditHeadRow, 1)
            if head is None:  # pragma: no cover
                raise RuntimeError("audit_head row missing")
            return head.last_id, head.last_hash

    async def audit_count(self, *, through_id: int) -> int:
        """How many audit rows have an id up to `through_id` (all committed: appends are serialised)."""
        async with self._session() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(AuditEventRow).where(AuditEventRow.id <= through_id)
                )
                or 0
            )
