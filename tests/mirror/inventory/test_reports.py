"""Origin and licence reports: the figures of a hand-built multi-publisher inventory, in every format."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mirror.inventory import reports
from mirror.inventory.records import Licence, OriginRecord, Origins, Tally
from storage.records import UpstreamStatus
from tests.mirror.inventory.views import file_view, revision_view

INVENTORY = [
    revision_view(
        "Qwen/Qwen3-0.6B",
        commit="1" * 40,
        files=(
            file_view("model.safetensors", downloads=2, sent=200),
            file_view("config.json", downloads=1, sent=10),
            file_view("README.md"),  # known, never served: not a served file
        ),
        by_identity={"anonymous": Tally(2, 200), "id1": Tally(1, 10)},
    ),
    revision_view(
        "Qwen/Qwen2.5-3B",
        commit="2" * 40,
        licences=(Licence("other", "qwen-research"),),
        bucket="research",
        files=(file_view("model.safetensors", downloads=1, sent=50),),
    ),
    revision_view(
        "deepseek-ai/DeepSeek-R1",
        commit="3" * 40,
        licences=(Licence("mit"),),
        files=(file_view("model.safetensors", downloads=1, sent=100),),
        by_identity={"id1": Tally(1, 100)},
    ),
    revision_view(
        "meta-llama/Llama-3.2-1B",
        commit="4" * 40,
        licences=(Licence("llama3.2"),),
        bucket="vendor",
        files=(file_view("model.safetensors", downloads=1, sent=300),),
        by_identity={"id2": Tally(1, 300)},
    ),
    revision_view(
        "someone/model",
        commit="5" * 40,
        licences=(Licence(None),),
        bucket="unknown",
        files=(file_view("model.safetensors", downloads=1, sent=5),),
    ),
]


def _figures(revisions: int, files: int, downloads: int, sent: int, identities: int) -> dict[str, int]:
    return {
        "revisions": revisions,
        "files": files,
        "downloads": downloads,
        "bytes": sent,
        "identities": identities,
    }


def test_origins_by_country_and_publisher() -> None:
    report = reports.origins(INVENTORY)
    assert report["report"] == "origins"
    assert report["totals"] == _figures(5, 6, 7, 665, 3)
    assert report["by_country"] == [
        {
            "country": "CN",
            **_figures(3, 4, 5, 360, 2),
            "share_of_bytes": 0.5414,
            "publishers": ["Qwen", "deepseek-ai"],
            "licence_buckets": {"permissive": 2, "research": 1},
        },
        {
            "country": "US",
            **_figures(1, 1, 1, 300, 1),
            "share_of_bytes": 0.4511,
            "publishers": ["meta-llama"],
            "licence_buckets": {"vendor": 1},
        },
        {
            "country": "unknown",
            **_figures(1, 1, 1, 5, 1),
            "share_of_bytes": 0.0075,
            "publishers": ["someone"],
            "licence_buckets": {"unknown": 1},
        },
    ]
    assert [
        (
            row["org"],
            row["organisation"],
            row["country"],
            row["revisions"],
            row["bytes"],
            row["licence_buckets"],
        )
        for row in report["by_publisher"]
    ] == [
        ("meta-llama", "Meta", "US", 1, 300, {"vendor": 1}),
        ("Qwen", "Alibaba Cloud (Qwen team)", "CN", 2, 260, {"permissive": 1, "research": 1}),
        ("deepseek-ai", "DeepSeek", "CN", 1, 100, {"permissive": 1}),
        ("someone", "unknown", "unknown", 1, 5, {"unknown": 1}),
    ]
    qwen = report["by_publisher"][1]
    assert (qwen["family"], qwen["files"], qwen["downloads"], qwen["identities"]) == ("Qwen", 3, 4, 2)


def test_licences_by_bucket_and_stated_licence() -> None:
    report = reports.licences(INVENTORY)
    assert report["totals"] == _figures(5, 6, 7, 665, 3)
    assert [
        (row["bucket"], row["revisions"], row["bytes"], row["countries"]) for row in report["by_bucket"]
    ] == [
        ("permissive", 2, 310, {"CN": 2}),
        ("vendor", 1, 300, {"US": 1}),
        ("research", 1, 50, {"CN": 1}),
        ("unknown", 1, 5, {"unknown": 1}),
    ]
    assert [
        (row["licence"], row["bucket"], row["downloads"], row["bytes"], row["publishers"])
        for row in report["by_licence"]
    ] == [
        ("llama3.2", "vendor", 1, 300, ["meta-llama"]),
        ("apache-2.0", "permissive", 3, 210, ["Qwen"]),
        ("mit", "permissive", 1, 100, ["deepseek-ai"]),
        ("other (qwen-research)", "research", 1, 50, ["Qwen"]),
        ("none stated", "unknown", 1, 5, ["someone"]),
    ]


def test_an_empty_inventory_reports_zeroes() -> None:
    for kind in ("origins", "licences"):
        report = reports.build(kind, [])
        assert report["totals"] == _figures(0, 0, 0, 0, 0)
        assert "(nothing served yet)" in reports.render_table(report)
    report = reports.build("continuity", INVENTORY)  # everything still on the Hub
    assert report["totals"] == {"repos": 0, **_figures(0, 0, 0, 0, 0)}
    assert "(none: the Hub still serves every repository hubgate served)" in reports.render_table(report)


def test_the_continuity_report_lists_what_the_hub_no_longer_serves() -> None:
    removed = UpstreamStatus("removed", datetime(2026, 12, 6, 9, 30, tzinfo=UTC), "RepoNotFound (404): gone")
    gated = UpstreamStatus("gated", datetime(2026, 12, 1, tzinfo=UTC), "GatedRepo (401): restricted")
    inventory = [
        replace(INVENTORY[0], upstream=removed),
        replace(INVENTORY[1], upstream=gated),
        *INVENTORY[2:],
    ]
    report = reports.continuity(inventory)
    assert report["totals"] == {"repos": 2, **_figures(2, 3, 4, 260, 2)}
    assert [(row["state"], row["repos"], row["downloads"]) for row in report["by_state"]] == [
        ("removed", 1, 3),
        ("gated", 1, 1),
    ]
    assert [(row["repo"], row["upstream_state"], row["commits"]) for row in report["by_repo"]] == [
        ("models/Qwen/Qwen2.5-3B", "gated since 2026-12-01", ["2" * 40]),  # oldest change first
        ("models/Qwen/Qwen3-0.6B", "removed since 2026-12-06", ["1" * 40]),
    ]
    assert report["by_repo"][1]["detail"] == "RepoNotFound (404): gone"
    table = reports.render_table(report)
    assert "2 repositories no longer served by the Hub" in table
    assert "removed since 2026-12-06" in table
    rows = list(csv.DictReader(io.StringIO(reports.render_csv(report))))
    assert [row["repo"] for row in rows] == ["models/Qwen/Qwen2.5-3B", "models/Qwen/Qwen3-0.6B"]


def test_csv_holds_the_detailed_rows() -> None:
    rows = list(csv.DictReader(io.StringIO(reports.render_csv(reports.origins(INVENTORY)))))
    assert [row["org"] for row in rows] == ["meta-llama", "Qwen", "deepseek-ai", "someone"]
    assert rows[1]["licence_buckets"] == "permissive=1; research=1"
    assert rows[1]["bytes"] == "260"
    licence_rows = list(csv.DictReader(io.StringIO(reports.render_csv(reports.licences(INVENTORY)))))
    assert (licence_rows[0]["licence"], licence_rows[0]["bucket"], licence_rows[0]["countries"]) == (
        "llama3.2",
        "vendor",
        "US=1",
    )


def test_the_terminal_table_shows_both_sections() -> None:
    table = reports.render_table(reports.origins(INVENTORY))
    assert table.startswith("origins: 5 revisions, 6 files, 7 downloads, 665 B to 3 identities\n")
    assert "\nby country:\n" in table
    assert "\nby publisher:\n" in table
    cn = next(line for line in table.splitlines() if line.startswith("CN "))
    assert "54.1%" in cn
    assert "Qwen; deepseek-ai" in cn


def test_an_unknown_report_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="origins or licences"):
        reports.build("volumes", INVENTORY)


def _origin(
    repo_id: str,
    country: str,
    family: str,
    *,
    depth: int = 0,
    root: bool = True,
    unknown: str = "",
    path: str = "",
) -> OriginRecord:
    return OriginRecord(
        repo_id=repo_id,
        path=path or repo_id,
        depth=depth,
        role="lineage root" if root else "base model",
        root=root,
        relation="",
        org=repo_id.split("/", 1)[0],
        organisation="Org",
        country=country,
        family=family,
        entities=(),
        unknown=unknown,
    )


def _built_on(own: str, *roots: OriginRecord) -> Origins:
    return Origins(
        verdict="allow",
        findings=(),
        lineage=(_origin(own, "unknown", "unknown", root=False), *roots),
    )


QWEN_ROOT = _origin("Qwen/Qwen2-7B", "CN", "Qwen", depth=2)
MISTRAL_ROOT = _origin("mistralai/Mistral-7B", "FR", "Mistral", depth=2)
LINEAGE_INVENTORY = [
    # A US startup's fine-tune of Qwen: published by an unknown org, built on a CN model.
    revision_view(
        "us-startup/qwen-ft",
        commit="1" * 40,
        origins=_built_on("us-startup/qwen-ft", QWEN_ROOT),
        files=(file_view("model.safetensors", downloads=2, sent=200),),
        by_identity={"alice": Tally(1, 100), "bob": Tally(1, 100)},
    ),
    # A merge of a Qwen and a Mistral descendant: counts under both roots.
    revision_view(
        "merger/qwen-mistral",
        commit="2" * 40,
        origins=_built_on("merger/qwen-mistral", QWEN_ROOT, MISTRAL_ROOT),
        files=(file_view("model.safetensors", downloads=1, sent=50),),
        by_identity={"carol": Tally(1, 50)},
    ),
    # Qwen's own model is its own root.
    revision_view(
        "Qwen/Qwen2-7B",
        commit="3" * 40,
        origins=Origins(verdict="allow", findings=(), lineage=(_origin("Qwen/Qwen2-7B", "CN", "Qwen"),)),
        files=(file_view("model.safetensors", downloads=1, sent=400),),
        by_identity={"alice": Tally(1, 400)},
    ),
    # A base whose card could not be read: what is known of that branch is its own origin.
    revision_view(
        "someone/ft-of-private",
        commit="4" * 40,
        origins=_built_on(
            "someone/ft-of-private",
            _origin("deepseek-ai/secret", "CN", "DeepSeek", depth=1, root=False, unknown="unreadable"),
        ),
        files=(file_view("model.safetensors", downloads=1, sent=5),),
        by_identity={"dave": Tally(1, 5)},
    ),
    # Decided before origins were recorded.
    revision_view("old/model", commit="5" * 40, files=(file_view("a.bin", downloads=1, sent=1),)),
]


def test_origins_by_lineage_root_country_and_family() -> None:
    report = reports.build("origins", LINEAGE_INVENTORY, by="lineage")
    assert (report["report"], report["by"]) == ("origins", "lineage")
    assert report["totals"] == _figures(5, 5, 6, 656, 5)  # every revision once
    assert [
        (row["country"], row["revisions"], row["downloads"], row["bytes"], row["identities"], row["families"])
        for row in report["by_root_country"]
    ] == [
        ("CN", 4, 5, 655, 4, ["DeepSeek", "Qwen"]),
        ("FR", 1, 1, 50, 1, ["Mistral"]),
        ("unrecorded", 1, 1, 1, 1, ["unrecorded"]),
    ]
    assert [
        (row["country"], row["family"], row["revisions"], row["bytes"], row["roots"])
        for row in report["by_root_family"]
    ] == [
        ("CN", "Qwen", 3, 650, ["Qwen/Qwen2-7B"]),
        ("FR", "Mistral", 1, 50, ["mistralai/Mistral-7B"]),
        ("CN", "DeepSeek", 1, 5, ["deepseek-ai/secret"]),
        ("unrecorded", "unrecorded", 1, 1, ["unrecorded"]),
    ]
    by_root = {row["repo_id"]: row for row in report["by_root"]}
    assert by_root["Qwen/Qwen2-7B"]["complete"] is True
    assert by_root["deepseek-ai/secret"]["complete"] is False
    assert by_root["Qwen/Qwen2-7B"]["identities"] == 3  # alice (twice), bob, carol: distinct users


def test_lineage_table_and_csv() -> None:
    report = reports.build("origins", LINEAGE_INVENTORY, by="lineage")
    table = reports.render_table(report)
    assert table.startswith("origins by lineage root: 5 revisions")
    assert "\nby root country:\n" in table
    assert "\nby root family:\n" in table
    rows = list(csv.DictReader(io.StringIO(reports.render_csv(report))))
    assert (rows[0]["country"], rows[0]["family"], rows[0]["revisions"]) == ("CN", "Qwen", "3")


def test_only_origins_group_by_lineage() -> None:
    with pytest.raises(ValueError, match="only the origins report"):
        reports.build("licences", INVENTORY, by="lineage")
    with pytest.raises(ValueError, match="publisher or lineage"):
        reports.build("origins", INVENTORY, by="country")
