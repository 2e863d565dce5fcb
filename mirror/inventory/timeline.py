"""Origins over time: what hubgate served, period by period, by the country and family of where it comes
from. The review page charts it; `GET /reports/timeline` serves it.

Periods are UTC calendar months (`month`, named by their first day) or ISO weeks (`week`, named by their
Monday), the last `count` of them up to and including the current one, empty ones included. A download
counts in the period in which it was served. Per period and group: `downloads` (files sent), `bytes`
sent, `revisions` (distinct revisions with at least one file sent in that period) and `identities`
(distinct clients). Over the whole window, `total` counts each revision and identity once.

Groups: `by=lineage` (the default) takes what a revision is built on: the roots of its base_model
lineage as the gate recorded them (a root's publisher country and family; a repository past which the
lineage is unknown stands for its branch; `unrecorded` for a revision decided before origins were
recorded), as `GET /reports/origins?by=lineage` does. `by=publisher` takes the publisher of the revision's
own repository. A revision with origins in several groups (a merge of a Qwen and a Mistral descendant)
counts in full in each, so groups may add up to more than the totals, which count every revision once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mirror.inventory.publishers import UNKNOWN
from mirror.inventory.records import RevisionView
from storage.download_records import DailyTally
from storage.records import RepoKey

PERIODS = ("month", "week")
GROUPINGS = ("lineage", "publisher")
UNRECORDED = "unrecorded"  # as the lineage report names a revision whose origins were never recorded
DEFAULT_COUNT = {"month": 12, "week": 26}
MAX_COUNT = 120
METRICS = ("revisions", "downloads", "bytes", "identities")

Origin = tuple[str, str]  # (country, family)


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def periods_until(today: date, period: str, count: int) -> list[date]:
    """The `count` periods ending with the one `today` lies in, oldest first."""
    starts = [period_start(today, period)]
    while len(starts) < count:
        previous = starts[-1] - timedelta(days=1)
        starts.append(period_start(previous, period))
    return starts[::-1]


def window_start(now: datetime, period: str, count: int) -> datetime:
    first = periods_until(now.astimezone(UTC).date(), period, count)[0]
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


@dataclass
class _Cell:
    revisions: set[tuple[RepoKey, str]] = field(default_factory=set)
    identities: set[str] = field(default_factory=set)
    downloads: int = 0
    bytes: int = 0

    def add(self, tally: DailyTally) -> None:
        self.revisions.add((tally.repo, tally.commit))
        self.identities.add(tally.identity)
        self.downloads += tally.downloads
        self.bytes += tally.bytes

    def figures(self) -> dict[str, int]:
        return {
            "revisions": len(self.revisions),
            "downloads": self.downloads,
            "bytes": self.bytes,
            "identities": len(self.identities),
        }


@dataclass
class _Series:
    """One group's cells, one per period, and its total over the window."""

    cells: dict[date, _Cell] = field(default_factory=dict)
    total: _Cell = field(default_factory=_Cell)

    def add(self, start: date, tally: DailyTally) -> None:
        self.cells.setdefault(start, _Cell()).add(tally)
        self.total.add(tally)

    def to_dict(self, periods: Sequence[date]) -> dict[str, Any]:
        empty = _Cell()
        cells = [self.cells.get(start, empty).figures() for start in periods]
        return {"total": self.total.figures(), **{name: [cell[name] for cell in cells] for name in METRICS}}


def _publisher_origins(revision: RevisionView) -> tuple[Origin, ...]:
    return ((revision.publisher.country, revision.publisher.family),)


def _lineage_origins(revision: RevisionView) -> tuple[Origin, ...]:
    roots = () if revision.origins is None else revision.origins.roots
    return tuple((root.country, root.family) for root in roots) or ((UNRECORDED, UNRECORDED),)


_ORIGINS: dict[str, Callable[[RevisionView], Iterable[Origin]]] = {
    "lineage": _lineage_origins,
    "publisher": _publisher_origins,
}


def timeline(
    revisions: Sequence[RevisionView],
    tallies: Sequence[DailyTally],
    *,
    by: str,
    period: str,
    count: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The served figures per period, in all and by origin country and (country, family)."""
    if by not in _ORIGINS:
        raise ValueError(f"unknown grouping {by!r}: use {' or '.join(GROUPINGS)}")
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: use {' or '.join(PERIODS)}")
    now = now or datetime.now(UTC)
    periods = periods_until(now.astimezone(UTC).date(), period, count)
    first = periods[0]
    origins_of = _ORIGINS[by]
    known = {(_key(view), view.commit): view for view in revisions}
    total = _Series()
    by_country: dict[str, _Series] = {}
    by_family: dict[Origin, _Series] = {}
    for tally in tallies:
        if tally.day < first:
            continue
        start = period_start(tally.day, period)
        total.add(start, tally)
        view = known.get((tally.repo, tally.commit))
        origins = tuple(dict.fromkeys(origins_of(view))) if view is not None else ((UNKNOWN, UNKNOWN),)
        for country in dict.fromkeys(country for country, _ in origins):
            by_country.setdefault(country, _Series()).add(start, tally)
        for origin in origins:
            by_family.setdefault(origin, _Series()).add(start, tally)
    return {
        "report": "timeline",
        "by": by,
        "period": period,
        "generated_at": now.isoformat(),
        "periods": [start.isoformat() for start in periods],
        "totals": total.to_dict(periods),
        "by_country": [
            {"country": country, **series.to_dict(periods)} for country, series in _ordered(by_country)
        ],
        "by_family": [
            {"country": country, "family": family, **series.to_dict(periods)}
            for (country, family), series in _ordered(by_family)
        ],
    }


def _key(view: RevisionView) -> RepoKey:
    return RepoKey(repo_type=view.repo_type, repo_id=view.repo_id)


def _ordered(groups: dict[Any, _Series]) -> list[tuple[Any, _Series]]:
    # Largest first (bytes, then downloads), then by name so equal groups keep a stable order.
    return sorted(
        groups.items(), key=lambda item: (-item[1].total.bytes, -item[1].total.downloads, str(item[0]))
    )
