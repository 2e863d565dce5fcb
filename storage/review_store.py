"""Queries for reviews and their scan reports and requests (tokens: storage.tokens; the audit trail:
storage.audit_trail; downloads: storage.download_records).

Every state change and its audit event are written in one transaction; audit appends are serialised
by updating the single audit_head row first, so the hash chain never forks, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit_trail import append_event
from storage.db import Database, DatabaseUnavailable
from storage.queries import Queries, aware, utcnow
from storage.records import (
    BlobRecord,
    NewReview,
    ReviewChange,
    ReviewRecord,
    ReviewRequest,
    ScanReportRecord,
    StoredReport,
)
from storage.review_requests import (
    add_request,
    last_transition_event,
    requests_of,
    require_request_by_other,
)
from storage.tables import (
    ReviewRow,
    ScanReportRow,
)


def _report_row(blob_sha256: str, report: StoredReport, at: datetime) -> ScanReportRow:
    return ScanReportRow(
        blob_sha256=blob_sha256,
        scanner=report.scanner,
        scanner_version=report.scanner_version,
        status=report.status,
        format=report.format,
        report=report.report_json,
        created_at=at,
    )


class StaleReview(Exception):
    """The review changed state between reading and writing it (another replica or request won)."""


def _review(row: ReviewRow) -> ReviewRecord:
    return ReviewRecord(
        id=row.id,
        subject_kind=row.subject_kind,
        subject=row.subject,
        state=row.state,
        severity=row.severity,
        reasons=row.reasons,
        repo_type=row.repo_type,
        repo_id=row.repo_id,
        commit=row.commit,
        path=row.path,
        size=row.size,
        policy_version=row.policy_version,
        scanner_version=row.scanner_version,
        waiver_by=row.waiver_by,
        waiver_reason=row.waiver_reason,
        waiver_expires_at=None if row.waiver_expires_at is None else aware(row.waiver_expires_at),
        waived_rules=row.waived_rules,
        requested_by=row.requested_by,
        request_justification=row.request_justification,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        interpretations=row.interpretations,
    )


def _review_from_mapping(row: Any) -> ReviewRecord:
    values = dict(row)
    for name in ("created_at", "updated_at"):
        values[name] = aware(values[name])
    if values["waiver_expires_at"] is not None:
        values["waiver_expires_at"] = aware(values["waiver_expires_at"])
    return ReviewRecord(**values)


class ReviewStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._q = Queries(database)

    def _session(self) -> Any:
        return self._q.session()

    # -- reviews ---------------------------------------------------------------------------------------

    async def get(self, review_id: int) -> ReviewRecord | None:
        async with self._session() as session:
            row = await session.get(ReviewRow, review_id)
            return None if row is None else _review(row)

    async def find(self, subject_kind: str, subject: str) -> ReviewRecord | None:
        # On every file request: a Core query on a pooled connection, no ORM session bookkeeping.
        table = ReviewRow.__table__
        query = select(table).where(table.c.subject_kind == subject_kind, table.c.subject == subject)
        try:
            async with self.database.engine.connect() as connection:
                row = (await connection.execute(query)).mappings().first()
        except (OperationalError, InterfaceError, OSError) as exc:
            raise DatabaseUnavailable(f"metadata database unavailable: {type(exc).__name__}") from exc
        return None if row is None else _review_from_mapping(row)

    async def states(self, subject_kind: str, subjects: Sequence[str]) -> dict[str, ReviewRecord]:
        async with self._session() as session:
            rows = await session.scalars(
                select(ReviewRow).where(
                    ReviewRow.subject_kind == subject_kind, ReviewRow.subject.in_(subjects)
                )
            )
            return {row.subject: _review(row) for row in rows}

    async def create(
        self,
        review: NewReview,
        *,
        actor: str,
        reason: str,
        report_digest: str = "",
        reports: Sequence[StoredReport] = (),
        blob: BlobRecord | None = None,
    ) -> ReviewRecord:
        """Insert the first review of a subject with its reports and audit event, or return the existing one.

        `reports` are (scanner, scanner_version, status, format, report JSON) rows stored with it.
        """
        now = utcnow()
        async with self._session() as session, session.begin():
            if blob is not None:
                # The blob row commits with its first verdict: no stored blob is ever without a review.
                await session.execute(self._q.blob_upsert(blob, now))
            # Insert-or-nothing, so that two requests deciding the same subject at once cannot collide.
            inserted = await session.scalar(
                self._q.insert(ReviewRow)
                .values(
                    subject_kind=review.subject_kind,
                    subject=review.subject,
                    state=review.state,
                    severity=review.severity,
                    reasons=review.reasons,
                    repo_type=review.repo_type,
                    repo_id=review.repo_id,
                    commit=review.commit,
                    path=review.path,
                    size=review.size,
                    policy_version=review.policy_version,
                    scanner_version=review.scanner_version,
                    interpretations=review.interpretations,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["subject_kind", "subject"])
                .returning(ReviewRow.id)
            )
            row = await session.scalar(
                select(ReviewRow).where(
                    ReviewRow.subject_kind == review.subject_kind, ReviewRow.subject == review.subject
                )
            )
            assert row is not None
            if inserted is None:
                return _review(row)
            for report in reports:
                session.add(_report_row(review.subject, report, now))
            rule_ids = ",".join(sorted({str(r["rule_id"]) for r in json.loads(review.reasons)}))
            await append_event(
                session,
                actor=actor,
                role="system",
                action="decide",
                review_id=row.id,
                subject=review.subject,
                from_state="PENDING",
                to_state=review.state,
                reason=reason,
                rule_ids=rule_ids,
                report_digest=report_digest,
            )
            return _review(row)

    async def apply(
        self,
        review_id: int,
        *,
        from_state: str,
        change: ReviewChange,
        reports: Sequence[StoredReport] = (),
    ) -> ReviewRecord:
        """Move a review from `from_state` as `change` says, with its audit event, atomically.

        Raises StaleReview when the review is no longer in `from_state` (a concurrent decision won),
        FourEyesUnmet when the change needs a request by someone else and there is none.
        """
        return await self.apply_many(review_id, from_state=from_state, changes=(change,), reports=reports)

    async def apply_many(
        self,
        review_id: int,
        *,
        from_state: str,
        changes: Sequence[ReviewChange],
        reports: Sequence[StoredReport] = (),
    ) -> ReviewRecord:
        """Apply consecutive transitions (e.g. rescan to PENDING, then the new verdict) in one transaction:
        all of them with their audit events, or none. `reports` are stored with the last one.

        Raises StaleReview or FourEyesUnmet, changing nothing.
        """
        now = utcnow()
        async with self._session() as session, session.begin():
            state = from_state
            row: ReviewRow | None = None
            for index, change in enumerate(changes):
                row = await self._transition(session, review_id, state, change, now=now)
                last = index == len(changes) - 1
                for report in reports if last else ():
                    session.add(_report_row(row.subject, report, now))
                await append_event(
                    session,
                    actor=change.actor,
                    actor_token=change.actor_token,
                    role=change.role,
                    action=change.action,
                    review_id=review_id,
                    subject=row.subject,
                    from_state=state,
                    to_state=change.to_state,
                    reason=change.reason,
                    rule_ids=change.rule_ids,
                    report_digest=change.report_digest,
                )
                state = change.to_state
            if row is None:
                raise ValueError("apply_many needs at least one change")
            return _review(row)

    async def _transition(
        self, session: AsyncSession, review_id: int, from_state: str, change: ReviewChange, *, now: datetime
    ) -> ReviewRow:
        values: dict[str, Any] = {"state": change.to_state, "updated_at": now}
        for field in ("severity", "reasons", "policy_version", "scanner_version", "interpretations"):
            value = getattr(change, field)
            if value is not None:
                values[field] = value
        if change.waiver is not None:
            waiver = change.waiver
            values.update(
                waiver_by=waiver.by,
                waiver_reason=waiver.reason,
                waiver_expires_at=waiver.expires_at,
                waived_rules=waiver.rules_json,
            )
        elif change.clear_waiver:
            values.update(waiver_by=None, waiver_reason=None, waiver_expires_at=None, waived_rules=None)
        # The compare-and-set takes the row's write lock before the four-eyes check reads the requests.
        result = await session.execute(
            update(ReviewRow).where(ReviewRow.id == review_id, ReviewRow.state == from_state).values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleReview(f"review {review_id} is no longer {from_state}")
        if change.needs_request_by_other_than is not None:
            since = await last_transition_event(session, review_id)
            await require_request_by_other(
                session, review_id, change.needs_request_by_other_than, since_event=since
            )
        row = await session.get(ReviewRow, review_id, populate_existing=True)
        assert row is not None
        return row

    async def refresh(
        self,
        review_id: int,
        *,
        from_state: str,
        reasons: str,
        severity: str,
        policy_version: str,
        scanner_version: str | None,
        actor: str,
        reason: str,
        reports: Sequence[StoredReport] = (),
        interpretations: str | None = None,
    ) -> ReviewRecord:
        """Record a re-evaluation that keeps the state (new versions and reasons), with its audit event."""
        change = ReviewChange(
            to_state=from_state,
            actor=actor,
            role="system",
            action="reevaluate",
            reason=reason,
            severity=severity,
            reasons=reasons,
            policy_version=policy_version,
            scanner_version=scanner_version,
            interpretations=interpretations,
        )
        return await self.apply(review_id, from_state=from_state, change=change, reports=reports)

    async def record_request(
        self, review_id: int, *, subject: str, token_name: str, role: str, justification: str
    ) -> ReviewRecord:
        """Keep one more request (earlier ones stay); the review row shows the latest one."""
        async with self._session() as session, session.begin():
            row = await session.get(ReviewRow, review_id)
            if row is None:
                raise KeyError(review_id)
            now = utcnow()
            row.requested_by = subject
            row.request_justification = justification
            row.updated_at = now
            event_id = await append_event(
                session,
                actor=subject,
                actor_token=token_name,
                role=role,
                action="request",
                review_id=review_id,
                subject=row.subject,
                from_state=row.state,
                to_state=row.state,
                reason=justification,
            )
            add_request(
                session,
                review_id=review_id,
                subject=subject,
                token_name=token_name,
                role=role,
                justification=justification,
                review_state=row.state,
                at=now,
                audit_event_id=event_id,
            )
            return _review(row)

    async def requests(self, review_id: int) -> list[ReviewRequest]:
        """Every request for the review, oldest first."""
        async with self._session() as session:
            return await requests_of(session, review_id)

    async def list_reviews(
        self,
        *,
        states: Sequence[str] = (),
        repo: str | None = None,
        severity: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[ReviewRecord]:
        """Reviews in any of `states` (all states when empty), by id, after `after_id`."""
        async with self._session() as session:
            query = select(ReviewRow).where(ReviewRow.id > after_id)
            if states:
                query = query.where(ReviewRow.state.in_(states))
            if repo:
                query = query.where(ReviewRow.repo_id == repo)
            if severity:
                query = query.where(ReviewRow.severity == severity)
            rows = await session.scalars(query.order_by(ReviewRow.id).limit(limit))
            return [_review(row) for row in rows]

    async def count_by_state(self) -> dict[str, int]:
        async with self._session() as session:
            rows = await session.execute(select(ReviewRow.state, func.count()).group_by(ReviewRow.state))
            return {str(row[0]): int(row[1]) for row in rows}

    async def expired_waivers(self, now: datetime) -> list[ReviewRecord]:
        async with self._session() as session:
            rows = await session.scalars(
                select(ReviewRow).where(
                    ReviewRow.state == "APPROVED",
                    ReviewRow.waiver_expires_at.is_not(None),
                    ReviewRow.waiver_expires_at <= now,
                )
            )
            return [_review(row) for row in rows]

    async def outdated(
        self, *, policy_version: str, scanner_version: str, after_id: int, limit: int
    ) -> list[ReviewRecord]:
        async with self._session() as session:
            rows = await session.scalars(
                select(ReviewRow)
                .where(
                    ReviewRow.id > after_id,
                    ReviewRow.subject_kind == "blob",
                    ReviewRow.state.in_(("APPROVED", "QUARANTINED", "REVOKED")),
                    (ReviewRow.policy_version != policy_version)
                    | (ReviewRow.scanner_version != scanner_version),
                )
                .order_by(ReviewRow.id)
                .limit(limit)
            )
            return [_review(row) for row in rows]

    async def stranded_pending(self, *, after_id: int, limit: int) -> list[ReviewRecord]:
        """Reviews stored as PENDING. A rescan commits PENDING and its verdict together, so a stored PENDING
        is one a failed two-step rescan (before that was one transaction) left behind."""
        async with self._session() as session:
            rows = await session.scalars(
                select(ReviewRow)
                .where(ReviewRow.id > after_id, ReviewRow.state == "PENDING")
                .order_by(ReviewRow.id)
                .limit(limit)
            )
            return [_review(row) for row in rows]

    async def reports(self, blob_sha256: str) -> list[ScanReportRecord]:
        """A blob's scan reports, newest first."""
        async with self._session() as session:
            rows = await session.scalars(
                select(ScanReportRow)
                .where(ScanReportRow.blob_sha256 == blob_sha256)
                .order_by(ScanReportRow.id.desc())
            )
            return [
                ScanReportRecord(
                    scanner_version=row.scanner_version,
                    created_at=aware(row.created_at),
                    report_json=row.report,
                )
                for row in rows
            ]
