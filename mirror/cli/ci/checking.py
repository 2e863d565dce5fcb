"""`hubgate check`: each locked entry against what hubgate answers now.

An entry passes only when every question got an answer and every answer is good: the revision still
resolves to the locked commit, every locked file is there with its locked size and digests, hubgate
judged the revision under the current policy and approved it (licence, origin, signature: one revision
review), no locked file is quarantined, blocked or revoked, and every file the code fetches is approved.
Any error talking to hubgate is a finding too, never a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mirror.cli.ci.findings import EntryResult, Location, Rule
from mirror.cli.ci.gatefacts import NOT_FETCHED, NOT_REQUIRED, RevisionStatus
from mirror.cli.ci.gateway import Gateway, GatewayError, RemoteFile
from mirror.cli.ci.lockfile import LockEntry
from mirror.cli.ci.locking import status_of

APPROVED = "APPROVED"
REFUSED = frozenset({"QUARANTINED", "BLOCKED", "REVOKED"})


def check_entry(gateway: Gateway, entry: LockEntry, locations: Sequence[Location]) -> EntryResult:
    result = EntryResult(entry=entry, locations=tuple(locations), gate=entry.gate)
    try:
        repo_id = _check_revision(gateway, entry, result)
        if repo_id is None or not _check_files(gateway, entry, result):
            return result
        status = status_of(gateway, entry.repo_type, repo_id, entry.commit)
    except GatewayError as exc:
        result.add(Rule.UNREACHABLE, f"hubgate could not answer for {entry.name}: {exc.message}")
        return result
    if status is None:
        result.add(
            Rule.NOT_JUDGED,
            f"hubgate has never judged {entry.repo}@{entry.commit[:12]}: run `hubgate prefetch "
            f"{entry.repo}@{entry.commit}` (or `hubgate lock --prefetch`) so that it is fetched, verified "
            "and reviewed",
        )
        return result
    result.gate = status.gate
    check_gate(entry, status, result)
    return result


def _check_revision(gateway: Gateway, entry: LockEntry, result: EntryResult) -> str | None:
    """The repository's canonical id, having compared where the revision points now with the lock;
    None (with the finding) when the repository or revision is gone or refused."""
    try:
        resolved = gateway.resolve(entry.repo_type, entry.repo, entry.revision)
    except GatewayError as exc:
        if exc.status == 404:
            result.add(Rule.MISSING, f"{entry.name} does not exist through hubgate: {exc.message}")
            return None
        if exc.status == 403 and exc.code != "GatedRepo":
            result.add(Rule.REPO_DENIED, f"hubgate refuses {entry.repo}: {exc.message}")
            return None
        raise
    result.commit_now = resolved.commit
    if result.commit_now != entry.commit:
        result.add(
            Rule.MOVED,
            f"{entry.name} now resolves to {result.commit_now[:12]}, not the locked {entry.commit[:12]}: "
            "upstream changed since locking (or hubgate's approved pin moved); the code would load the new "
            "commit. Review it and run `hubgate lock` again, or pin the code to the locked commit",
        )
    return resolved.repo_id


def _check_files(gateway: Gateway, entry: LockEntry, result: EntryResult) -> bool:
    """Compare the locked files with the commit's listing; False when the commit itself is gone."""
    try:
        remote = {item.path: item for item in gateway.files(entry.repo_type, entry.repo, entry.commit)}
    except GatewayError as exc:
        if exc.status == 404:
            result.add(Rule.MISSING, f"the locked commit {entry.commit[:12]} of {entry.repo} is gone")
            return False
        raise
    for locked in entry.files:
        now = remote.get(locked.path)
        if now is None:
            result.add(Rule.FILE_MISSING, f"{locked.path} is no longer at {entry.commit[:12]}", locked.path)
            continue
        changed = _differences(locked.size, locked.git_oid, locked.sha256, now)
        if changed:
            result.add(
                Rule.FILE_CHANGED,
                f"{locked.path} at {entry.commit[:12]} differs from the lock: {', '.join(changed)}",
                locked.path,
            )
    for path in sorted(remote.keys() - {locked.path for locked in entry.files}):
        result.add(Rule.FILE_UNLOCKED, f"{path} is at {entry.commit[:12]} but not in the lock", path)
    return True


def _differences(size: int, git_oid: str, sha256: str | None, now: RemoteFile) -> list[str]:
    changed = []
    if size != now.size:
        changed.append(f"size {size} -> {now.size}")
    if git_oid != now.git_oid:
        changed.append(f"git blob {git_oid[:12]} -> {now.git_oid[:12]}")
    if now.sha256 is not None and sha256 != now.sha256:
        changed.append(f"sha256 {(sha256 or 'none')[:12]} -> {now.sha256[:12]}")
    return changed


def check_gate(entry: LockEntry, status: RevisionStatus, result: EntryResult) -> None:
    gate = status.gate
    # A denied licence is BLOCKED; only an admin's reopen and a waiver (APPROVED) let it through.
    if gate.review == "BLOCKED" or (gate.licence_verdict == "deny" and gate.review != APPROVED):
        result.add(
            Rule.LICENCE_DENIED,
            f"{entry.repo}@{entry.commit[:12]} is refused: licence {gate.licence or 'unknown'} "
            f"({gate.licence_bucket or 'unrecorded'}, verdict {gate.licence_verdict or 'none'}), "
            f"revision review {gate.review_id or '-'} {gate.review}",
        )
    elif gate.review not in (NOT_REQUIRED, APPROVED):
        result.add(
            Rule.REVISION_UNAPPROVED,
            f"the revision review {gate.review_id} of {entry.repo}@{entry.commit[:12]} is {gate.review} "
            f"(licence {gate.licence or 'unknown'}, {gate.licence_bucket}; signature {gate.signature}): ask "
            f'with `hubgate review request {gate.review_id} --justification "..."`',
        )
    if status.current_policy and status.reasons_policy and status.current_policy != status.reasons_policy:
        result.add(
            Rule.STALE_DECISION,
            f"hubgate decided the licence of {entry.repo}@{entry.commit[:12]} under {status.reasons_policy}, "
            f"the policy is now {status.current_policy}: prefetch the revision again so that it is decided "
            "under the current policy",
        )
    needed = set(entry.needs)
    for locked in entry.files:
        state = status.files.get(locked.path)
        current = state.state if state is not None else NOT_FETCHED
        review = f" (review {state.review_id})" if state is not None and state.review_id else ""
        if current in REFUSED:
            result.add(Rule.FILE_REFUSED, f"{locked.path} is {current} at hubgate{review}", locked.path)
        elif locked.path in needed and current != APPROVED:
            result.add(
                Rule.FILE_UNREVIEWED,
                f"{locked.path}, which the code fetches, is {current} at hubgate{review}: prefetch it",
                locked.path,
            )
    for path in sorted(needed - {locked.path for locked in entry.files}):
        result.add(Rule.NEEDED_MISSING, f"{path} is needed but not in the locked revision", path)


def unlocked(references: Iterable[tuple[str, Location]]) -> list[EntryResult]:
    """Code references (name, location) the lock does not cover: one failing result per reference."""
    results = []
    for name, location in references:
        repo, _, revision = name.partition("@")
        entry = LockEntry(repo=repo, revision=revision or "main", commit="0" * 40)
        result = EntryResult(entry=entry, locations=(location,))
        result.add(Rule.UNLOCKED, f"{name} is used here but not pinned in the lock file: run `hubgate lock`")
        results.append(result)
    return results
