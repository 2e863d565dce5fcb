"""Queries for the inventory: the revisions hubgate served, their files, reviews, signatures, downloads.

Writes come from two places: the licence decision (what the gate resolved, once per revision and
policy) and the download log's batches (first and last served). Reads join what other tables already
hold, so nothing is copied that could drift: file digests from `file_entries` and `blobs`, review
states from `reviews`, signature outcomes from `signature_checks`, counts from `downloads`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select, tuple_
from sqlalchemy.orm import aliased

from storage.db import Database
from storage.queries import Queries, aware, utcnow
from storage.records import PRESENT_STATUS, RepoKey, UpstreamStatus
from storage.tables import (
    BlobRow,
    DownloadRow,
    FileEntryRow,
    RepoRow,
    ReviewRow,
    RevisionRecordRow,
    SignatureCheckRow,
)

SERVED_STATE = "APPROVED"  # the state the download log records for a file that was sent


@dataclass(frozen=True, slots=True)
class RevisionFacts:
    """What the gate knew when it decided a revision's licence. JSON fields are lists, as text."""

    licences: str
    licence_bucket: str
    licence_verdict: str
    lineage: str
    policy_version: str
    pipeline_tag: str = ""
    library_name: str = ""
    base_models: str = "[]"
    datasets: str = "[]"
    languages: str = "[]"
    origins: str = ""  # JSON {verdict, findings, nodes}; "" when not recorded


@dataclass(frozen=True, slots=True)
class ServedSpan:
    """Files of a revision were served between `first` and `last` (one download-log batch)."""

    repo: RepoKey
    commit: str
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class ReviewMark:
    id: int
    state: str
    waiver_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class SignatureMark:
    status: str
    method: str
    signer: str


@dataclass(frozen=True, slots=True)
class StoredRevision:
    repo: RepoKey
    commit: str
    facts: RevisionFacts
    licence_decided_at: datetime | None
    first_served_at: datetime | None  # None: judged, never served (only outside served_only scopes)
    last_served_at: datetime | None
    review: ReviewMark | None  # the review of the revision (licence), when one was needed
    signature: SignatureMark | None  # None: never checked
    upstream: UpstreamStatus = PRESENT_STATUS  # what the Hub says of its repo


@dataclass(frozen=True, slots=True)
class StoredFile:
    repo: RepoKey
    commit: str
    path: str
    size: int
    git_oid: str
    lfs: bool
    sha256: str | None  # None: a small file whose bytes hubgate never fetched
    review: ReviewMark | None


@dataclass(frozen=True, slots=True)
class DownloadTally:
    repo: RepoKey
    commit: str
    path: str
    identity: str
    count: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Scope:
    """Which revisions a query covers: all, one repository, or its commits starting so.

    Reports and SBOMs cover what was served; `served_only=False` also takes revisions the gate judged
    (a licence decision, a prefetch) whose files never went to a client, e.g. a refused licence.
    """

    repo: RepoKey | None = None
    commit_prefix: str = ""
    served_only: bool = True


EVERYTHING = Scope()


class InventoryStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    # -- writes ----------------------------------------------------------------------------------------

    async def record_revisions(self, decisions: Sequence[tuple[RepoKey, str, RevisionFacts]]) -> None:
        """Keep the latest licence decision of each (repo, commit); served times are left as they are."""
        if not decisions:
            return
        now = utcnow()
        # One order on every replica, so two replicas' batches never lock the same rows crosswise.
        ordered = sorted(decisions, key=lambda item: (item[0].repo_type, item[0].repo_id, item[1]))
        async with self._q.session() as session, session.begin():
            for repo, commit, facts in ordered:
                values: dict[str, Any] = {
                    "licences": facts.licences,
                    "licence_bucket": facts.licence_bucket,
                    "licence_verdict": facts.licence_verdict,
                    "lineage": facts.lineage,
                    "policy_version": facts.policy_version,
                    "pipeline_tag": facts.pipeline_tag,
                    "library_name": facts.library_name,
                    "base_models": facts.base_models,
                    "datasets": facts.datasets,
                    "languages": facts.languages,
                    "origins": facts.origins,
                    "licence_decided_at": now,
                }
                pk = await self._q.repo_pk(session, repo)
                stmt = self._q.insert(RevisionRecordRow).values(repo_pk=pk, commit=commit, **values)
                await session.execute(
                    stmt.on_conflict_do_update(index_elements=["repo_pk", "commit"], set_=values)
                )

    async def mark_served(self, spans: Sequence[ServedSpan]) -> None:
        """Widen each revision's first/last served window (creating its record if the gate's is missing)."""
        if not spans:
            return
        table = RevisionRecordRow.__table__
        ordered = sorted(spans, key=lambda span: (span.repo.repo_type, span.repo.repo_id, span.commit))
        async with self._q.session() as session, session.begin():
            for span in ordered:  # one order on every replica, as in record_revisions
                pk = await self._q.repo_pk(session, span.repo)
                stmt = self._q.insert(RevisionRecordRow).values(
                    repo_pk=pk, commit=span.commit, first_served_at=span.first, last_served_at=span.last
                )
                # CASE rather than LEAST/MIN: one spelling that SQLite and PostgreSQL both run.
                first = case(
                    (
                        (table.c.first_served_at.is_(None))
                        | (table.c.first_served_at > stmt.excluded.first_served_at),
                        stmt.excluded.first_served_at,
                    ),
                    else_=table.c.first_served_at,
                )
                last = case(
                    (
                        (table.c.last_served_at.is_(None))
                        | (table.c.last_served_at < stmt.excluded.last_served_at),
                        stmt.excluded.last_served_at,
                    ),
                    else_=table.c.last_served_at,
                )
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["repo_pk", "commit"],
                        set_={"first_served_at": first, "last_served_at": last},
                    )
                )

    # -- reads -----------------------------------------------------------------------------------------

    async def outdated_revisions(
        self, *, policy_version: str, after: tuple[RepoKey, str] | None, limit: int
    ) -> list[tuple[RepoKey, str]]:
        """Revisions whose recorded decision is not of `policy_version` or holds no origins, in a stable
        order after `after` (repo type, repo id, commit), at most `limit`."""
        record = RevisionRecordRow
        query = (
            select(RepoRow.repo_type, RepoRow.repo_id, record.commit)
            .join(RepoRow, RepoRow.id == record.repo_pk)
            .where((record.policy_version != policy_version) | (record.origins == ""))
            .order_by(RepoRow.repo_type, RepoRow.repo_id, record.commit)
            .limit(limit)
        )
        if after is not None:
            repo, commit = after
            query = query.where(
                tuple_(RepoRow.repo_type, RepoRow.repo_id, record.commit)
                > tuple_(repo.repo_type, repo.repo_id, commit)
            )
        async with self._q.session() as session:
            rows = (await session.execute(query)).all()
        return [(RepoKey(repo_type=t, repo_id=i), commit) for t, i, commit in rows]

    async def revisions(self, scope: Scope = EVERYTHING) -> list[StoredRevision]:
        """The revisions in `scope`, oldest first served first (never served last)."""
        record = RevisionRecordRow
        query = (
            select(
                record,
                RepoRow.repo_type,
                RepoRow.repo_id,
                ReviewRow,
                SignatureCheckRow,
                RepoRow.upstream_state,
                RepoRow.upstream_since,
                RepoRow.upstream_detail,
            )
            .join(RepoRow, RepoRow.id == record.repo_pk)
            .outerjoin(
                ReviewRow,
                and_(
                    ReviewRow.subject_kind == "revision",
                    ReviewRow.repo_type == RepoRow.repo_type,
                    ReviewRow.repo_id == RepoRow.repo_id,
                    ReviewRow.commit == record.commit,
                ),
            )
            .outerjoin(
                SignatureCheckRow,
                and_(SignatureCheckRow.repo_pk == record.repo_pk, SignatureCheckRow.commit == record.commit),
            )
            .order_by(
                record.first_served_at.is_(None), record.first_served_at, RepoRow.repo_id, record.commit
            )
        )
        query = _served_in(query, scope)
        async with self._q.session() as session:
            rows = (await session.execute(query)).all()
        return [_revision(row) for row in rows]

    async def files(self, scope: Scope = EVERYTHING) -> list[StoredFile]:
        """Every file hubgate knows at the revisions in `scope`, with its sha256 and review."""
        record = RevisionRecordRow
        entry = FileEntryRow
        small_blob = aliased(BlobRow)
        # LFS files carry their sha256 in the Hub's metadata; a small file's sha256 is that of the blob
        # hubgate stored for its git blob id (known only once fetched).
        sha256 = func.coalesce(entry.lfs_sha256, small_blob.sha256)
        query = (
            select(
                RepoRow.repo_type,
                RepoRow.repo_id,
                entry.commit,
                entry.path,
                entry.size,
                entry.git_oid,
                entry.lfs_sha256,
                sha256,
                ReviewRow.id,
                ReviewRow.state,
                ReviewRow.waiver_expires_at,
            )
            .select_from(record)
            .join(RepoRow, RepoRow.id == record.repo_pk)
            .join(entry, and_(entry.repo_pk == record.repo_pk, entry.commit == record.commit))
            .outerjoin(small_blob, and_(entry.lfs_sha256.is_(None), small_blob.git_sha1 == entry.git_oid))
            .outerjoin(ReviewRow, and_(ReviewRow.subject_kind == "blob", ReviewRow.subject == sha256))
            .order_by(RepoRow.repo_id, entry.commit, entry.path)
        )
        query = _served_in(query, scope)
        async with self._q.session() as session:
            rows = (await session.execute(query)).all()
        return [
            StoredFile(
                repo=RepoKey(repo_type=repo_type, repo_id=repo_id),
                commit=commit,
                path=path,
                size=size,
                git_oid=git_oid,
                lfs=lfs_sha256 is not None,
                sha256=digest,
                review=None
                if review_id is None
                else ReviewMark(id=review_id, state=state, waiver_expires_at=_maybe_aware(expires)),
            )
            for (
                repo_type,
                repo_id,
                commit,
                path,
                size,
                git_oid,
                lfs_sha256,
                digest,
                review_id,
                state,
                expires,
            ) in rows
        ]

    async def tallies(self, scope: Scope = EVERYTHING) -> list[DownloadTally]:
        """Served downloads in `scope` counted per revision, file and client identity."""
        download = DownloadRow
        query = (
            select(
                download.repo_type,
                download.repo_id,
                download.commit,
                download.path,
                download.identity,
                func.count(),
                func.coalesce(func.sum(download.bytes), 0),
            )
            .where(download.state == SERVED_STATE)
            .group_by(download.repo_type, download.repo_id, download.commit, download.path, download.identity)
        )
        if scope.repo is not None:
            query = query.where(
                download.repo_type == scope.repo.repo_type, download.repo_id == scope.repo.repo_id
            )
        if scope.commit_prefix:
            query = query.where(download.commit.startswith(scope.commit_prefix, autoescape=True))
        async with self._q.session() as session:
            rows = (await session.execute(query)).all()
        return [
            DownloadTally(
                repo=RepoKey(repo_type=repo_type, repo_id=repo_id),
                commit=commit,
                path=path,
                identity=identity,
                count=int(count),
                bytes=int(sent),
            )
            for repo_type, repo_id, commit, path, identity, count, sent in rows
        ]


def _served_in(query: Any, scope: Scope) -> Any:
    record = RevisionRecordRow
    if scope.served_only:
        query = query.where(record.first_served_at.is_not(None))
    if scope.repo is not None:
        query = query.where(RepoRow.repo_type == scope.repo.repo_type, RepoRow.repo_id == scope.repo.repo_id)
    if scope.commit_prefix:
        query = query.where(record.commit.startswith(scope.commit_prefix, autoescape=True))
    return query


def _maybe_aware(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def _revision(found: Any) -> StoredRevision:
    row: RevisionRecordRow
    review: ReviewRow | None
    signature: SignatureCheckRow | None
    row, repo_type, repo_id, review, signature, upstream_state, upstream_since, upstream_detail = found
    return StoredRevision(
        repo=RepoKey(repo_type=repo_type, repo_id=repo_id),
        commit=row.commit,
        facts=_facts(row),
        licence_decided_at=_maybe_aware(row.licence_decided_at),
        first_served_at=_maybe_aware(row.first_served_at),
        last_served_at=_maybe_aware(row.last_served_at),
        review=None
        if review is None
        else ReviewMark(
            id=review.id, state=review.state, waiver_expires_at=_maybe_aware(review.waiver_expires_at)
        ),
        signature=None
        if signature is None
        else SignatureMark(status=signature.status, method=signature.method, signer=signature.signer),
        upstream=UpstreamStatus(
            state=upstream_state, since=_maybe_aware(upstream_since), detail=upstream_detail
        ),
    )


def _facts(row: RevisionRecordRow) -> RevisionFacts:
    return RevisionFacts(
        licences=row.licences,
        licence_bucket=row.licence_bucket,
        licence_verdict=row.licence_verdict,
        lineage=row.lineage,
        policy_version=row.policy_version,
        pipeline_tag=row.pipeline_tag,
        library_name=row.library_name,
        base_models=row.base_models,
        datasets=row.datasets,
        languages=row.languages,
        origins=row.origins,
    )
