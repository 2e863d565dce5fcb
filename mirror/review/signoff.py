"""The sign-off of a revision's licence review: who let it through, why, when and until when.

A licence that needs a human (a vendor or research licence, none stated, a failed model signature)
becomes one review of the revision; approving it is a waiver, which already records the authenticated
person (the token's subject, four-eyes applying), the reason they gave, the expiry and exactly which
rules they waived (`licence.vendor`, `signatures.wrong-key`, ...). That waiver *is* the legal sign-off:
a separate free-text "signed off by" field would be a claim nobody authenticated. This module reads it
back with the time and token from the audit trail, for `hubgate check` and the inventory API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mirror.review.transitions import Action, ReviewState
from storage.audit_trail import AuditTrail
from storage.records import ReviewRecord

_MAX_EVENTS = 5000  # a review's own history; far more than any review gathers


@dataclass(frozen=True, slots=True)
class SignOff:
    review_id: int
    by: str  # the person (token subject) who approved
    token: str  # the token they used
    reason: str
    at: datetime | None  # when (from the audit trail)
    expires_at: datetime | None
    rules: tuple[str, ...]  # the rules waived: licence.* for a licence sign-off

    @property
    def kind(self) -> str:
        """licence when a licence rule was waived (with or without signature rules), else signature."""
        if any(rule.startswith("licence.") for rule in self.rules):
            return "licence"
        return "signature" if any(rule.startswith("signatures.") for rule in self.rules) else "other"

    def to_dict(self) -> dict[str, Any]:
        return {
            "review_id": self.review_id,
            "kind": self.kind,
            "by": self.by,
            "token": self.token,
            "reason": self.reason,
            "at": None if self.at is None else self.at.isoformat(),
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "rules": list(self.rules),
        }


async def revision_sign_off(review: ReviewRecord | None, trail: AuditTrail) -> SignOff | None:
    """The standing approval of a revision review, or None (no review, not approved, or the gate's own)."""
    if (
        review is None
        or review.subject_kind != "revision"
        or review.state != ReviewState.APPROVED
        or review.waiver_by is None
    ):
        return None
    events = await trail.audit_events(review_id=review.id, limit=_MAX_EVENTS)
    waived = [event for event in events if event.action == Action.WAIVE.value]
    last = waived[-1] if waived else None
    return SignOff(
        review_id=review.id,
        by=review.waiver_by,
        token=last.actor_token if last is not None else "",
        reason=review.waiver_reason or "",
        at=last.at if last is not None else None,
        expires_at=review.waiver_expires_at,
        rules=tuple(json.loads(review.waived_rules or "[]")),
    )
