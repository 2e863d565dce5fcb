"""The review state machine: one TRANSITIONS table, one transition() function.

PENDING -> APPROVED | QUARANTINED | BLOCKED (the gate's own decision);
QUARANTINED -> APPROVED (a waiver) | BLOCKED; APPROVED -> REVOKED (new intel, rescan, policy change);
an expired waiver falls back to QUARANTINED, and so does an approval whose subject the Hub stopped serving
when the continuity policy wants a human to decide again (requeue); QUARANTINED and REVOKED go back to
PENDING on a rescan;
an admin may reopen a BLOCKED subject into QUARANTINED. Nothing else is possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from mirror.errors import MirrorError
from mirror.policy.engine import Verdict


class ReviewState(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    QUARANTINED = "QUARANTINED"
    BLOCKED = "BLOCKED"
    REVOKED = "REVOKED"


class Action(StrEnum):
    ALLOW = "allow"  # the gate found nothing that needs a human
    QUARANTINE = "quarantine"  # the gate wants a human decision
    DENY = "deny"  # policy refuses outright
    WAIVE = "waive"  # a human approves what was quarantined
    BLOCK = "block"
    REVOKE = "revoke"
    EXPIRE = "expire"  # a waiver's expiry passed
    REQUEUE = "requeue"  # back to the review queue: the Hub stopped serving the repository (continuity)
    RESCAN = "rescan"
    REOPEN = "reopen"


class Role(IntEnum):
    """Ordered: each role may do what the roles below it may."""

    VIEWER = 1
    REQUESTER = 2
    APPROVER = 3
    ADMIN = 4
    SYSTEM = 5  # hubgate itself (scans, policy, expiry); never held by a token

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            role = cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}: use viewer, requester, approver or admin") from None
        if role is Role.SYSTEM:
            raise ValueError("the system role cannot be given to a token")
        return role


@dataclass(frozen=True, slots=True)
class Rule:
    to: ReviewState
    least_role: Role


TRANSITIONS: dict[tuple[ReviewState, Action], Rule] = {
    (ReviewState.PENDING, Action.ALLOW): Rule(ReviewState.APPROVED, Role.SYSTEM),
    (ReviewState.PENDING, Action.QUARANTINE): Rule(ReviewState.QUARANTINED, Role.SYSTEM),
    (ReviewState.PENDING, Action.DENY): Rule(ReviewState.BLOCKED, Role.SYSTEM),
    (ReviewState.QUARANTINED, Action.WAIVE): Rule(ReviewState.APPROVED, Role.APPROVER),
    (ReviewState.QUARANTINED, Action.BLOCK): Rule(ReviewState.BLOCKED, Role.APPROVER),
    (ReviewState.QUARANTINED, Action.RESCAN): Rule(ReviewState.PENDING, Role.APPROVER),
    (ReviewState.APPROVED, Action.REVOKE): Rule(ReviewState.REVOKED, Role.APPROVER),
    (ReviewState.APPROVED, Action.EXPIRE): Rule(ReviewState.QUARANTINED, Role.SYSTEM),
    (ReviewState.APPROVED, Action.REQUEUE): Rule(ReviewState.QUARANTINED, Role.SYSTEM),
    (ReviewState.APPROVED, Action.RESCAN): Rule(ReviewState.PENDING, Role.APPROVER),
    (ReviewState.REVOKED, Action.RESCAN): Rule(ReviewState.PENDING, Role.APPROVER),
    (ReviewState.REVOKED, Action.BLOCK): Rule(ReviewState.BLOCKED, Role.APPROVER),
    (ReviewState.BLOCKED, Action.REOPEN): Rule(ReviewState.QUARANTINED, Role.ADMIN),
}

SERVABLE = frozenset({ReviewState.APPROVED})

# What the gate does with the policy's verdict on a new subject. Here, not on Verdict: the policy decides,
# and knows nothing of the review workflow that carries its decision out.
_GATE_ACTIONS = {Verdict.ALLOW: Action.ALLOW, Verdict.REVIEW: Action.QUARANTINE, Verdict.DENY: Action.DENY}


def gate_action(verdict: Verdict) -> Action:
    return _GATE_ACTIONS[verdict]


class IllegalTransition(MirrorError):
    status = 409
    code = "IllegalTransition"


class NotPermitted(MirrorError):
    status = 403
    code = "Forbidden"


def transition(current: ReviewState, action: Action, role: Role) -> ReviewState:
    """The state after `action`; raises IllegalTransition or NotPermitted and changes nothing."""
    rule = TRANSITIONS.get((current, action))
    if rule is None:
        allowed = sorted(str(act) for (state, act) in TRANSITIONS if state is current)
        raise IllegalTransition(
            f"cannot {action} a review in state {current}; possible: {', '.join(allowed) or 'none'}"
        )
    if role < rule.least_role:
        raise NotPermitted(f"{action} on a {current} review needs the {rule.least_role.name.lower()} role")
    return rule.to
