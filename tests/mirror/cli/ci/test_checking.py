"""The gate's answer about a revision, judged against a lock entry (no network: the answer is given)."""

from __future__ import annotations

import pytest

from mirror.cli.ci.checking import check_gate
from mirror.cli.ci.findings import EntryResult, Rule
from mirror.cli.ci.gatefacts import FileState, RevisionStatus
from mirror.cli.ci.lockfile import GateFacts, LockedFile, LockEntry

COMMIT = "0123456789abcdef0123456789abcdef01234567"
POLICY = "default@aaaa"


def _entry() -> LockEntry:
    files = tuple(
        LockedFile(path=path, size=1, git_oid="b" * 40)
        for path in ("config.json", "model.safetensors", "x.bin")
    )
    return LockEntry(repo="acme/x", commit=COMMIT, needs=("config.json", "model.safetensors"), files=files)


def _status(
    *, verdict: str = "allow", review: str = "not-required", policy: str = POLICY, **states: str
) -> RevisionStatus:
    known = {"config.json": "APPROVED", "model.safetensors": "APPROVED", "x.bin": "not-fetched"}
    known.update({path.replace("_", "."): state for path, state in states.items()})
    return RevisionStatus(
        gate=GateFacts(
            licence_verdict=verdict, review=review, review_id=None if review == "not-required" else 4
        ),
        reasons_policy=policy,
        current_policy=POLICY,
        files={path: FileState(state=state, review_id=1, sha256=None) for path, state in known.items()},
    )


def _rules(status: RevisionStatus) -> set[Rule]:
    result = EntryResult(entry=_entry(), locations=())
    check_gate(_entry(), status, result)
    return {finding.rule for finding in result.findings}


def test_allowed_and_approved_passes_and_unneeded_unfetched_files_do_not_matter() -> None:
    assert _rules(_status()) == set()


@pytest.mark.parametrize(
    ("status", "rules"),
    [
        (_status(verdict="deny", review="BLOCKED"), {Rule.LICENCE_DENIED}),
        # A reviewer blocked a revision whose licence the policy only sent to review.
        (_status(verdict="review", review="BLOCKED"), {Rule.LICENCE_DENIED}),
        (_status(verdict="review", review="QUARANTINED"), {Rule.REVISION_UNAPPROVED}),
        (_status(verdict="review", review="REVOKED"), {Rule.REVISION_UNAPPROVED}),
        (_status(verdict="review", review="PENDING"), {Rule.REVISION_UNAPPROVED}),
        (_status(policy="default@old"), {Rule.STALE_DECISION}),
        (_status(model_safetensors="PENDING"), {Rule.FILE_UNREVIEWED}),
        (_status(config_json="not-fetched"), {Rule.FILE_UNREVIEWED}),
        # Unneeded, but the lock vouches for every file it lists: a refused one fails the entry.
        (_status(x_bin="QUARANTINED"), {Rule.FILE_REFUSED}),
        (_status(model_safetensors="REVOKED"), {Rule.FILE_REFUSED}),
    ],
)
def test_what_fails_an_entry(status: RevisionStatus, rules: set[Rule]) -> None:
    assert _rules(status) == rules


def test_an_admin_reopened_and_waived_denied_licence_passes_as_the_gate_serves_it() -> None:
    assert _rules(_status(verdict="deny", review="APPROVED")) == set()


def test_a_needed_file_absent_from_the_commit_is_named() -> None:
    entry = _entry().model_copy(update={"needs": ("config.json", "tokenizer.json")})
    result = EntryResult(entry=entry, locations=())
    check_gate(entry, _status(), result)
    assert [(f.rule, f.path) for f in result.findings] == [(Rule.NEEDED_MISSING, "tokenizer.json")]
