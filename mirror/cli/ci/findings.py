"""What `hubgate check` reports: a result per locked entry, its findings and where the code names it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mirror.cli.ci.lockfile import GateFacts, LockEntry


class Rule(StrEnum):
    """Every kind of finding, with the one-line description SARIF and the table show."""

    UNREACHABLE = "hubgate-unreachable"
    MISSING = "model-missing"
    REPO_DENIED = "repo-denied"
    MOVED = "revision-moved"
    FILE_CHANGED = "file-changed"
    FILE_MISSING = "file-missing"
    FILE_UNLOCKED = "file-not-in-lock"
    NOT_JUDGED = "not-judged"
    STALE_DECISION = "judged-under-old-policy"
    LICENCE_DENIED = "licence-denied"
    REVISION_UNAPPROVED = "revision-unapproved"
    FILE_REFUSED = "file-refused"
    FILE_UNREVIEWED = "file-unreviewed"
    NEEDED_MISSING = "needed-file-missing"
    UNLOCKED = "reference-not-in-lock"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Rule.UNREACHABLE: "hubgate could not answer for this model (checked nothing: fails closed)",
    Rule.MISSING: "the repository, revision or locked commit does not exist (through hubgate)",
    Rule.REPO_DENIED: "hubgate's policy refuses the repository",
    Rule.MOVED: "the revision the code names resolves to another commit than the locked one",
    Rule.FILE_CHANGED: "a locked file's size or digest differs at the locked commit",
    Rule.FILE_MISSING: "a locked file no longer exists at the locked commit",
    Rule.FILE_UNLOCKED: "the commit holds a file the lock does not list",
    Rule.NOT_JUDGED: "hubgate has never judged this revision (never fetched or prefetched)",
    Rule.STALE_DECISION: "hubgate judged the revision's licence under an older policy than the current one",
    Rule.LICENCE_DENIED: "the licence (or the revision) is refused by policy or blocked by a reviewer",
    Rule.REVISION_UNAPPROVED: "the revision's licence or signature review is not approved",
    Rule.FILE_REFUSED: "a locked file is quarantined, blocked or revoked at hubgate",
    Rule.FILE_UNREVIEWED: "a file the code fetches has no approved review at hubgate yet",
    Rule.NEEDED_MISSING: "a file the code fetches is not part of the locked revision",
    Rule.UNLOCKED: "the code names a model that the lock file does not pin",
}


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    message: str
    path: str = ""  # the file inside the model repository, when the finding is about one


@dataclass
class EntryResult:
    entry: LockEntry
    locations: tuple[Location, ...]
    findings: list[Finding] = field(default_factory=list)
    gate: GateFacts = field(default_factory=GateFacts)
    commit_now: str = ""  # what the revision resolves to through hubgate now

    @property
    def passed(self) -> bool:
        return not self.findings

    def add(self, rule: Rule, message: str, path: str = "") -> None:
        self.findings.append(Finding(rule=rule, message=message, path=path))


@dataclass(frozen=True, slots=True)
class CheckResult:
    hubgate: str
    source: str  # the lock file or code tree checked
    entries: tuple[EntryResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.entries)
