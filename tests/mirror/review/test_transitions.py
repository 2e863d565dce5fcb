from __future__ import annotations

import itertools

import pytest

from mirror.review.transitions import (
    TRANSITIONS,
    Action,
    IllegalTransition,
    NotPermitted,
    ReviewState,
    Role,
    transition,
)


@pytest.mark.parametrize(
    ("state", "action", "role", "expected"),
    [
        (ReviewState.PENDING, Action.ALLOW, Role.SYSTEM, ReviewState.APPROVED),
        (ReviewState.PENDING, Action.QUARANTINE, Role.SYSTEM, ReviewState.QUARANTINED),
        (ReviewState.QUARANTINED, Action.WAIVE, Role.APPROVER, ReviewState.APPROVED),
        (ReviewState.QUARANTINED, Action.BLOCK, Role.ADMIN, ReviewState.BLOCKED),
        (ReviewState.APPROVED, Action.REVOKE, Role.APPROVER, ReviewState.REVOKED),
        (ReviewState.APPROVED, Action.EXPIRE, Role.SYSTEM, ReviewState.QUARANTINED),
        (ReviewState.APPROVED, Action.REQUEUE, Role.SYSTEM, ReviewState.QUARANTINED),
        (ReviewState.REVOKED, Action.RESCAN, Role.APPROVER, ReviewState.PENDING),
        (ReviewState.BLOCKED, Action.REOPEN, Role.ADMIN, ReviewState.QUARANTINED),
    ],
)
def test_allowed_transitions(state: ReviewState, action: Action, role: Role, expected: ReviewState) -> None:
    assert transition(state, action, role) is expected


def test_everything_outside_the_table_is_illegal() -> None:
    for state, action in itertools.product(ReviewState, Action):
        if (state, action) in TRANSITIONS:
            continue
        with pytest.raises(IllegalTransition):
            transition(state, action, Role.SYSTEM)


@pytest.mark.parametrize(
    ("state", "action", "role"),
    [
        (ReviewState.QUARANTINED, Action.WAIVE, Role.REQUESTER),
        (ReviewState.QUARANTINED, Action.WAIVE, Role.VIEWER),
        (ReviewState.BLOCKED, Action.REOPEN, Role.APPROVER),
        (ReviewState.PENDING, Action.ALLOW, Role.ADMIN),  # only the gate itself decides a first verdict
        (ReviewState.APPROVED, Action.REQUEUE, Role.ADMIN),  # continuity's, never a person's
    ],
)
def test_roles_below_the_rule_are_refused(state: ReviewState, action: Action, role: Role) -> None:
    with pytest.raises(NotPermitted):
        transition(state, action, role)


def test_roles_parse_and_system_is_never_a_token_role() -> None:
    assert Role.parse("Approver") is Role.APPROVER
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse("god")
    with pytest.raises(ValueError, match="system"):
        Role.parse("system")
