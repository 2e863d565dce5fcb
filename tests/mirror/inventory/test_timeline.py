"""Origins over time: periods (UTC months, ISO weeks) up to now with empty ones kept, figures per period
and origin, distinct revisions and users, and totals that count each once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mirror.inventory import timeline
from mirror.inventory.records import OriginRecord, Origins, RevisionView
from storage.download_records import DailyTally
from storage.records import RepoKey
from tests.mirror.inventory.views import revision_view

QWEN = revision_view("Qwen/Qwen3-0.6B", commit="1" * 40)
QWEN_OLD = revision_view("Qwen/Qwen2.5-3B", commit="2" * 40)
LLAMA = revision_view("meta-llama/Llama-3.2-1B", commit="3" * 40)
NOW = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)  # a Wednesday


def _tally(view: RevisionView, day: date, identity: str, downloads: int, sent: int) -> DailyTally:
    return DailyTally(RepoKey("model", view.repo_id), view.commit, day, identity, downloads, sent)


TALLIES = [
    _tally(QWEN, date(2026, 12, 1), "anonymous", 2, 200),
    _tally(QWEN, date(2026, 12, 8), "alice", 1, 100),
    _tally(QWEN_OLD, date(2026, 12, 2), "alice", 1, 30),
    _tally(LLAMA, date(2026, 10, 31), "bob", 4, 4000),
    _tally(LLAMA, date(2025, 1, 5), "bob", 9, 9),  # before the window: left out
    # Served before the inventory knew the revision (or of a revision no longer in it): unknown origin.
    DailyTally(RepoKey("model", "acme/gone"), "4" * 40, date(2026, 11, 15), "carol", 1, 1),
]


def test_months_up_to_now_with_empty_ones_kept() -> None:
    report = timeline.timeline(
        [QWEN, QWEN_OLD, LLAMA], TALLIES, by="publisher", period="month", count=4, now=NOW
    )
    assert report["periods"] == ["2026-09-01", "2026-10-01", "2026-11-01", "2026-12-01"]
    totals = report["totals"]
    assert totals["downloads"] == [0, 4, 1, 4]
    assert totals["bytes"] == [0, 4000, 1, 330]
    assert totals["revisions"] == [0, 1, 1, 2]
    assert totals["identities"] == [0, 1, 1, 2]
    assert totals["total"] == {"revisions": 4, "downloads": 9, "bytes": 4331, "identities": 4}
    countries = {row["country"]: row for row in report["by_country"]}
    assert [row["country"] for row in report["by_country"]] == ["US", "CN", "unknown"]  # most bytes first
    assert countries["CN"]["downloads"] == [0, 0, 0, 4]
    assert countries["CN"]["revisions"] == [0, 0, 0, 2]
    assert countries["CN"]["identities"] == [0, 0, 0, 2]
    assert countries["US"]["bytes"] == [0, 4000, 0, 0]
    assert countries["unknown"]["downloads"] == [0, 0, 1, 0]
    families = {(row["country"], row["family"]): row["total"] for row in report["by_family"]}
    assert families[("CN", "Qwen")] == {"revisions": 2, "downloads": 4, "bytes": 330, "identities": 2}
    assert families[("US", "Llama")]["downloads"] == 4


def test_iso_weeks_are_named_by_their_monday() -> None:
    report = timeline.timeline(
        [QWEN, QWEN_OLD, LLAMA], TALLIES, by="publisher", period="week", count=2, now=NOW
    )
    assert report["periods"] == ["2026-11-30", "2026-12-07"]
    assert report["totals"]["downloads"] == [3, 1]  # Dec 1 and 2 in the first week, Dec 8 in the second
    assert report["totals"]["total"]["downloads"] == 4
    assert timeline.window_start(NOW, "week", 2) == datetime(2026, 11, 30, tzinfo=UTC)
    assert timeline.period_start(date(2027, 1, 1), "week") == date(2026, 12, 28)  # across a year


def test_nothing_served_gives_zeros_not_an_error() -> None:
    report = timeline.timeline([], [], by="publisher", period="month", count=3, now=NOW)
    assert report["totals"]["downloads"] == [0, 0, 0]
    assert report["by_country"] == []


@pytest.mark.parametrize(("by", "period"), [("nope", "month"), ("publisher", "year")])
def test_unknown_groupings_and_periods_are_refused(by: str, period: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        timeline.timeline([], [], by=by, period=period, count=1, now=NOW)


def _origin(repo_id: str, country: str, family: str, *, root: bool = True) -> OriginRecord:
    return OriginRecord(
        repo_id=repo_id,
        path=repo_id,
        depth=1 if root else 0,
        role="lineage root" if root else "repository",
        root=root,
        relation="",
        org=repo_id.split("/", 1)[0],
        organisation="Org",
        country=country,
        family=family,
        entities=(),
        unknown="",
    )


def _built_on(own: str, *roots: OriginRecord) -> Origins:
    return Origins(verdict="allow", findings=(), lineage=(_origin(own, "US", "Startup", root=False), *roots))


def test_by_lineage_a_revision_counts_under_each_root_and_the_totals_once() -> None:
    qwen, mistral = _origin("Qwen/Qwen2-7B", "CN", "Qwen"), _origin("mistralai/Mistral-7B", "FR", "Mistral")
    finetune = revision_view(
        "us-startup/qwen-ft", commit="5" * 40, origins=_built_on("us-startup/qwen-ft", qwen)
    )
    merge = revision_view(
        "us-startup/merge", commit="6" * 40, origins=_built_on("us-startup/merge", qwen, mistral)
    )
    older = revision_view("us-startup/old", commit="7" * 40)  # decided before origins were recorded
    tallies = [
        _tally(finetune, date(2026, 12, 1), "alice", 2, 20),
        _tally(merge, date(2026, 12, 2), "bob", 1, 10),
        _tally(older, date(2026, 11, 3), "carol", 1, 1),
    ]
    report = timeline.timeline(
        [finetune, merge, older], tallies, by="lineage", period="month", count=2, now=NOW
    )
    countries = {row["country"]: row for row in report["by_country"]}
    # Built on Qwen (CN) though published in the US; the merge counts under both of its roots.
    assert countries["CN"]["downloads"] == [0, 3]
    assert countries["CN"]["revisions"] == [0, 2]
    assert countries["FR"]["downloads"] == [0, 1]
    assert countries["unrecorded"]["downloads"] == [1, 0]
    assert "US" not in countries
    families = {(row["country"], row["family"]): row["total"]["identities"] for row in report["by_family"]}
    assert families == {("CN", "Qwen"): 2, ("FR", "Mistral"): 1, ("unrecorded", "unrecorded"): 1}
    assert report["totals"]["total"] == {"revisions": 3, "downloads": 4, "bytes": 31, "identities": 3}
    by_publisher = timeline.timeline(
        [finetune, merge, older], tallies, by="publisher", period="month", count=2, now=NOW
    )
    assert [row["country"] for row in by_publisher["by_country"]] == ["unknown"]
