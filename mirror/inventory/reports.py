"""Origin, licence and continuity reports: how much of what hubgate served comes from which country and
publisher, is built on models from where, is under which licences, and what of it the Hub no longer
serves (removed or gated since hubgate stored it). JSON for machines, CSV for spreadsheets, a table for
the terminal.

Every figure counts served downloads only (files actually sent): `revisions` served, `files` (distinct
paths of those revisions that were served), `downloads` (requests), `bytes` sent, distinct client
`identities`.

The origins report groups by publisher (who published the revision) or by lineage (what it is built on:
the roots of its base_model lineage). A revision built on several roots (a merge of a Qwen and a Llama
model) counts in full under each root's group, so groups can add up to more than the totals; the totals
count every revision once.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mirror.inventory.records import OriginRecord, RevisionView, upstream_text
from mirror.inventory.vocabulary import GROUPINGS, KINDS

UNRECORDED_ORIGIN = "unrecorded"  # decided before origins were recorded: re-evaluation fills them in


@dataclass
class _Tally:
    """Served figures of a group of revisions."""

    revisions: set[tuple[str, str, str]] = field(default_factory=set)
    files: set[tuple[str, str, str, str]] = field(default_factory=set)
    downloads: int = 0
    bytes: int = 0
    identities: set[str] = field(default_factory=set)
    buckets: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    publishers: set[str] = field(default_factory=set)

    def add(self, revision: RevisionView) -> None:
        key = (revision.repo_type, revision.repo_id, revision.commit)
        if key not in self.revisions:
            self.buckets[revision.licence_bucket] += 1
            self.countries[revision.publisher.country] += 1
        self.revisions.add(key)
        self.files.update((*key, path) for path in revision.served_paths)
        served = revision.served
        self.downloads += served.downloads
        self.bytes += served.bytes
        self.identities.update(revision.by_identity)
        self.publishers.add(revision.publisher.org)

    def figures(self) -> dict[str, int]:
        return {
            "revisions": len(self.revisions),
            "files": len(self.files),
            "downloads": self.downloads,
            "bytes": self.bytes,
            "identities": len(self.identities),
        }


def _group(revisions: Iterable[RevisionView], key: Callable[[RevisionView], Any]) -> dict[Any, _Tally]:
    groups: dict[Any, _Tally] = {}
    for revision in revisions:
        groups.setdefault(key(revision), _Tally()).add(revision)
    return groups


def _group_many(
    revisions: Iterable[RevisionView], keys: Callable[[RevisionView], Iterable[Any]]
) -> dict[Any, _Tally]:
    """Like _group, for revisions that belong to several groups (once to each)."""
    groups: dict[Any, _Tally] = {}
    for revision in revisions:
        for key in dict.fromkeys(keys(revision)):
            groups.setdefault(key, _Tally()).add(revision)
    return groups


def _ordered(groups: dict[Any, _Tally]) -> list[tuple[Any, _Tally]]:
    # Largest first (bytes, then downloads), then by name so equal rows keep a stable order.
    return sorted(groups.items(), key=lambda item: (-item[1].bytes, -item[1].downloads, str(item[0])))


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def origins(revisions: Sequence[RevisionView], *, now: datetime | None = None) -> dict[str, Any]:
    """Served revisions by country and by publisher, with the licence buckets of each."""
    total = _group(revisions, lambda _: "all").get("all", _Tally())
    by_country = [
        {
            "country": country,
            **tally.figures(),
            "share_of_bytes": _share(tally.bytes, total.bytes),
            "publishers": sorted(tally.publishers),
            "licence_buckets": dict(sorted(tally.buckets.items())),
        }
        for country, tally in _ordered(_group(revisions, lambda r: r.publisher.country))
    ]
    publishers = {r.publisher.org: r.publisher for r in revisions}
    by_publisher = [
        {
            "org": org,
            "organisation": publishers[org].organisation,
            "country": publishers[org].country,
            "family": publishers[org].family,
            **tally.figures(),
            "share_of_bytes": _share(tally.bytes, total.bytes),
            "licence_buckets": dict(sorted(tally.buckets.items())),
        }
        for org, tally in _ordered(_group(revisions, lambda r: r.publisher.org))
    ]
    return {
        "report": "origins",
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "totals": total.figures(),
        "by_country": by_country,
        "by_publisher": by_publisher,
    }


def _roots(revision: RevisionView) -> tuple[OriginRecord | None, ...]:
    """What a revision is built on; (None,) when its origins were never recorded."""
    if revision.origins is None:
        return (None,)
    return revision.origins.roots or (None,)


def _root_key(root: OriginRecord | None) -> tuple[str, str, str]:
    if root is None:
        return (UNRECORDED_ORIGIN, UNRECORDED_ORIGIN, UNRECORDED_ORIGIN)
    return (root.country, root.family, root.repo_id)


def lineage_origins(revisions: Sequence[RevisionView], *, now: datetime | None = None) -> dict[str, Any]:
    """Served revisions by what they are built on: the country and family of their lineage roots, and each
    root. A root past which the lineage is unknown is marked `complete: false`."""
    total = _group(revisions, lambda _: "all").get("all", _Tally())
    roots = {_root_key(root): root for revision in revisions for root in _roots(revision)}
    by_country = _group_many(revisions, lambda r: (_root_key(root)[0] for root in _roots(r)))
    by_family = _group_many(revisions, lambda r: (_root_key(root)[:2] for root in _roots(r)))
    by_root = _group_many(revisions, lambda r: (_root_key(root) for root in _roots(r)))
    families: dict[str, set[str]] = {}
    for country, family, _ in roots:
        families.setdefault(country, set()).add(family)
    return {
        "report": "origins",
        "by": "lineage",
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "totals": total.figures(),
        "by_root_country": [
            {
                "country": country,
                **tally.figures(),
                "share_of_bytes": _share(tally.bytes, total.bytes),
                "families": sorted(families.get(country, ())),
            }
            for country, tally in _ordered(by_country)
        ],
        "by_root_family": [
            {
                "country": country,
                "family": family,
                **tally.figures(),
                "share_of_bytes": _share(tally.bytes, total.bytes),
                "roots": sorted(key[2] for key in roots if key[:2] == (country, family)),
            }
            for (country, family), tally in _ordered(by_family)
        ],
        "by_root": [
            {
                "repo_id": key[2],
                "org": root.org if root else UNRECORDED_ORIGIN,
                "organisation": root.organisation if root else UNRECORDED_ORIGIN,
                "country": key[0],
                "family": key[1],
                "complete": bool(root and not root.unknown),
                **tally.figures(),
                "share_of_bytes": _share(tally.bytes, total.bytes),
            }
            for key, tally in _ordered(by_root)
            for root in (roots[key],)
        ],
    }


def licences(revisions: Sequence[RevisionView], *, now: datetime | None = None) -> dict[str, Any]:
    """Served revisions by licence bucket (as the gate resolved it) and by stated licence."""
    total = _group(revisions, lambda _: "all").get("all", _Tally())
    by_bucket = [
        {
            "bucket": bucket,
            **tally.figures(),
            "share_of_bytes": _share(tally.bytes, total.bytes),
            "countries": dict(sorted(tally.countries.items())),
        }
        for bucket, tally in _ordered(_group(revisions, lambda r: r.licence_bucket))
    ]
    by_licence = [
        {
            "licence": licence,
            "bucket": bucket,
            **tally.figures(),
            "publishers": sorted(tally.publishers),
            "countries": dict(sorted(tally.countries.items())),
        }
        for (licence, bucket), tally in _ordered(
            _group(revisions, lambda r: (r.licence_shown, r.licence_bucket))
        )
    ]
    return {
        "report": "licences",
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "totals": total.figures(),
        "by_bucket": by_bucket,
        "by_licence": by_licence,
    }


def continuity(revisions: Sequence[RevisionView], *, now: datetime | None = None) -> dict[str, Any]:
    """What the company depends on that the Hub no longer serves: served revisions of repositories the
    Hub answered as removed or gated since, by state and by repository (oldest change first)."""
    gone = [revision for revision in revisions if revision.upstream.state != "present"]
    total = _group(gone, lambda _: "all").get("all", _Tally())
    by_state = [
        {
            "state": state,
            "repos": len({(r.repo_type, r.repo_id) for r in gone if r.upstream.state == state}),
            **tally.figures(),
        }
        for state, tally in _ordered(_group(gone, lambda r: r.upstream.state))
    ]
    repos: dict[tuple[str, str], list[RevisionView]] = {}
    for revision in gone:
        repos.setdefault((revision.repo_type, revision.repo_id), []).append(revision)
    by_repo = []
    for (repo_type, repo_id), held in repos.items():
        tally = _Tally()
        for revision in held:
            tally.add(revision)
        upstream = held[0].upstream
        # Reports cover served revisions, which all have a last served time.
        last_served = max((r.last_served_at for r in held if r.last_served_at is not None), default=None)
        by_repo.append(
            {
                "repo": f"{repo_type}s/{repo_id}",
                "upstream_state": upstream_text(upstream),
                "state": upstream.state,
                "since": None if upstream.since is None else upstream.since.isoformat(),
                "detail": upstream.detail,
                "org": held[0].publisher.org,
                "country": held[0].publisher.country,
                **tally.figures(),
                "commits": [revision.commit for revision in held],
                "last_served_at": None if last_served is None else last_served.isoformat(),
            }
        )
    by_repo.sort(key=lambda row: (row["since"] or "", row["repo"]))
    return {
        "report": "continuity",
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "totals": {"repos": len(by_repo), **total.figures()},
        "by_state": by_state,
        "by_repo": by_repo,
    }


def build(kind: str, revisions: Sequence[RevisionView], *, by: str = "publisher") -> dict[str, Any]:
    """The report `kind`; origins group `by` publisher or lineage. Raises ValueError for anything else."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}: use {' or '.join(GROUPINGS)}")
    if kind == "origins":
        return lineage_origins(revisions) if by == "lineage" else origins(revisions)
    if by != "publisher":
        raise ValueError("only the origins report groups by lineage")
    if kind == "licences":
        return licences(revisions)
    if kind == "continuity":
        return continuity(revisions)
    raise ValueError(f"unknown report {kind!r}: use {' or '.join(KINDS)}")


# -- rendering -------------------------------------------------------------------------------------------

_FIGURES = ("revisions", "files", "downloads", "bytes", "identities")
# The rows a CSV holds (one table per report: the most detailed one) and the columns a table shows.
_DETAIL = {
    "origins": ("by_publisher", ("org", "organisation", "country", "family", *_FIGURES, "licence_buckets")),
    "origins-lineage": ("by_root_family", ("country", "family", *_FIGURES, "share_of_bytes", "roots")),
    "licences": ("by_licence", ("licence", "bucket", *_FIGURES, "publishers", "countries")),
    "continuity": (
        "by_repo",
        ("repo", "upstream_state", "org", "country", *_FIGURES, "last_served_at", "detail"),
    ),
}
_SUMMARY = {
    "origins": ("by_country", ("country", *_FIGURES, "share_of_bytes", "publishers")),
    "origins-lineage": ("by_root_country", ("country", *_FIGURES, "share_of_bytes", "families")),
    "licences": ("by_bucket", ("bucket", *_FIGURES, "share_of_bytes", "countries")),
    "continuity": ("by_state", ("state", "repos", *_FIGURES)),
}
_EMPTY = {
    "origins": "(nothing served yet)",
    "origins-lineage": "(nothing served yet)",
    "licences": "(nothing served yet)",
    "continuity": "(none: the Hub still serves every repository hubgate served)",
}


def _layout(report: dict[str, Any]) -> str:
    return "origins-lineage" if report.get("by") == "lineage" else str(report["report"])


def _cell(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{key}={count}" for key, count in value.items())
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if isinstance(value, float):
        return f"{value:.1%}"
    return str(value)


def render_csv(report: dict[str, Any]) -> str:
    section, columns = _DETAIL[_layout(report)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in report[section]:
        writer.writerow([_cell(row[column]) for column in columns])
    return buffer.getvalue()


def render_table(report: dict[str, Any]) -> str:
    kind = _layout(report)
    totals = report["totals"]
    title = "origins by lineage root" if kind == "origins-lineage" else kind
    gone = f"{totals['repos']} repositories no longer served by the Hub: " if kind == "continuity" else ""
    lines = [
        f"{title}: {gone}{totals['revisions']} revisions, {totals['files']} files, {totals['downloads']} "
        f"downloads, {_size(totals['bytes'])} to {totals['identities']} identities",
    ]
    for section, columns in (_SUMMARY[kind], _DETAIL[kind]):
        lines += ["", section.replace("_", " ") + ":", *_table(report[section], columns, _EMPTY[kind])]
    return "\n".join(lines) + "\n"


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str) -> list[str]:
    cells = [
        [_cell(row[column]) if column != "bytes" else _size(row[column]) for column in columns]
        for row in rows
    ]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    numeric = {i for i, column in enumerate(columns) if column in (*_FIGURES, "share_of_bytes", "repos")}

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(widths[i]) if i in numeric else value.ljust(widths[i])
            for i, value in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    if not rows:
        return [f"  {empty}"]
    return [line(columns), line(["-" * width for width in widths]), *(line(row) for row in cells)]


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
