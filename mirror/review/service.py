"""ReviewService: every change of a review goes through the transition table and leaves an audit event."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mirror.errors import AccessDenied, BadRequest, MirrorError, NotFound
from mirror.policy.engine import Decision, Reason
from mirror.review.auth import Principal
from mirror.review.transitions import (
    SERVABLE,
    Action,
    IllegalTransition,
    ReviewState,
    Role,
    gate_action,
    transition,
)
from mirror.review.webhook import Webhook
from storage.records import (
    BlobRecord,
    NewReview,
    ReviewChange,
    ReviewRecord,
    ReviewRequest,
    StoredReport,
    Waiver,
)
from storage.review_requests import FourEyesUnmet
from storage.review_store import ReviewStore, StaleReview

log = logging.getLogger(__name__)
SYSTEM = Principal(name="hubgate", role=Role.SYSTEM)


class ReviewNotFound(NotFound):
    code = "ReviewNotFound"


class ReviewRefused(AccessDenied):
    """A 403 because a review does not let its subject (a file's bytes, a revision) through. It names the
    review, so that the refusal can be recorded against it."""

    def __init__(self, message: str, *, review: ReviewRecord, commit: str | None = None) -> None:
        super().__init__(message, commit=commit)
        self.review = review


class FourEyesRequired(MirrorError):
    """A waiver under four-eyes with no request by another person: refused, nothing changed."""

    status = 403
    code = "FourEyesRequired"


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # "blob" | "revision"
    key: str  # sha256, or "<type>s/<repo>@<commit>"
    repo_type: str
    repo_id: str
    commit: str
    path: str = ""
    size: int = 0
    interpretations: str = ""  # blobs: what the names it was asked for make of its bytes (comma-separated)


def revision_key(repo_type: str, repo_id: str, commit: str) -> str:
    """The subject key of a revision's review: `<type>s/<repo>@<commit>` (one spelling, one place)."""
    return f"{repo_type}s/{repo_id}@{commit}"


def reasons_json(decision: Decision) -> str:
    return json.dumps([reason.to_dict() for reason in decision.reasons])


def rule_ids(decision: Decision) -> str:
    return ",".join(sorted({reason.rule_id for reason in decision.reasons}))


class ReviewService:
    def __init__(
        self, *, store: ReviewStore, webhook: Webhook, four_eyes: bool, public_url: str | None
    ) -> None:
        self.store = store
        self._webhook = webhook
        self._four_eyes = four_eyes
        self._public_url = public_url

    async def record_decision(
        self,
        subject: Subject,
        decision: Decision,
        *,
        scanner_version: str = "",
        reports: tuple[StoredReport, ...] = (),
        report_digest: str = "",
        blob: BlobRecord | None = None,
    ) -> ReviewRecord:
        """The gate's first decision about a subject (PENDING -> APPROVED | QUARANTINED | BLOCKED)."""
        state = transition(ReviewState.PENDING, gate_action(decision.verdict), Role.SYSTEM)
        review = await self.store.create(
            NewReview(
                subject_kind=subject.kind,
                subject=subject.key,
                state=state.value,
                severity=decision.severity,
                reasons=reasons_json(decision),
                repo_type=subject.repo_type,
                repo_id=subject.repo_id,
                commit=subject.commit,
                path=subject.path,
                size=subject.size,
                policy_version=decision.policy_version,
                scanner_version=scanner_version,
                interpretations=subject.interpretations,
            ),
            actor=SYSTEM.name,
            reason=decision.summary(),
            report_digest=report_digest,
            reports=reports,
            blob=blob,
        )
        if review.state != ReviewState.APPROVED:
            self._notify(
                "quarantine" if review.state == ReviewState.QUARANTINED else "blocked", review, SYSTEM
            )
        return review

    async def current(self, kind: str, key: str) -> ReviewRecord | None:
        """The subject's review, with an expired waiver already turned back into a quarantine."""
        review = await self.store.find(kind, key)
        if review is None:
            return None
        expires = review.waiver_expires_at
        if review.state == ReviewState.APPROVED and expires is not None and expires <= datetime.now(UTC):
            review = await self._expire(review)
        return review

    async def _expire(self, review: ReviewRecord) -> ReviewRecord:
        try:
            return await self.apply(review, Action.EXPIRE, SYSTEM, reason="the waiver expired")
        except StaleReview:
            return await self.store.get(review.id) or review

    def servable(self, review: ReviewRecord | None) -> bool:
        return review is not None and ReviewState(review.state) in SERVABLE

    async def get(self, review_id: int) -> ReviewRecord:
        review = await self.store.get(review_id)
        if review is None:
            raise ReviewNotFound(f"there is no review {review_id}")
        return review

    async def act(
        self,
        review_id: int,
        action: Action,
        principal: Principal,
        *,
        reason: str,
        expires_at: datetime | None = None,
    ) -> ReviewRecord:
        """A human decision (waive, block, revoke, reopen) through the API or CLI."""
        if not reason.strip():
            raise BadRequest("a reason is required for every decision")
        if expires_at is not None and (action is not Action.WAIVE or expires_at <= datetime.now(UTC)):
            raise BadRequest("an expiry applies only to an approval (waiver) and must lie in the future")
        review = await self.current_by_id(review_id)
        # Four-eyes guards the one decision that lets a refused file through: a waiver. Block, revoke and
        # reopen only keep or put a file behind the gate (a reopened file is quarantined, and still needs a
        # waiver), so one person may take them. Admins are people too: the rule binds them the same way.
        four_eyes = action is Action.WAIVE and self._four_eyes
        try:
            return await self.apply(
                review, action, principal, reason=reason, expires_at=expires_at, four_eyes=four_eyes
            )
        except FourEyesUnmet:
            raise FourEyesRequired(
                f"four-eyes rule: a waiver needs a review request by someone other than the approver; "
                f"no one but {principal.person!r} has requested review {review_id} since it last changed "
                f"state. Ask a colleague to run `hubgate review request {review_id} --justification ...`"
            ) from None
        except StaleReview as exc:
            raise IllegalTransition(
                f"review {review_id} changed meanwhile; reload it and decide again"
            ) from exc

    async def current_by_id(self, review_id: int) -> ReviewRecord:
        review = await self.get(review_id)
        return await self.current(review.subject_kind, review.subject) or review

    async def apply(
        self,
        review: ReviewRecord,
        action: Action,
        principal: Principal,
        *,
        reason: str,
        expires_at: datetime | None = None,
        decision: Decision | None = None,
        scanner_version: str | None = None,
        reports: tuple[StoredReport, ...] = (),
        four_eyes: bool = False,
    ) -> ReviewRecord:
        """Apply one transition. Raises IllegalTransition, NotPermitted, StaleReview or (with
        `four_eyes`) FourEyesUnmet, changing nothing."""
        change = _change(
            review,
            action,
            principal,
            reason=reason,
            expires_at=expires_at,
            decision=decision,
            scanner_version=scanner_version,
        )
        if four_eyes:
            change = replace(change, needs_request_by_other_than=principal.person)
        updated = await self.store.apply(review.id, from_state=review.state, change=change, reports=reports)
        self._announce(review, updated, action, principal)
        return updated

    async def rescan(
        self,
        review: ReviewRecord,
        principal: Principal,
        decision: Decision,
        *,
        reason: str,
        note: str,
        scanner_version: str | None = None,
        reports: tuple[StoredReport, ...] = (),
    ) -> ReviewRecord:
        """Back to PENDING and on to the new verdict in one transaction: a failure between the two leaves
        the review as it was, never PENDING. Raises IllegalTransition, NotPermitted, StaleReview."""
        to_pending = _change(review, Action.RESCAN, principal, reason=reason)
        pending = replace(review, state=to_pending.to_state)
        verdict = _change(
            pending,
            gate_action(decision.verdict),
            SYSTEM,
            reason=note,
            decision=decision,
            scanner_version=scanner_version,
        )
        updated = await self.store.apply_many(
            review.id, from_state=review.state, changes=(to_pending, verdict), reports=reports
        )
        self._announce(review, pending, Action.RESCAN, principal)
        self._announce(pending, updated, gate_action(decision.verdict), SYSTEM)
        return updated

    def _announce(
        self, before: ReviewRecord, after: ReviewRecord, action: Action, principal: Principal
    ) -> None:
        log.info(
            "review %d: %s -> %s by %s with token %s (%s)",
            before.id,
            before.state,
            after.state,
            principal.person,
            principal.name,
            action,
        )
        if principal.role is not Role.SYSTEM or after.state != ReviewState.APPROVED:
            self._notify(action.value, after, principal)

    async def reconsider(
        self,
        review: ReviewRecord,
        decision: Decision,
        *,
        scanner_version: str | None = None,
        reports: tuple[StoredReport, ...] = (),
    ) -> ReviewRecord:
        """Re-evaluate a subject under a new policy or scanner version.

        What now fails is revoked (unless a waiver covers exactly those rules); a quarantine that now
        passes is approved; a block (a human's or policy's refusal) stays until an admin reopens it.
        """
        state = ReviewState(review.state)
        note = f"re-evaluated under {decision.policy_version}: {decision.summary()}"
        if state is ReviewState.PENDING:
            return await self.resume_pending(
                review, decision, scanner_version=scanner_version, reports=reports
            )
        if state is ReviewState.BLOCKED:
            return review
        if state is ReviewState.APPROVED:
            waived = set(json.loads(review.waived_rules or "[]"))
            blocking = {reason.rule_id for reason in decision.enforced}
            if not blocking or (review.waiver_by and blocking <= waived):
                return await self._refresh(review, decision, note, scanner_version, reports)
            return await self.apply(
                review,
                Action.REVOKE,
                SYSTEM,
                reason=note,
                decision=decision,
                scanner_version=scanner_version,
                reports=reports,
            )
        if gate_action(decision.verdict) is Action.QUARANTINE and state is ReviewState.QUARANTINED:
            return await self._refresh(review, decision, note, scanner_version, reports)
        return await self.rescan(
            review,
            SYSTEM,
            decision,
            reason=note,
            note=note,
            scanner_version=scanner_version,
            reports=reports,
        )

    async def resume_pending(
        self,
        review: ReviewRecord,
        decision: Decision,
        *,
        scanner_version: str | None = None,
        reports: tuple[StoredReport, ...] = (),
    ) -> ReviewRecord:
        """Decide a review a failed rescan left PENDING (before rescans were one transaction)."""
        return await self.apply(
            review,
            gate_action(decision.verdict),
            SYSTEM,
            reason=f"resumed an interrupted rescan under {decision.policy_version}: {decision.summary()}",
            decision=decision,
            scanner_version=scanner_version,
            reports=reports,
        )

    async def widen(
        self,
        review: ReviewRecord,
        decision: Decision,
        *,
        interpretations: str,
        added: str,
        scanner_version: str,
        reports: tuple[StoredReport, ...],
    ) -> ReviewRecord:
        """A blob asked for under a name that gives its bytes a new meaning (`added`): `decision` judges it
        under every interpretation now covered, and never relaxes the review.

        An approval whose blocking rules the new meaning brings were not waived is revoked (a human
        decides again, knowing what the bytes are under every name); a quarantine or block keeps its
        state with the wider reasons; a PENDING or REVOKED review only records the wider scope.
        """
        state = ReviewState(review.state)
        note = f"asked for as {added} ({decision.summary()})"
        if state is ReviewState.APPROVED:
            waived = set(json.loads(review.waived_rules or "[]"))
            blocking = {reason.rule_id for reason in decision.enforced}
            if blocking and not (review.waiver_by and blocking <= waived):
                revoked = await self.apply(
                    review,
                    Action.REVOKE,
                    SYSTEM,
                    reason=note,
                    decision=decision,
                    scanner_version=scanner_version,
                    reports=reports,
                )
                return await self._refresh(
                    revoked, decision, note, scanner_version, (), interpretations=interpretations
                )
        return await self._refresh(
            review, decision, note, scanner_version, reports, interpretations=interpretations
        )

    async def _refresh(
        self,
        review: ReviewRecord,
        decision: Decision,
        note: str,
        scanner_version: str | None,
        reports: tuple[StoredReport, ...],
        *,
        interpretations: str | None = None,
    ) -> ReviewRecord:
        return await self.store.refresh(
            review.id,
            from_state=review.state,
            reasons=reasons_json(decision),
            severity=decision.severity,
            policy_version=decision.policy_version,
            scanner_version=scanner_version,
            actor=SYSTEM.name,
            reason=note,
            reports=reports,
            interpretations=interpretations,
        )

    async def requeue(self, review: ReviewRecord, reason: Reason) -> ReviewRecord:
        """Put an approved subject back in the review queue (APPROVED -> QUARANTINED) for `reason`, kept
        next to the reasons it had, so that a reviewer decides again knowing all of them. Raises
        IllegalTransition (not APPROVED) or StaleReview, changing nothing."""
        change = _change(review, Action.REQUEUE, SYSTEM, reason=f"{reason.rule_id}: {reason.message}")
        kept = [r for r in json.loads(review.reasons) if r.get("rule_id") != reason.rule_id]
        change = replace(change, reasons=json.dumps([*kept, reason.to_dict()]), rule_ids=reason.rule_id)
        updated = await self.store.apply(review.id, from_state=review.state, change=change)
        self._announce(review, updated, Action.REQUEUE, SYSTEM)
        return updated

    async def request(self, review_id: int, principal: Principal, *, justification: str) -> ReviewRecord:
        if not justification.strip():
            raise BadRequest("a justification is required to request a review")
        await self.get(review_id)
        review = await self.store.record_request(
            review_id,
            subject=principal.person,
            token_name=principal.name,
            role=principal.role.name.lower(),
            justification=justification,
        )
        self._notify("request", review, principal)
        return review

    async def requests(self, review_id: int) -> list[ReviewRequest]:
        return await self.store.requests(review_id)

    def refuse(self, review: ReviewRecord, *, commit: str | None = None) -> ReviewRefused:
        """The error a client gets for a subject the review does not let through."""
        return ReviewRefused(self.refusal_message(review), review=review, commit=commit)

    def refusal_message(self, review: ReviewRecord) -> str:
        """What a client is told when a subject is not servable: why, the review id, how to ask."""
        # The reasons that refuse: an allowed licence next to a failed signature is not why.
        reasons = [
            r for r in json.loads(review.reasons) if not r.get("audit_only") and r.get("verdict") != "allow"
        ]
        why = "; ".join(f"{r['rule_id']}: {r['message']}" for r in reasons[:3]) or "awaiting review"
        where = f" ({review.path})" if review.path else ""
        api = (self._public_url or "") + f"/api/hubgate/v1/reviews/{review.id}/request"
        return (
            f"blocked by hubgate{where}: {review.state.lower()} - {why}. Review id {review.id}. "
            f'Ask for a review: `hubgate review request {review.id} --justification "..."` or POST {api}'
        )

    def _notify(self, event: str, review: ReviewRecord, principal: Principal) -> None:
        self._webhook.notify(
            {
                "event": event,
                "review_id": review.id,
                "state": review.state,
                "subject_kind": review.subject_kind,
                "subject": review.subject,
                "repo": f"{review.repo_type}s/{review.repo_id}" if review.repo_id else "",
                "commit": review.commit,
                "path": review.path,
                "severity": review.severity,
                "reasons": json.loads(review.reasons),
                "actor": principal.person,
                "token": "" if principal.role is Role.SYSTEM else principal.name,
                "at": datetime.now(UTC).isoformat(),
            }
        )


def _change(
    review: ReviewRecord,
    action: Action,
    principal: Principal,
    *,
    reason: str,
    expires_at: datetime | None = None,
    decision: Decision | None = None,
    scanner_version: str | None = None,
) -> ReviewChange:
    """The change `action` by `principal` makes to `review`. Raises IllegalTransition or NotPermitted."""
    target = transition(ReviewState(review.state), action, principal.role)
    waiver = None
    if action is Action.WAIVE:
        waived = json.dumps(sorted({str(r["rule_id"]) for r in json.loads(review.reasons)}))
        waiver = Waiver(by=principal.person, reason=reason, expires_at=expires_at, rules_json=waived)
    return ReviewChange(
        to_state=target.value,
        actor=principal.person,
        actor_token="" if principal.role is Role.SYSTEM else principal.name,
        role=principal.role.name.lower(),
        action=action.value,
        reason=reason,
        rule_ids="" if decision is None else rule_ids(decision),
        severity=None if decision is None else decision.severity,
        reasons=None if decision is None else reasons_json(decision),
        policy_version=None if decision is None else decision.policy_version,
        scanner_version=scanner_version,
        waiver=waiver,
        clear_waiver=action in (Action.REVOKE, Action.EXPIRE, Action.REQUEUE, Action.RESCAN, Action.BLOCK),
    )
