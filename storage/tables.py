"""ORM tables. Rows never leave storage/: repository.py turns them into frozen records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class BlobRow(Base):
    """A verified object in the object store, named by the sha256 of its content."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The git blob sha1 of the content, when it was computed: only for files the Hub describes by it (kept
    # in git); an LFS file's git id is its pointer's, so its content is hashed with sha256 alone.
    git_sha1: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_access_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RepoRow(Base):
    """A repository hubgate has seen, with the access flags that decide who may read its stored files."""

    __tablename__ = "repos"
    __table_args__ = (UniqueConstraint("repo_type", "repo_id", name="uq_repos_type_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_type: Mapped[str] = mapped_column(String(16), nullable=False)
    repo_id: Mapped[str] = mapped_column(String(200), nullable=False)
    private: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    gated: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    # NULL until the Hub has told us whether the repository is private or gated.
    flags_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # What the Hub last said about a repository hubgate held public revisions of: "present", "removed"
    # (RepoNotFound: deleted, made private; or disabled) or "gated", since when, and the Hub's words.
    # Server defaults only: rows written by code that predates them (or to an older schema) get them too.
    upstream_state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="present")
    upstream_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    upstream_detail: Mapped[str] = mapped_column(Text, nullable=False, server_default="")


class RefRow(Base):
    """The last known commit of a branch, tag, PR ref or short commit ('' is the default branch)."""

    __tablename__ = "refs"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), nullable=False)
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class FileEntryRow(Base):
    """A file of a repository at one commit, as the Hub's tree or paths-info described it."""

    __tablename__ = "file_entries"
    __table_args__ = (
        Index("ix_file_entries_lfs_sha256", "lfs_sha256"),
        Index("ix_file_entries_oid", "git_oid"),
    )

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    git_oid: Mapped[str] = mapped_column(String(40), nullable=False)
    lfs_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lfs_pointer_size: Mapped[int | None] = mapped_column(Integer, nullable=True)


class MetadataDocRow(Base):
    """An upstream JSON answer kept so that hubgate can answer offline.

    `key` is a digest of the request variant (kind, repo, revision, path, query, cursor). Documents
    addressed by a full commit are immutable; others are fresh for the ref TTL and stale after.
    """

    __tablename__ = "metadata_docs"
    __table_args__ = (Index("ix_metadata_docs_repo", "repo_pk"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    next_cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ScanReportRow(Base):
    """One engine's report on one blob, with the versions that produced it."""

    __tablename__ = "scan_reports"
    __table_args__ = (Index("ix_scan_reports_blob", "blob_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    blob_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    scanner: Mapped[str] = mapped_column(String(64), nullable=False)
    scanner_version: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    format: Mapped[str] = mapped_column(String(64), nullable=False)
    report: Mapped[str] = mapped_column(Text, nullable=False)  # the ScanReport as JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ReviewRow(Base):
    """The review state of a subject: a blob (everywhere it appears) or a repository revision."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject", name="uq_reviews_subject"),
        Index("ix_reviews_state", "state", "id"),
        Index("ix_reviews_repo", "repo_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "blob" | "revision"
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    reasons: Mapped[str] = mapped_column(
        Text, nullable=False, default="[]"
    )  # JSON list of {rule_id, message}
    # Where the subject was first seen (for listing and filtering); a blob may appear in many repos.
    repo_type: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    repo_id: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    commit: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    path: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    policy_version: Mapped[str] = mapped_column(String(80), nullable=False, default="")
    scanner_version: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    waiver_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    waiver_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    waiver_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    waived_rules: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of rule ids waived
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_justification: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Blobs: the interpretations (scanners.interpretation, comma-separated) the verdict was reached under,
    # i.e. what the names the blob was asked for make of its bytes. "" (older rows): its first path's.
    interpretations: Mapped[str] = mapped_column(Text, nullable=False, server_default="")


class AuditEventRow(Base):
    """Append-only, hash-chained: each row's hash covers its content and the previous row's hash."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)  # the person (token subject)
    # The token the person used ("" for hubgate itself, the CLI, and rows written before revision 0007).
    actor_token: Mapped[str] = mapped_column(String(200), nullable=False, default="", server_default="")
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    review_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    subject: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    from_state: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    to_state: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    rule_ids: Mapped[str] = mapped_column(Text, nullable=False, default="")
    report_digest: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHeadRow(Base):
    """One row: the last audit event's id and hash. Updating it first serialises appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class ReviewRequestRow(Base):
    """Append-only: every request for a review (who, with which token, when, why); never overwritten."""

    __tablename__ = "review_requests"
    __table_args__ = (Index("ix_review_requests_review", "review_id", "audit_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(Integer, nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    token_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    justification: Mapped[str] = mapped_column(Text, nullable=False)
    review_state: Mapped[str] = mapped_column(String(16), nullable=False)  # the state when asked
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The audit event that records the request: orders requests against the review's transitions.
    audit_event_id: Mapped[int] = mapped_column(Integer, nullable=False)


class DownloadRow(Base):
    """Append-only: every file served, to whom, and the blob's review state at that moment."""

    __tablename__ = "downloads"
    __table_args__ = (
        Index("ix_downloads_blob", "blob_sha256", "id"),
        Index("ix_downloads_repo", "repo_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    blob_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    repo_type: Mapped[str] = mapped_column(String(16), nullable=False)
    repo_id: Mapped[str] = mapped_column(String(200), nullable=False)
    commit: Mapped[str] = mapped_column(String(40), nullable=False)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    identity: Mapped[str] = mapped_column(String(80), nullable=False)
    client: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    range_start: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class ApiTokenRow(Base):
    """hubgate's own API tokens (for the review API), stored as sha256 digests only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    # The person the token belongs to: four-eyes compares subjects, so one person's two tokens are one.
    subject: Mapped[str] = mapped_column(String(200), nullable=False, index=True, server_default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FetchLeaseRow(Base):
    """Which replica is downloading a blob from upstream, until when (so the others wait, not fetch)."""

    __tablename__ = "fetch_leases"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class UnverifiedPrefixRow(Base):
    """The longest prefix of a blob that readers of a live download were given before that download
    failed verification or review: clients may hold those bytes in partial files, so no replica may
    answer a resume that would complete them."""

    __tablename__ = "unverified_prefixes"

    blob_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    handed_out: Mapped[int] = mapped_column(BigInteger, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class PinRow(Base):
    """A revision whose blobs retention must keep (`hubgate pin org/repo@rev`)."""

    __tablename__ = "pins"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), primary_key=True)
    pinned_by: Mapped[str] = mapped_column(String(200), nullable=False)
    pinned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SignatureCheckRow(Base):
    """The outcome of checking a revision's model signature (`model.sig`) against the trust policy.

    One row per repo revision, replaced when the revision is checked again (a new trust policy)."""

    __tablename__ = "signature_checks"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), primary_key=True)
    # verified | failed | unsigned | not-required
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False, default="")  # key | certificate | keyless
    signer: Mapped[str] = mapped_column(
        String(500), nullable=False, default=""
    )  # key fingerprint or identity
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    trust_rule: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ApprovedPinRow(Base):
    """A repo whose branches and tags resolve to the newest approved commit, not upstream's newest
    (`hubgate pin org/repo --approved`); the policy file can turn this on by glob as well."""

    __tablename__ = "approved_pins"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    pinned_by: Mapped[str] = mapped_column(String(200), nullable=False)
    pinned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ApprovedRefRow(Base):
    """For a repo under approved-revision pinning: the newest commit of a branch or tag that passed
    review, which clients get until upstream's newer commit is approved too."""

    __tablename__ = "approved_refs"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), nullable=False)
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RevisionRecordRow(Base):
    """A revision in the inventory: its licence as the gate resolved it, the model-card facts worth
    keeping, and when hubgate first and last served a file of it (NULL: decided on, never served)."""

    __tablename__ = "revision_records"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), primary_key=True)
    # JSON [{licence, name, link}] as the card states them; "" bucket: no licence decision recorded yet.
    licences: Mapped[str] = mapped_column(Text, nullable=False, server_default="[]")
    licence_bucket: Mapped[str] = mapped_column(String(16), nullable=False, server_default="")
    licence_verdict: Mapped[str] = mapped_column(String(16), nullable=False, server_default="")
    lineage: Mapped[str] = mapped_column(Text, nullable=False, server_default="[]")  # JSON, base models
    policy_version: Mapped[str] = mapped_column(String(80), nullable=False, server_default="")
    pipeline_tag: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    library_name: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    base_models: Mapped[str] = mapped_column(Text, nullable=False, server_default="[]")  # JSON lists
    datasets: Mapped[str] = mapped_column(Text, nullable=False, server_default="[]")
    languages: Mapped[str] = mapped_column(Text, nullable=False, server_default="[]")
    # JSON {verdict, findings, nodes}: the origin of the publisher and of every repository of the lineage,
    # as the gate resolved them; "" when not recorded yet.
    origins: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    licence_decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    first_served_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_served_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RepoAliasRow(Base):
    """What a spelling of a repository id names on the Hub: itself, a case variant of the canonical id,
    or a legacy or renamed id (`gpt2` -> `openai-community/gpt2`). Keyed by the casefolded spelling,
    because the Hub matches ids without regard to case; kept so that an alias still finds its stored
    revisions when the Hub cannot be asked."""

    __tablename__ = "repo_aliases"

    repo_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    alias: Mapped[str] = mapped_column(String(200), primary_key=True)
    canonical_id: Mapped[str] = mapped_column(String(200), nullable=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class HeldRevisionRow(Base):
    """A revision hubgate resolved, and whether the Hub said its repository was public (neither private nor
    gated) while hubgate held it. Only such revisions may be served once the Hub stops serving them."""

    __tablename__ = "held_revisions"

    repo_pk: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    commit: Mapped[str] = mapped_column(String(40), primary_key=True)
    public: Mapped[bool] = mapped_column(Boolean, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RefusedAttemptRow(Base):
    """Downloads a review refused, aggregated: one row per UTC day and per (review, review state, who,
    client, method, file), counting the attempts. mirror.inventory.refusals bounds how many rows a day and
    a review can gain; `folded` marks a row that counts the attempts past that bound."""

    __tablename__ = "refused_attempts"
    __table_args__ = (
        # key_hash digests every column of the key but `day`: one index entry of fixed size, however long
        # a path or a User-Agent is.
        UniqueConstraint("day", "key_hash", name="uq_refused_attempts_day_key"),
        Index("ix_refused_attempts_review", "review_id", "last_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), nullable=False)  # YYYY-MM-DD (UTC)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # the review's state when it refused
    repo_type: Mapped[str] = mapped_column(String(16), nullable=False)
    repo_id: Mapped[str] = mapped_column(String(200), nullable=False)
    commit: Mapped[str] = mapped_column(String(40), nullable=False)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    identity: Mapped[str] = mapped_column(String(80), nullable=False)
    client: Mapped[str] = mapped_column(String(200), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    folded: Mapped[str] = mapped_column(String(16), nullable=False, default="")  # "" | identity | review
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
