"""Refused download attempts: who tried to get a file or revision that a review refused, when, with which
client. Rows are aggregated per UTC day and key (written in batches by mirror.inventory.refusals, which
also bounds how many keys a review gains per day); a repeated attempt adds to its row's count."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from storage.db import Database
from storage.queries import Queries, aware
from storage.records import RefusedAttempt
from storage.tables import RefusedAttemptRow

FOLDED_REVIEW = "review"  # a row counting attempts past the bound on identities: it names nobody


@dataclass(frozen=True, slots=True)
class IdentityAttempts:
    """One identity's refused attempts on a review, over every day kept."""

    identity: str
    count: int
    first_at: datetime
    last_at: datetime
    clients: tuple[str, ...]  # the distinct clients it used (a folded row counts as "")
    folded: bool  # some of its attempts were counted without client, method or file


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    count: int  # every refused attempt on the review, folded ones included
    identity_count: int  # distinct identities named (a review-folded row names none)
    unnamed: int  # attempts counted past the bound on identities: nobody is named for them
    first_at: datetime | None
    last_at: datetime | None
    identities: tuple[IdentityAttempts, ...]  # most attempts first, at most `identities` of them
    latest: tuple[RefusedAttempt, ...]  # the rows last added to, newest first


def day_of(moment: datetime) -> str:
    return aware(moment).date().isoformat()


def key_hash(attempt: RefusedAttempt) -> str:
    """The digest of what makes a row: everything but the day, the count and the times."""
    key = [
        attempt.review_id,
        attempt.state,
        attempt.repo_type,
        attempt.repo_id,
        attempt.commit,
        attempt.path,
        attempt.identity,
        attempt.client,
        attempt.method,
        attempt.folded,
    ]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


class RefusedAttemptStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    async def record(self, attempts: Sequence[RefusedAttempt]) -> None:
        """Add each aggregated attempt to its day's row (creating it), widening the row's first and last."""
        if not attempts:
            return
        keyed = sorted(((day_of(a.first_at), key_hash(a), a) for a in attempts), key=lambda k: k[:2])
        table = RefusedAttemptRow.__table__
        # One order on every replica, so that two replicas' batches never lock the same rows crosswise.
        async with self._q.session() as session, session.begin():
            for day, digest, attempt in keyed:
                stmt = self._q.insert(RefusedAttemptRow).values(
                    day=day,
                    key_hash=digest,
                    review_id=attempt.review_id,
                    state=attempt.state,
                    repo_type=attempt.repo_type,
                    repo_id=attempt.repo_id,
                    commit=attempt.commit,
                    path=attempt.path,
                    identity=attempt.identity,
                    client=attempt.client[:200],
                    method=attempt.method,
                    folded=attempt.folded,
                    count=attempt.count,
                    first_at=attempt.first_at,
                    last_at=attempt.last_at,
                )
                # CASE rather than LEAST/GREATEST: one spelling that SQLite and PostgreSQL both run.
                first = case(
                    (table.c.first_at > stmt.excluded.first_at, stmt.excluded.first_at),
                    else_=table.c.first_at,
                )
                last = case(
                    (table.c.last_at < stmt.excluded.last_at, stmt.excluded.last_at), else_=table.c.last_at
                )
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["day", "key_hash"],
                        set_={
                            "count": table.c.count + stmt.excluded.count,
                            "first_at": first,
                            "last_at": last,
                        },
                    )
                )

    async def summary(self, review_id: int, *, identities: int = 100, latest: int = 50) -> AttemptSummary:
        """Who tried to get what the review refuses: totals, per identity, and the latest rows."""
        row = RefusedAttemptRow
        named = row.folded != FOLDED_REVIEW
        async with self._q.session() as session:
            totals = (
                await session.execute(
                    select(
                        func.coalesce(func.sum(row.count), 0),
                        func.coalesce(func.sum(case((named, 0), else_=row.count)), 0),
                        func.count(func.distinct(case((named, row.identity), else_=None))),
                        func.min(row.first_at),
                        func.max(row.last_at),
                    ).where(row.review_id == review_id)
                )
            ).one()
            people = (
                await session.execute(
                    select(
                        row.identity,
                        func.sum(row.count),
                        func.min(row.first_at),
                        func.max(row.last_at),
                        func.max(row.folded),
                    )
                    .where(row.review_id == review_id, named)
                    .group_by(row.identity)
                    .order_by(func.sum(row.count).desc(), row.identity)
                    .limit(identities)
                )
            ).all()
            shown = [identity for identity, *_ in people]
            clients: dict[str, set[str]] = {identity: set() for identity in shown}
            if shown:
                pairs = await session.execute(
                    select(row.identity, row.client)
                    .where(row.review_id == review_id, named, row.identity.in_(shown))
                    .distinct()
                    .limit(identities * 20)
                )
                for identity, client in pairs:
                    clients[identity].add(client)
            rows = await session.scalars(
                select(row)
                .where(row.review_id == review_id)
                .order_by(row.last_at.desc(), row.id.desc())
                .limit(latest)
            )
            recent = tuple(_attempt(found) for found in rows)
        count, unnamed, identity_count, first_at, last_at = totals
        return AttemptSummary(
            count=int(count),
            identity_count=int(identity_count),
            unnamed=int(unnamed),
            first_at=None if first_at is None else aware(first_at),
            last_at=None if last_at is None else aware(last_at),
            identities=tuple(
                IdentityAttempts(
                    identity=identity,
                    count=int(total),
                    first_at=aware(first),
                    last_at=aware(last),
                    clients=tuple(sorted(clients[identity])),
                    folded=bool(folded),
                )
                for identity, total, first, last, folded in people
            ),
            latest=recent,
        )


def _attempt(row: RefusedAttemptRow) -> RefusedAttempt:
    return RefusedAttempt(
        review_id=row.review_id,
        state=row.state,
        repo_type=row.repo_type,
        repo_id=row.repo_id,
        commit=row.commit,
        path=row.path,
        identity=row.identity,
        client=row.client,
        method=row.method,
        count=int(row.count),
        first_at=aware(row.first_at),
        last_at=aware(row.last_at),
        folded=row.folded,
    )
