"""Frozen records that cross the storage seam; ORM rows never leave storage/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RepoKey:
    """A repository as the database knows it."""

    repo_type: str
    repo_id: str


@dataclass(frozen=True, slots=True)
class RepoFlags:
    """Whether reading a repository's files needs an entitlement upstream."""

    private: bool
    gated: str  # "" when not gated, else the Hub's gating mode ("auto", "manual")
    checked_at: datetime

    @property
    def restricted(self) -> bool:
        return self.private or bool(self.gated)


@dataclass(frozen=True, slots=True)
class RefRecord:
    commit: str
    resolved_at: datetime


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file at a commit with the digests the Hub advertised for it.

    `git_oid` is the git blob sha1 of the file (for LFS files, of its pointer); `lfs_sha256` is the
    sha256 of the content of an LFS file.
    """

    path: str
    size: int
    git_oid: str
    lfs_sha256: str | None = None
    lfs_pointer_size: int | None = None

    @property
    def etag(self) -> str:
        """What the Hub sends as the file's ETag: the sha256 for LFS files, else the git blob sha1."""
        return self.lfs_sha256 or self.git_oid


@dataclass(frozen=True, slots=True)
class BlobRecord:
    sha256: str
    size: int
    git_sha1: str | None  # None for content that was only ever fetched as an LFS file


@dataclass(frozen=True, slots=True)
class MetadataDoc:
    body: bytes
    next_cursor: str | None
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    id: int
    subject_kind: str  # "blob" | "revision"
    subject: str
    state: str
    severity: str
    reasons: str  # JSON list
    repo_type: str
    repo_id: str
    commit: str
    path: str
    size: int
    policy_version: str
    scanner_version: str
    waiver_by: str | None
    waiver_reason: str | None
    waiver_expires_at: datetime | None
    waived_rules: str | None
    requested_by: str | None
    request_justification: str | None
    created_at: datetime
    updated_at: datetime
    interpretations: str = ""  # blobs: comma-separated interpretations the verdict covers


@dataclass(frozen=True, slots=True)
class NewReview:
    """What the gate knows when it first decides about a subject."""

    subject_kind: str
    subject: str
    state: str
    severity: str
    reasons: str
    repo_type: str
    repo_id: str
    commit: str
    path: str
    size: int
    policy_version: str
    scanner_version: str
    interpretations: str = ""


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One engine's report on a blob, as stored with the verdict it led to."""

    scanner: str
    scanner_version: str
    status: str
    format: str
    report_json: str


@dataclass(frozen=True, slots=True)
class ScanReportRecord:
    """A blob's scan report as read back: the scanner version that wrote it, when, and the report."""

    scanner_version: str
    created_at: datetime
    report_json: str


@dataclass(frozen=True, slots=True)
class Waiver:
    """Who let a quarantined subject through, why, until when, and exactly which rules they waived."""

    by: str
    reason: str
    expires_at: datetime | None
    rules_json: str  # JSON list of the rule ids waived


@dataclass(frozen=True, slots=True)
class ReviewChange:
    """A transition to apply: the new state and what changes with it."""

    to_state: str
    actor: str
    role: str
    action: str
    reason: str = ""
    rule_ids: str = ""
    report_digest: str = ""
    severity: str | None = None
    reasons: str | None = None
    policy_version: str | None = None
    scanner_version: str | None = None
    waiver: Waiver | None = None
    clear_waiver: bool = False
    interpretations: str | None = None
    actor_token: str = ""  # the token the actor used ("" for hubgate itself)
    # Four-eyes: the change commits only if someone other than this subject asked for a review since the
    # review last changed state (checked in the same transaction as the change).
    needs_request_by_other_than: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    review_id: int | None
    subject: str
    from_state: str
    to_state: str
    reason: str
    rule_ids: str
    report_digest: str
    prev_hash: str
    hash: str
    actor_token: str = ""  # the token the actor used; "" for hubgate itself and rows before 0007


@dataclass(frozen=True, slots=True)
class DownloadEvent:
    blob_sha256: str
    repo_type: str
    repo_id: str
    commit: str
    path: str
    identity: str
    client: str
    state: str
    range_start: int
    bytes: int
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefusedAttempt:
    """Downloads a review refused: `count` attempts between `first_at` and `last_at` (one UTC day) by one
    identity and client, with one method, asking for one file (of the review's blob, or of the revision
    whose review refused it).

    `folded` is "" for such a row; "identity" for one that counts that identity's attempts past the
    bound on rows per identity (client, method and file left out), "review" for one that counts every
    attempt past the bound on identities per review (who left out too)."""

    review_id: int
    state: str  # the review's state when it refused
    repo_type: str
    repo_id: str
    commit: str
    path: str
    identity: str
    client: str
    method: str  # GET | HEAD
    count: int
    first_at: datetime
    last_at: datetime
    folded: str = ""


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    name: str
    subject: str  # the person the token belongs to
    role: str
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """One request for a review, as kept (requests are never overwritten)."""

    id: int
    review_id: int
    subject: str
    token_name: str
    role: str
    justification: str
    review_state: str
    at: datetime
    audit_event_id: int


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    """What the Hub last said about a repository: "present", "removed" or "gated", since when, and the
    Hub's own words (its error code and message) when it stopped serving it."""

    state: str
    since: datetime | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class UpstreamChange:
    """A recorded change of a repository's upstream state (one audit event, one webhook call)."""

    repo: RepoKey
    from_state: str
    to_state: str
    since: datetime
    detail: str
    audit_event_id: int


PRESENT_STATUS = UpstreamStatus(state="present", since=None)  # what the Hub says of most repositories
