"""The record of refused downloads: who tried to get a file (or a revision) that a review refuses, when,
and with which client. A security team reads it on the review: who was targeted by what it quarantined.

Noting a refusal costs the refusal path a dictionary update, never a database write: attempts are
aggregated in memory per UTC day and key (review, its state, identity, client, method, repository,
commit, path) and written every few seconds, a repeated attempt adding to its row's count.

Whoever is refused chooses the identity (any token is one) and the User-Agent, so the rows they can make
are bounded, per process and UTC day:
- each identity gets at most `rows_per_identity` rows per review; its further clients, methods and files
  are counted in one row per review, identity and review state, marked `folded = "identity"`;
- each review names at most `identities_per_review` identities; attempts by further identities are
  counted in one row per review and state that names nobody, marked `folded = "review"`;
- at most `rows_per_day` rows in all; past that, every new key is counted in its review's unnamed row.
So a flood of made-up tokens and User-Agents adds a bounded number of rows and the count of what it
did, and the identities seen before it stay named. Attempts not yet written are held in a dictionary of
at most `max_pending` keys; when the database is down for long enough to fill it, further new keys are
counted as lost (the `hubgate_refused_attempts_unrecorded` metric) rather than held without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from mirror.periodic import run_every
from storage.db import DATABASE_ERRORS
from storage.queries import utcnow
from storage.records import RefusedAttempt, ReviewRecord
from storage.refused_attempts import FOLDED_REVIEW, RefusedAttemptStore, day_of

log = logging.getLogger(__name__)
FOLDED_IDENTITY = "identity"
_FLUSH_EVERY_S = 2.0


@dataclass(frozen=True, slots=True)
class Bounds:
    rows_per_identity: int = 10
    identities_per_review: int = 50
    rows_per_day: int = 20_000
    max_pending: int = 20_000


@dataclass(frozen=True, slots=True)
class _Key:
    day: str
    review_id: int
    state: str
    repo_type: str
    repo_id: str
    commit: str
    path: str
    identity: str
    client: str
    method: str
    folded: str = ""


class RefusalLog:
    def __init__(
        self,
        store: RefusedAttemptStore,
        *,
        bounds: Bounds = Bounds(),
        now: Callable[[], datetime] = utcnow,
        noted: Callable[[], None] = lambda: None,
        unrecorded: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._bounds = bounds
        self._now = now
        self._count_noted = noted
        self._count_unrecorded = unrecorded
        self._pending: dict[_Key, RefusedAttempt] = {}
        # Today's rows, for the bounds (this process's share; each replica bounds its own).
        self._day = ""
        self._rows: set[_Key] = set()
        self._identities: dict[int, set[str]] = defaultdict(set)
        self._rows_of: dict[tuple[int, str], int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def bounds(self) -> Bounds:
        return self._bounds

    def note(
        self,
        review: ReviewRecord,
        *,
        repo_type: str,
        repo_id: str,
        commit: str,
        path: str,
        identity: str,
        client: str,
        method: str,
    ) -> None:
        """Count one refused attempt (synchronous and cheap: it runs on the refusal path)."""
        self._count_noted()
        at = self._now()
        key = self._bounded(
            _Key(
                day=day_of(at),
                review_id=review.id,
                state=review.state,
                repo_type=repo_type,
                repo_id=repo_id,
                commit=commit,
                path=path,
                identity=identity,
                client=client[:200],
                method=method,
            )
        )
        known = self._pending.get(key)
        if known is not None:
            self._pending[key] = replace(known, count=known.count + 1, last_at=max(known.last_at, at))
            return
        if len(self._pending) >= self._bounds.max_pending:
            self._count_unrecorded()
            return
        self._pending[key] = RefusedAttempt(
            review_id=key.review_id,
            state=key.state,
            repo_type=key.repo_type,
            repo_id=key.repo_id,
            commit=key.commit,
            path=key.path,
            identity=key.identity,
            client=key.client,
            method=key.method,
            count=1,
            first_at=at,
            last_at=at,
            folded=key.folded,
        )

    def _bounded(self, key: _Key) -> _Key:
        """The key the attempt is counted under: its own, or a folded one once a bound is reached."""
        if key.day != self._day:
            self._day = key.day
            self._rows.clear()
            self._identities.clear()
            self._rows_of.clear()
        if key in self._rows:
            return key
        bounds = self._bounds
        seen = self._identities[key.review_id]
        if len(self._rows) >= bounds.rows_per_day or (
            key.identity not in seen and len(seen) >= bounds.identities_per_review
        ):
            return _Key(
                day=key.day,
                review_id=key.review_id,
                state=key.state,
                repo_type="",
                repo_id="",
                commit="",
                path="",
                identity="",
                client="",
                method="",
                folded=FOLDED_REVIEW,
            )
        if self._rows_of[(key.review_id, key.identity)] >= bounds.rows_per_identity:
            return replace(key, commit="", path="", client="", method="", folded=FOLDED_IDENTITY)
        self._rows.add(key)
        seen.add(key.identity)
        self._rows_of[(key.review_id, key.identity)] += 1
        return key

    def start(self) -> None:
        self._task = asyncio.ensure_future(run_every(_FLUSH_EVERY_S, self._stop, self.flush))

    async def flush(self) -> None:
        """Write what was noted. On a database error it stays pending (merged with what came meanwhile)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self._store.record(list(batch.values()))
        except DATABASE_ERRORS as exc:
            log.warning("refused attempts not written yet (%s); retrying later", exc)
            for key, attempt in batch.items():
                newer = self._pending.get(key)
                self._pending[key] = (
                    attempt
                    if newer is None
                    else replace(attempt, count=attempt.count + newer.count, last_at=newer.last_at)
                )

    async def close(self) -> None:
        if self._task is not None:
            # A write in progress finishes: cancelled mid-transaction, it held SQLite's write lock while the
            # last flush below waited out the 30 s busy timeout (seen as hubgate taking 30 s to stop).
            self._stop.set()
            await self._task
        with contextlib.suppress(*DATABASE_ERRORS):
            await self.flush()
