"""The audit chain's hash: one canonical serialisation shared by the writer and `hubgate audit verify`."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from storage.records import AuditEvent

GENESIS = "0" * 64


def canonical_time(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    event_id: int,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    review_id: int | None,
    subject: str,
    from_state: str,
    to_state: str,
    reason: str,
    rule_ids: str,
    report_digest: str,
    prev_hash: str,
    actor_token: str = "",
) -> str:
    fields: list[object] = [
        event_id,
        canonical_time(at),
        actor,
        role,
        action,
        review_id,
        subject,
        from_state,
        to_state,
        reason,
        rule_ids,
        report_digest,
        prev_hash,
    ]
    if actor_token:
        # Appended only when set: rows written before tokens were recorded keep their original hash, and
        # blanking the token of a newer row changes its hash like any other edit.
        fields.append(actor_token)
    return hashlib.sha256(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def stored_event_hash(event: AuditEvent) -> str:
    """What `event`'s hash must be, recomputed from its stored content and its stored link."""
    return event_hash(
        event_id=event.id,
        at=event.at,
        actor=event.actor,
        role=event.role,
        action=event.action,
        review_id=event.review_id,
        subject=event.subject,
        from_state=event.from_state,
        to_state=event.to_state,
        reason=event.reason,
        rule_ids=event.rule_ids,
        report_digest=event.report_digest,
        prev_hash=event.prev_hash,
        actor_token=event.actor_token,
    )
