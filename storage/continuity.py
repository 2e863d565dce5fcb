"""Queries for continuity: what the Hub last said about each repository (present, removed, gated) and
which revisions hubgate held while their repository was public.

A change of a repository's state is a compare-and-set on its row with its audit event in the same
transaction, so that when several replicas see the change at once exactly one records it (and tells the
webhook).
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from storage.audit_trail import append_event
from storage.db import Database
from storage.queries import Queries, aware, utcnow
from storage.records import RepoKey, UpstreamChange, UpstreamStatus
from storage.tables import HeldRevisionRow, RepoRow, RevisionRecordRow

PRESENT = "present"


def repo_subject(repo: RepoKey) -> str:
    """The audit subject of a repository: `<type>s/<repo>` (a revision's is `<type>s/<repo>@<commit>`)."""
    return f"{repo.repo_type}s/{repo.repo_id}"


class ContinuityStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    # -- revisions held while public -------------------------------------------------------------------

    async def hold(self, repo: RepoKey, commit: str, *, public: bool) -> bool:
        """Remember that hubgate resolved `commit` while the Hub said the repository was `public`; returns
        whether the revision now counts as held while public.

        Once public, always public: a revision the Hub served to anyone stays one that was public when
        hubgate stored it, whatever the repository became later."""
        now = utcnow()
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            stmt = self._q.insert(HeldRevisionRow).values(
                repo_pk=pk, commit=commit, public=public, seen_at=now
            )
            if public:
                stmt = stmt.on_conflict_do_update(index_elements=["repo_pk", "commit"], set_={"public": True})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=["repo_pk", "commit"])
            await session.execute(stmt)
            held = await session.scalar(
                select(HeldRevisionRow.public).where(
                    HeldRevisionRow.repo_pk == pk, HeldRevisionRow.commit == commit
                )
            )
            return bool(held)

    async def held(self, repo: RepoKey, commit: str) -> bool | None:
        """Whether hubgate held `commit` while the repository was public; None: it never resolved it."""
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return None
            row = await session.get(HeldRevisionRow, (pk, commit))
            return None if row is None else bool(row.public)

    async def served_public_commits(self, repo: RepoKey) -> list[str]:
        """The revisions held while public that hubgate also served files of (what clients depend on)."""
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return []
            rows = await session.scalars(
                select(HeldRevisionRow.commit)
                .join(
                    RevisionRecordRow,
                    (RevisionRecordRow.repo_pk == HeldRevisionRow.repo_pk)
                    & (RevisionRecordRow.commit == HeldRevisionRow.commit),
                )
                .where(
                    HeldRevisionRow.repo_pk == pk,
                    HeldRevisionRow.public.is_(True),
                    RevisionRecordRow.first_served_at.is_not(None),
                )
                .order_by(RevisionRecordRow.first_served_at, HeldRevisionRow.commit)
            )
            return list(rows)

    async def public_commits(self, repo: RepoKey) -> list[str]:
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return []
            rows = await session.scalars(
                select(HeldRevisionRow.commit)
                .where(HeldRevisionRow.repo_pk == pk, HeldRevisionRow.public.is_(True))
                .order_by(HeldRevisionRow.seen_at, HeldRevisionRow.commit)
            )
            return list(rows)

    # -- the repository's upstream state ----------------------------------------------------------------

    async def status(self, repo: RepoKey) -> UpstreamStatus:
        async with self._q.session() as session:
            row = await session.execute(
                select(RepoRow.upstream_state, RepoRow.upstream_since, RepoRow.upstream_detail).where(
                    RepoRow.repo_type == repo.repo_type, RepoRow.repo_id == repo.repo_id
                )
            )
            found = row.first()
        if found is None:
            return UpstreamStatus(state=PRESENT, since=None)
        state, since, detail = found
        return UpstreamStatus(state=state, since=None if since is None else aware(since), detail=detail)

    async def change(self, repo: RepoKey, to_state: str, *, detail: str) -> UpstreamChange | None:
        """Record that the Hub now says `to_state` about `repo`, with its audit event; None when that is
        already the recorded state, or when hubgate holds no revision of it that was public (a private
        repository's answers are no change hubgate keeps: it never serves them past the Hub)."""
        now = utcnow()
        async with self._q.session() as session, session.begin():
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return None
            if to_state != PRESENT:
                public = await session.scalar(
                    select(func.count())
                    .select_from(HeldRevisionRow)
                    .where(HeldRevisionRow.repo_pk == pk, HeldRevisionRow.public.is_(True))
                )
                if not public:
                    return None
            before = await session.scalar(select(RepoRow.upstream_state).where(RepoRow.id == pk))
            if before is None or before == to_state:
                return None
            # Compare-and-set: of several replicas seeing the change at once, one records it.
            result = await session.execute(
                update(RepoRow)
                .where(RepoRow.id == pk, RepoRow.upstream_state == before)
                .values(upstream_state=to_state, upstream_since=now, upstream_detail=detail)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            event_id = await append_event(
                session,
                actor="hubgate",
                role="system",
                action=f"upstream-{to_state}",
                review_id=None,
                subject=repo_subject(repo),
                from_state=before,
                to_state=to_state,
                reason=detail,
            )
            return UpstreamChange(
                repo=repo,
                from_state=before,
                to_state=to_state,
                since=now,
                detail=detail,
                audit_event_id=event_id,
            )
