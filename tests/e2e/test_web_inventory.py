"""The inventory view in a real headless Chromium, against a real hubgate, the fake Hub and real
huggingface_hub downloads: the origins chart and its table say what the timeline API says (switching
measure, grouping and period), licences, what changed upstream, a revision's page (lineage, files,
reviews, sign-off, signature, the SBOM as a file), and the refused attempts a security team reads on a
review after a real client was refused. Upstream text (file names, card fields) is shown as text only.

The download log below holds the session's downloads and, written straight into it, downloads of the
same revisions in earlier months (what the log would hold after a few months), so that the chart has
more than one period. The API checks are unmarked and run on both backends; the browser ones are marked
`browser`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError
from playwright.sync_api import Page, expect

from storage.records import DownloadEvent
from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.browser import Tab
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle, torch_zip
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.fakehub.fixtures import ALICE_TOKEN, BOB_TOKEN
from tests.fakehub.safetensors_format import safetensors_bytes

QWEN = "Qwen/Qwen2.5-0.5B"
DEEPSEEK = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"  # base_model: Qwen
LLAMA = "meta-llama/Llama-3.2-1B"  # a vendor licence: refused until the security team accepts it
STRANGER = "acme-labs/tiny-bert"  # a namespace in no publisher table; its upstream text carries markup
EVIL = "acme-labs/evil-model"  # a malicious pickle: quarantined
ALICE = hashlib.sha256(ALICE_TOKEN.encode()).hexdigest()[:16]  # how the download log names a token
# Would set window.__hubgateXss if the page ever parsed upstream text as HTML.
EVIL_FILE = "notes <img src=x onerror=window.__hubgateXss=4>.txt"
EVIL_TASK = "<img src=x onerror=window.__hubgateXss=5>"


def _weights_repo(
    repo_id: str, seed: int, card: dict[str, Any], extra: tuple[FakeFile, ...] = ()
) -> FakeRepo:
    weights = safetensors_bytes({"weight": np.full((8, 8), seed, dtype=np.float32)})
    return FakeRepo(
        repo_id,
        [
            FakeFile.text("config.json", json.dumps({"model_type": "tiny", "seed": seed})),
            FakeFile.from_bytes("model.safetensors", weights),
            *extra,
        ],
        settings=RepoSettings(card_data=card),
    )


@pytest.fixture
def inventory_hub(fake_hub: FakeHub, marker: Path) -> dict[str, FakeRepo]:
    repos = [
        _weights_repo(QWEN, 1, {"license": "apache-2.0", "pipeline_tag": "text-generation"}),
        _weights_repo(DEEPSEEK, 2, {"license": "mit", "base_model": QWEN, "library_name": "transformers"}),
        _weights_repo(LLAMA, 3, {"license": "llama3.2"}),
        _weights_repo(
            STRANGER,
            4,
            {"license": "openrail", "pipeline_tag": EVIL_TASK},
            (FakeFile.text(EVIL_FILE, "hello"),),
        ),
        FakeRepo(
            EVIL,
            [FakeFile.from_bytes("pytorch_model.bin", torch_zip(marker_pickle(marker)))],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        ),
    ]
    return {repo.repo_id: fake_hub.add(repo) for repo in repos}


@pytest.fixture
def served(
    make_hubgate: HubgateFactory, inventory_hub: dict[str, FakeRepo], tmp_path: Path
) -> RunningHubgate:
    """A hubgate after a session of real downloads and refusals, plus older months in its download log."""
    hubgate = make_hubgate(upstream={"ref_ttl_s": 0, "alias_ttl_s": 0})
    approver = make_token(hubgate, "sec-team", "approver")
    assert request("GET", f"{hubgate.url}/{LLAMA}/resolve/main/config.json").status == 403
    [licence] = [
        item
        for item in ok(call(hubgate, "GET", f"/reviews?repo={LLAMA}", approver))["items"]
        if item["subject_kind"] == "revision"
    ]
    reason = {"reason": "Llama 3.2 community licence acknowledged by legal"}
    ok(call(hubgate, "POST", f"/reviews/{licence['id']}/approve", approver, reason))
    session = [
        (QWEN, "config.json", None),
        (QWEN, "model.safetensors", None),
        (QWEN, "model.safetensors", ALICE_TOKEN),
        (DEEPSEEK, "config.json", BOB_TOKEN),
        (LLAMA, "model.safetensors", None),
        (STRANGER, "config.json", None),
        (STRANGER, EVIL_FILE, None),
    ]
    for number, (repo_id, path, token) in enumerate(session):
        hf_hub_download(
            repo_id, path, cache_dir=tmp_path / f"cache-{number}", endpoint=hubgate.url, token=token or False
        )
    with pytest.raises(GatedRepoError):  # Alice's client is refused the malicious pickle
        hf_hub_download(
            EVIL, "pytorch_model.bin", cache_dir=tmp_path / "evil", endpoint=hubgate.url, token=ALICE_TOKEN
        )
    hubgate.run(_older_months(hubgate, inventory_hub))
    hubgate.flush_downloads()
    hubgate.run(hubgate.components.refusals.flush())
    return hubgate


async def _older_months(hubgate: RunningHubgate, repos: dict[str, FakeRepo]) -> None:
    """Downloads of the same revisions one and two months back, as the download log would hold them."""
    now = datetime.now(UTC)
    rows = []
    for months_back, repo_id, path, identity, times in (
        (1, QWEN, "model.safetensors", "anonymous", 3),
        (2, QWEN, "config.json", "anonymous", 1),
        (2, LLAMA, "model.safetensors", "0123456789abcdef", 2),
    ):
        head = repos[repo_id].head
        entry = head.files[path]
        at = _months_ago(now, months_back)
        rows += [
            DownloadEvent(
                blob_sha256=entry.sha256,
                repo_type="model",
                repo_id=repo_id,
                commit=head.sha,
                path=path,
                identity=identity,
                client="huggingface_hub",
                state="APPROVED",
                range_start=0,
                bytes=entry.size,
                at=at,
            )
            for _ in range(times)
        ]
    await hubgate.components.download_records.record_downloads(rows)


def _months_ago(now: datetime, months: int) -> datetime:
    first = date(now.year, now.month, 1)
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
    return datetime(first.year, first.month, 10, 12, 0, tzinfo=UTC)


def test_the_timeline_api_counts_what_was_served_per_month_and_origin(
    served: RunningHubgate, inventory_hub: dict[str, FakeRepo]
) -> None:
    viewer = make_token(served, "auditor", "viewer")
    report = ok(call(served, "GET", "/reports/timeline?count=3", viewer))
    assert (report["by"], report["period"]) == ("lineage", "month")
    assert len(report["periods"]) == 3
    assert report["periods"][-1] == datetime.now(UTC).date().replace(day=1).isoformat()

    def size(repo_id: str, path: str) -> int:
        return inventory_hub[repo_id].head.files[path].size

    countries = {row["country"]: row for row in report["by_country"]}
    assert countries["CN"]["downloads"] == [1, 3, 4]  # the seeded months, then this month's session
    assert countries["CN"]["revisions"] == [1, 1, 2]
    assert countries["CN"]["identities"] == [1, 1, 3]  # anonymous, Alice and Bob this month
    assert countries["CN"]["bytes"][1] == 3 * size(QWEN, "model.safetensors")
    assert countries["US"]["downloads"] == [2, 0, 1]
    assert countries["unknown"]["downloads"] == [0, 0, 2]
    assert report["totals"]["downloads"] == [3, 3, 7]
    assert report["totals"]["total"]["revisions"] == 4  # the refused pickle's revision was never served
    # By lineage root: DeepSeek's distill is built on Qwen, so it counts as Qwen's; by publisher it is
    # DeepSeek's own.
    families = {(row["country"], row["family"]): row for row in report["by_family"]}
    assert set(families) == {("CN", "Qwen"), ("US", "Llama"), ("unknown", "unknown")}
    assert families[("CN", "Qwen")]["downloads"] == [1, 3, 4]
    publisher = ok(call(served, "GET", "/reports/timeline?count=3&by=publisher", viewer))
    families = {(row["country"], row["family"]): row for row in publisher["by_family"]}
    assert set(families) == {("CN", "Qwen"), ("CN", "DeepSeek"), ("US", "Llama"), ("unknown", "unknown")}
    assert families[("CN", "Qwen")]["downloads"] == [1, 3, 3]
    assert families[("CN", "DeepSeek")]["downloads"] == [0, 0, 1]

    weeks = ok(call(served, "GET", "/reports/timeline?period=week&count=2", viewer))
    assert weeks["totals"]["downloads"][-1] == 7  # only this week's session in the last week
    for query in ("by=nope", "period=year", "count=0", "count=121"):
        refused = call(served, "GET", f"/reports/timeline?{query}", viewer)
        assert (refused.status, refused.header("X-Error-Code")) == (400, "BadRequest"), query
    assert call(served, "GET", "/reports/timeline", None).status == 401


def _chart(page: Page) -> dict[tuple[str, str], int]:
    """(series, period) -> value of every bar segment the chart drew."""
    segments = page.locator("#origins-chart rect.segment")
    return {
        (item["series"], item["period"]): int(item["value"])
        for item in segments.evaluate_all(
            "rects => rects.map(r => ({series: r.dataset.series, period: r.dataset.period,"
            " value: r.dataset.value}))"
        )
    }


def _table(page: Page) -> dict[str, list[int]]:
    """Series -> its numbers (each period, then the whole window) from the chart's table."""
    rows = page.locator("table.numbers tr[data-series]")
    return {
        item["series"]: [int(value) for value in item["values"]]
        for item in rows.evaluate_all(
            "rows => rows.map(r => ({series: r.dataset.series,"
            " values: [...r.querySelectorAll('td')].map(td => td.dataset.value)}))"
        )
    }


def _expected(
    report: dict[str, Any], measure: str, group: str
) -> tuple[dict[tuple[str, str], int], dict[str, list[int]]]:
    rows = report["by_country"] if group == "country" else report["by_family"]
    chart: dict[tuple[str, str], int] = {}
    table: dict[str, list[int]] = {}
    for row in rows:
        name = row["country"] if group == "country" else f"{row['country']} · {row['family']}"
        table[name] = [*row[measure], row["total"][measure]]
        for period, value in zip(report["periods"], row[measure], strict=True):
            if value:
                chart[(name, period)] = value
    totals = report["totals"]
    table["All origins (each revision and user once)"] = [*totals[measure], totals["total"][measure]]
    return chart, table


@pytest.mark.browser
def test_the_inventory_view_charts_what_the_api_reports(served: RunningHubgate, tab: Any) -> None:
    viewer = make_token(served, "auditor", "viewer")
    browser_tab: Tab = tab(served)
    page = browser_tab.page
    browser_tab.open()
    browser_tab.sign_in(viewer)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Inventory").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inventory")
    expect(page.get_by_test_id("inventory-summary")).to_contain_text(
        re.compile(r"^4 revisions served: 13 downloads, .* to 4 identities\.$")
    )
    report = ok(call(served, "GET", "/reports/timeline", viewer))

    drawn = page.locator(".chart-area")
    for measure, group, label in (
        ("downloads", "country", None),  # what the view shows first
        ("bytes", "country", "Bytes"),
        ("identities", "family", "Users (identities)"),
        ("revisions", "family", "Revisions"),
    ):
        if label is not None:
            page.get_by_label("Measure").select_option(label=label)
        if group == "family":
            page.get_by_label("Group by").select_option(label="Country and family")
        expect(drawn).to_have_attribute("data-drawn", f"{measure} {group} lineage month")
        chart, table = _expected(report, measure, group)
        assert _chart(page) == chart
        assert _table(page) == table
        if label is not None:
            assert f"measure={measure}" in page.url
    browser_tab.screenshot("inventory-chart")

    # The choice is in the URL: a reload shows the same chart.
    page.reload()
    expect(page.get_by_label("Measure")).to_have_value("revisions")
    expect(page.locator("#origins-chart rect.segment")).to_have_count(
        len(_expected(report, "revisions", "family")[0])
    )
    # Accessible: the chart names itself, and its numbers are a table with a caption.
    svg = page.locator("#origins-chart svg")
    assert svg.get_attribute("role") == "img"
    expect(page.locator("#origins-chart-title")).to_have_text(
        "Revisions per month, by country and family of the lineage root"
    )
    expect(page.locator("table.numbers caption")).to_have_text(
        page.locator("#origins-chart-title").text_content() or ""
    )

    page.get_by_label("Period").select_option(label="Week")
    expect(drawn).to_have_attribute("data-drawn", "revisions family lineage week")
    weekly = ok(call(served, "GET", "/reports/timeline?period=week", viewer))
    assert _table(page) == _expected(weekly, "revisions", "family")[1]
    # By publisher: who published each revision rather than what it is built on.
    page.get_by_label("Origin", exact=True).select_option(label="Publisher")
    expect(drawn).to_have_attribute("data-drawn", "revisions family publisher week")
    by_publisher = ok(call(served, "GET", "/reports/timeline?period=week&by=publisher", viewer))
    chart, table = _expected(by_publisher, "revisions", "family")
    assert _chart(page) == chart
    assert _table(page) == table
    assert "CN · DeepSeek" in table

    licences = ok(call(served, "GET", "/reports/licences", viewer))
    section = page.locator("section", has=page.get_by_role("heading", name="Licences"))
    buckets = section.get_by_role("table", name="Licences by bucket").locator("tbody tr")
    expect(buckets).to_have_count(len(licences["by_bucket"]))
    for index, row in enumerate(licences["by_bucket"]):
        expect(buckets.nth(index).locator("td").first).to_have_text(row["bucket"])
        expect(buckets.nth(index).locator("td").nth(1)).to_have_text(str(row["revisions"]))

    upstream = page.locator("section", has=page.get_by_role("heading", name="What changed upstream"))
    expect(upstream).to_contain_text("The Hub still serves every repository hubgate served.")
    # At phone width the chart shrinks and wide tables scroll inside their box: the page never does.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(drawn).to_have_attribute("data-drawn", "revisions family publisher week")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    browser_tab.screenshot("inventory-narrow")
    browser_tab.assert_nothing_ran()
    assert browser_tab.console_errors == []


@pytest.mark.browser
def test_a_revision_page_shows_lineage_files_reviews_and_gives_the_sbom(
    served: RunningHubgate, fake_hub: FakeHub, inventory_hub: dict[str, FakeRepo], tab: Any, tmp_path: Path
) -> None:
    # The Hub removes a repository hubgate served; the next request records it (and is served from store).
    fake_hub.remove("model", STRANGER)
    assert request("GET", f"{served.url}/{STRANGER}/resolve/main/config.json").status == 200
    viewer = make_token(served, "auditor", "viewer")
    browser_tab: Tab = tab(served, accept_downloads=True)
    page = browser_tab.page
    browser_tab.open("#/inventory")
    browser_tab.sign_in(viewer)
    upstream = page.locator("section", has=page.get_by_role("heading", name="What changed upstream"))
    expect(upstream.locator("tbody tr")).to_have_count(1)
    expect(upstream).to_contain_text(f"models/{STRANGER}")
    expect(upstream).to_contain_text(f"removed since {datetime.now(UTC).date().isoformat()}")

    deepseek = inventory_hub[DEEPSEEK].head
    revisions = page.get_by_role("table", name="Served revisions").locator("tbody tr")
    expect(revisions.filter(has_text=DEEPSEEK)).to_contain_text(f"{QWEN} (Qwen, CN)")  # built on
    expect(revisions.filter(has_text=LLAMA)).to_contain_text("itself")
    page.get_by_role("link", name=f"{DEEPSEEK}@{deepseek.sha[:10]}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"{DEEPSEEK}@{deepseek.sha[:10]}")
    lineage = page.get_by_role("list", name="Lineage").locator("li")
    expect(lineage).to_have_count(2)
    expect(lineage.nth(0)).to_contain_text(DEEPSEEK)
    expect(lineage.nth(1)).to_contain_text(QWEN)
    expect(lineage.nth(1)).to_contain_text("apache-2.0")
    files = page.get_by_role("table", name="Files").locator("tbody tr")
    expect(files).to_have_count(1)  # the files hubgate knows of: Bob asked for the config only
    config = deepseek.files["config.json"]
    expect(files.filter(has_text="config.json")).to_contain_text(config.sha256[:16])
    expect(files.filter(has_text="config.json")).to_contain_text("APPROVED")
    identities = page.get_by_role("table", name="Downloads by identity")
    expect(identities).to_contain_text(hashlib.sha256(BOB_TOKEN.encode()).hexdigest()[:16])

    with page.expect_download() as info:
        page.get_by_role("button", name="Download the SBOM (CycloneDX 1.6)").click()
    saved = tmp_path / "sbom.json"
    info.value.save_as(saved)
    assert (
        info.value.suggested_filename
        == f"deepseek-ai--DeepSeek-R1-Distill-Qwen-1.5B-{deepseek.sha[:12]}.cdx.json"
    )
    sbom = json.loads(saved.read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.6"
    assert sbom["components"][0]["purl"] == f"pkg:huggingface/{DEEPSEEK}@{deepseek.sha}"
    browser_tab.screenshot("inventory-revision")

    # The vendor licence: its sign-off (who accepted it, why) is on the revision's page.
    llama = inventory_hub[LLAMA].head
    browser_tab.open(f"#/inventory/model/{LLAMA}/{llama.sha}")
    reviews = page.locator("section", has=page.get_by_role("heading", name="Reviews"))
    expect(reviews).to_contain_text("sec-team")
    expect(reviews).to_contain_text("Llama 3.2 community licence acknowledged by legal")
    expect(reviews).to_contain_text("licence.vendor")

    # Upstream text with markup: a file name and a card field, shown as typed and never run.
    stranger = inventory_hub[STRANGER].head
    browser_tab.open(f"#/inventory/model/{STRANGER}/{stranger.sha}")
    expect(page.get_by_role("table", name="Files")).to_contain_text(EVIL_FILE)
    expect(page.locator("section", has=page.get_by_role("heading", name="Revision"))).to_contain_text(
        EVIL_TASK
    )
    expect(page.locator("section", has=page.get_by_role("heading", name="Revision"))).to_contain_text(
        f"removed since {datetime.now(UTC).date().isoformat()}"
    )
    browser_tab.assert_nothing_ran()
    assert browser_tab.console_errors == []


@pytest.mark.browser
def test_the_review_shows_who_was_refused_the_file(served: RunningHubgate, tab: Any) -> None:
    # One more refusal, by another client, after the real client's (the `served` session).
    for _ in range(2):
        answer = request(
            "GET", f"{served.url}/{EVIL}/resolve/main/pytorch_model.bin", headers={"User-Agent": "curl/8.5.0"}
        )
        assert answer.status == 403
    served.run(served.components.refusals.flush())
    viewer = make_token(served, "auditor", "viewer")
    [evil] = ok(call(served, "GET", f"/reviews?repo={EVIL}", viewer))["items"]
    attempts = ok(call(served, "GET", f"/reviews/{evil['id']}", viewer))["attempts"]
    browser_tab: Tab = tab(served)
    page = browser_tab.page
    browser_tab.open(f"#/reviews/{evil['id']}")
    browser_tab.sign_in(viewer)
    section = page.locator("section", has=page.get_by_role("heading", name="Refused attempts"))
    expect(page.get_by_test_id("attempts-summary")).to_contain_text("3 refused attempts by 2 identities")
    who = section.get_by_role("table", name="Refused attempts by identity").locator("tbody tr")
    expect(who).to_have_count(len(attempts["by_identity"]))
    for index, item in enumerate(attempts["by_identity"]):
        expect(who.nth(index).locator("td").nth(0)).to_have_text(item["identity"])
        expect(who.nth(index).locator("td").nth(1)).to_have_text(str(item["count"]))
    expect(who.filter(has_text="anonymous")).to_contain_text("curl/8.5.0")
    expect(who.filter(has_text=ALICE)).to_contain_text(re.compile(r"hf_hub/"))
    latest = section.get_by_role("table", name="Latest refused attempts").locator("tbody tr")
    expect(latest).to_have_count(2)
    expect(latest.filter(has_text=ALICE)).to_contain_text("QUARANTINED")
    browser_tab.screenshot("review-attempts")
    browser_tab.assert_nothing_ran()
    assert browser_tab.console_errors == []
