"""The review page in a real headless Chromium, against a real hubgate and the fake Hub.

A reviewer signs in with an API token, finds the quarantined file, reads the findings (attacker-controlled
file names and scanner evidence are shown as text and never run), waives it, and the real Hub client then
downloads it; viewers get no buttons; the server's refusals (four-eyes, a decision on a stale page) are
shown to the reviewer as they are.

Chromium is Debian's (scripts/test.sh installs it); Playwright only drives it and never downloads a
browser. The browser tests are marked `browser`: they run in the main test run, not in the extra
backend/client runs. The API the page relies on is tested here too, unmarked, so on every backend.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from huggingface_hub import hf_hub_download
from playwright.sync_api import expect

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.browser import Tab
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle, torch_zip, unusual_but_benign_pickle
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings

REPO = "acme/web-review"
VENDOR_REPO = "acme/vendor-model"
# Attacker-controlled text that would set window.__hubgateXss if the page ever parsed it as HTML: a file
# name, and (below) a path that the malicious pickle opens, which the scanner quotes as evidence.
EVIL_NAME = "state <img src=x onerror=window.__hubgateXss=1>.bin"
EVIL_DIR = "<img src=x onerror=window.__hubgateXss=2>"
EVIL_FILE = "<script>window.__hubgateXss=3"


@pytest.fixture
def marker() -> Iterator[Path]:
    # A short base directory: the scanner cuts evidence strings at 120 characters, and the test reads the
    # attacker's part of the path in the evidence (pytest's tmp_path is long, longer still under xdist).
    base = Path(tempfile.mkdtemp(prefix="hg"))
    folder = base / EVIL_DIR
    folder.mkdir()
    path = folder / EVIL_FILE
    try:
        yield path
        assert not path.exists(), "a scanned payload was executed"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def review_hub(fake_hub: FakeHub, marker: Path) -> FakeHub:
    fake_hub.add(
        FakeRepo(
            REPO,
            [
                FakeFile.text("config.json", "{}"),
                # Not an attack, but nothing a scanner can vouch for: quarantined until a human waives it.
                FakeFile.from_bytes(EVIL_NAME, unusual_but_benign_pickle()),
                FakeFile.from_bytes("pytorch_model.bin", torch_zip(marker_pickle(marker))),
            ],
            settings=RepoSettings(card_data={"license": "mit"}),
        )
    )
    fake_hub.add(
        FakeRepo(
            VENDOR_REPO,
            # Other bytes than the first repo's config: a blob's review names the repo it was first seen in.
            [FakeFile.text("config.json", '{"model_type": "vendor"}')],
            settings=RepoSettings(card_data={"license": "llama3"}),
        )
    )
    return fake_hub


def _fetch(hubgate: RunningHubgate, repo: str, path: str) -> int:
    return request("GET", f"{hubgate.url}/{repo}/resolve/main/{quote(path)}").status


def _quarantine_both(hubgate: RunningHubgate) -> tuple[int, int]:
    """Ask for both pickles (refused) and the config (served); return the two review ids."""
    assert _fetch(hubgate, REPO, EVIL_NAME) == 403
    assert _fetch(hubgate, REPO, "pytorch_model.bin") == 403
    assert _fetch(hubgate, REPO, "config.json") == 200
    admin = make_token(hubgate, "setup", "admin")
    items = ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", admin))["items"]
    ids = {item["path"]: item["id"] for item in items}
    return ids[EVIL_NAME], ids["pytorch_model.bin"]


@pytest.mark.browser
def test_an_approver_waives_a_quarantined_file_and_the_client_gets_it(
    hubgate: RunningHubgate, review_hub: FakeHub, tab: Any, marker: Path, cache_dir: Path
) -> None:
    odd_id, evil_id = _quarantine_both(hubgate)
    approver = make_token(hubgate, "sec-team", "approver")
    browser_tab: Tab = tab(hubgate)
    page = browser_tab.page
    browser_tab.open()
    browser_tab.sign_in(approver)
    expect(page.get_by_test_id("whoami")).to_have_text("sec-team approver")

    # The default view: what needs a decision, the attacker's file name shown as typed.
    expect(browser_tab.rows()).to_have_count(2)
    expect(browser_tab.rows().nth(0)).to_contain_text(EVIL_NAME)
    expect(browser_tab.rows().nth(1)).to_contain_text("pytorch_model.bin")
    browser_tab.screenshot("list")

    # The malicious pickle: the evidence quotes the attacker's path literally.
    browser_tab.open_review(evil_id)
    evidence = page.locator("pre.evidence").filter(has_text="builtins.open('")
    # (The scanner shortens long evidence; the attacker's part is near enough to the start to survive.)
    expect(evidence).to_contain_text(f"{EVIL_DIR}/<script>window.")
    expect(page.get_by_text("pickle.dangerous-global").first).to_be_visible()
    browser_tab.assert_nothing_ran()

    page.get_by_role("link", name="← All reviews").click()
    browser_tab.open_review(odd_id)
    expect(page.get_by_role("heading", level=1)).to_contain_text(EVIL_NAME)
    expect(page.locator("pre.evidence").first).to_contain_text("acme_tools.configs.build_config")
    expect(page.locator(".review-badges")).to_contain_text("QUARANTINED")
    browser_tab.assert_nothing_ran()

    page.locator(".action-buttons").get_by_role("button", name="Approve (waive)").click()
    page.get_by_label("Reason for the waiver").fill("internal helper, checked <b>by hand</b>")
    page.get_by_label("Waiver expires after").select_option(label="30 days")
    page.get_by_role("button", name="Confirm: approve (waive)").click()
    expect(page.locator("#notice")).to_have_text(f"Review #{odd_id}: QUARANTINED → APPROVED")
    expect(page.locator(".review-badges")).to_contain_text("APPROVED")
    expect(page.locator(".action-buttons").get_by_role("button")).to_have_text(["Revoke", "Rescan"])

    path = hf_hub_download(REPO, EVIL_NAME, cache_dir=cache_dir, endpoint=hubgate.url)
    assert Path(path).read_bytes() == unusual_but_benign_pickle()
    hubgate.flush_downloads()

    page.reload()
    waiver = page.locator("section", has=page.get_by_role("heading", name="Waiver and request"))
    expect(waiver).to_contain_text("internal helper, checked <b>by hand</b>")
    expect(page.locator("section", has=page.get_by_role("heading", name="Downloads"))).to_contain_text(
        "1 download(s)"
    )
    audit = page.get_by_role("list", name="Audit trail").locator("li")
    expect(audit).to_have_count(2)
    expect(audit.nth(0)).to_contain_text("hubgate")
    expect(audit.nth(0)).to_contain_text("PENDING → QUARANTINED")
    expect(audit.nth(1)).to_contain_text("sec-team (approver) waive QUARANTINED → APPROVED")
    expect(audit.nth(1)).to_contain_text("internal helper, checked <b>by hand</b>")
    browser_tab.screenshot("review-detail")
    browser_tab.assert_nothing_ran()
    assert browser_tab.console_errors == []

    # What the page showed is what the API holds.
    detail = ok(call(hubgate, "GET", f"/reviews/{odd_id}", approver))
    assert detail["state"] == "APPROVED"
    assert detail["waiver"]["by"] == "sec-team"
    assert detail["waiver"]["expires_at"] is not None


@pytest.mark.browser
def test_viewers_get_no_buttons_and_refusals_are_shown(
    make_hubgate: HubgateFactory, review_hub: FakeHub, tab: Any
) -> None:
    hubgate = make_hubgate(auth={"four_eyes": True})
    odd_id, _ = _quarantine_both(hubgate)
    viewer = make_token(hubgate, "auditor", "viewer")
    approver = make_token(hubgate, "sec-team", "approver")
    other = make_token(hubgate, "other-approver", "approver")
    browser_tab: Tab = tab(hubgate)
    page = browser_tab.page

    browser_tab.open(f"#/reviews/{odd_id}")
    browser_tab.sign_in(viewer)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Review #{odd_id}")
    expect(page.get_by_test_id("no-actions")).to_contain_text("viewer role")
    expect(page.locator("main button")).to_have_count(0)
    browser_tab.sign_out()

    browser_tab.sign_in(approver)  # back on the review this tab showed
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Review #{odd_id}")
    # The approver asks for the review (as a requester would), then may not approve it: four eyes.
    browser_tab.decide("Request review", "needed for the search project")
    expect(page.locator("#notice")).to_have_text(f"Review #{odd_id}: review requested, still QUARANTINED")
    browser_tab.decide("Approve (waive)", "looks fine to me")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(
        "403 FourEyesRequired: four-eyes rule: a waiver needs a review request by someone other than "
        "the approver; no one but 'sec-team' has requested"
    )
    browser_tab.screenshot("four-eyes-refusal")
    assert ok(call(hubgate, "GET", f"/reviews/{odd_id}", viewer))["state"] == "QUARANTINED"

    # Another approver blocks it meanwhile; this page still shows it quarantined and offers Block.
    ok(call(hubgate, "POST", f"/reviews/{odd_id}/block", other, {"reason": "not ours"}))
    browser_tab.decide("Block", "block it too")
    expect(page.get_by_role("alert")).to_contain_text(
        "409 IllegalTransition: cannot block a review in state BLOCKED"
    )
    page.reload()
    expect(page.locator(".review-badges")).to_contain_text("BLOCKED")
    # Only an admin may reopen a block: an approver can only ask for another look.
    expect(page.locator(".action-buttons").get_by_role("button")).to_have_text(["Request review"])
    browser_tab.assert_nothing_ran()
    # The refusals above are the only errors the browser saw (as failed requests).
    assert all("status of 40" in text for text in browser_tab.console_errors), browser_tab.console_errors


@pytest.mark.browser
def test_filters_pages_licences_keyboard_and_narrow_screens(
    hubgate: RunningHubgate, review_hub: FakeHub, tab: Any
) -> None:
    odd_id, evil_id = _quarantine_both(hubgate)
    assert _fetch(hubgate, VENDOR_REPO, "config.json") == 403  # the licence needs a human
    approver = make_token(hubgate, "sec-team", "approver")
    everything = ok(call(hubgate, "GET", "/reviews", approver))["items"]
    licence_id = next(item["id"] for item in everything if item["subject_kind"] == "revision")
    browser_tab: Tab = tab(hubgate, viewport={"width": 390, "height": 844})
    page = browser_tab.page
    browser_tab.open()

    # Keyboard only: the token field has the focus, Enter signs in.
    page.keyboard.type(approver)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("whoami")).to_contain_text("sec-team")
    expect(browser_tab.rows()).to_have_count(3)  # two files and the licence of a commit
    # One card per review at phone width, nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    browser_tab.screenshot("narrow-list")

    page.get_by_label("State").select_option(label="All states")
    page.get_by_role("button", name="Apply").click()
    expect(browser_tab.rows()).to_have_count(len(everything))
    page.get_by_label("Severity").select_option("critical")
    page.get_by_role("button", name="Apply").click()
    expect(browser_tab.rows()).to_have_count(1)
    expect(browser_tab.rows()).to_contain_text("pytorch_model.bin")
    page.get_by_label("Severity").select_option("")
    page.get_by_label("Repository").fill(VENDOR_REPO)
    page.get_by_role("button", name="Apply").click()
    expect(browser_tab.rows()).to_have_count(1)
    expect(browser_tab.rows()).to_contain_text("licence of this commit")

    # A page at a time, forward and back.
    browser_tab.open("#/reviews?state=QUARANTINED&limit=1")
    expect(browser_tab.rows()).to_have_count(1)
    ids = [odd_id, evil_id, licence_id]
    expect(browser_tab.rows()).to_contain_text(f"#{ids[0]}")
    page.get_by_role("button", name="Next →").click()
    expect(browser_tab.rows()).to_contain_text(f"#{ids[1]}")
    expect(page.get_by_text("Page 2")).to_be_visible()
    page.get_by_role("button", name="Next →").click()
    expect(browser_tab.rows()).to_contain_text(f"#{ids[2]}")
    page.get_by_role("button", name="← Previous").click()
    expect(browser_tab.rows()).to_contain_text(f"#{ids[1]}")
    # The way back is in the URL: it survives a reload.
    page.reload()
    expect(page.get_by_text("Page 2")).to_be_visible()
    page.get_by_role("button", name="← Previous").click()
    expect(browser_tab.rows()).to_contain_text(f"#{ids[0]}")
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()

    # The licence review, opened from the keyboard.
    page.get_by_label("Repository").fill(VENDOR_REPO)
    page.get_by_label("Repository").press("Enter")
    link = page.get_by_role("link", name=f"#{licence_id}", exact=True)
    link.focus()
    page.keyboard.press("Enter")
    licence = page.locator("section", has=page.get_by_role("heading", name="Licence"))
    expect(licence).to_contain_text("licence.vendor")
    # Keyboard again: a decision button opens its form with the focus in the text field.
    page.locator(".action-buttons").get_by_role("button", name="Approve (waive)").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "action-approve-text"
    browser_tab.screenshot("narrow-licence")
    page.get_by_role("button", name="Cancel").press("Enter")
    expect(page.locator(".action-form")).to_have_count(0)
    assert page.evaluate("document.activeElement.textContent") == "Approve (waive)"

    page.set_viewport_size({"width": 1280, "height": 900})
    browser_tab.open(f"#/reviews/{odd_id}")
    expect(page.locator("section", has=page.get_by_role("heading", name="Licence"))).to_contain_text(
        "needed no review"
    )
    browser_tab.screenshot("wide-detail")

    # Once the licence is accepted, a file of that commit links back to the licence's review.
    ok(call(hubgate, "POST", f"/reviews/{licence_id}/approve", approver, {"reason": "licence accepted"}))
    assert _fetch(hubgate, VENDOR_REPO, "config.json") == 200
    browser_tab.open("#/reviews?state=all&repo=" + VENDOR_REPO)
    expect(browser_tab.rows()).to_have_count(2)
    browser_tab.rows().nth(1).get_by_role("link").click()
    licence = page.locator("section", has=page.get_by_role("heading", name="Licence"))
    expect(licence).to_contain_text("This commit's licence has its own review: #")
    expect(licence).to_contain_text("APPROVED")
    licence.get_by_role("link", name=f"#{licence_id}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Review #{licence_id}")
    browser_tab.assert_nothing_ran()
    assert browser_tab.console_errors == []


def test_the_api_behind_the_page(hubgate: RunningHubgate, review_hub: FakeHub) -> None:
    odd_id, evil_id = _quarantine_both(hubgate)
    assert _fetch(hubgate, VENDOR_REPO, "config.json") == 403
    tokens = {role: make_token(hubgate, role, role) for role in ("viewer", "requester", "approver", "admin")}
    admin = tokens["admin"]
    everything = ok(call(hubgate, "GET", "/reviews", admin))["items"]
    licence_id = next(item["id"] for item in everything if item["subject_kind"] == "revision")
    config_id = next(item["id"] for item in everything if item["path"] == "config.json")
    ok(call(hubgate, "POST", f"/reviews/{odd_id}/approve", admin, {"reason": "checked"}))
    ok(call(hubgate, "POST", f"/reviews/{evil_id}/block", admin, {"reason": "runs open()"}))

    def ids(query: str) -> list[int]:
        return [item["id"] for item in ok(call(hubgate, "GET", f"/reviews?{query}", admin))["items"]]

    # Several states at once, in any case, paged by id like one state.
    assert ids("state=QUARANTINED,PENDING") == [licence_id]
    assert ids("state=approved,%20blocked") == [odd_id, evil_id, config_id]
    first = ok(call(hubgate, "GET", "/reviews?state=APPROVED,BLOCKED&limit=1", admin))
    assert [item["id"] for item in first["items"]] == [odd_id]
    assert "state=APPROVED%2CBLOCKED" in first["next"]
    assert ids(first["next"].split("?", 1)[1]) == [evil_id]  # the next page keeps limit=1
    refused = call(hubgate, "GET", "/reviews?state=QUARANTINED,NOPE", admin)
    assert (refused.status, refused.header("X-Error-Code")) == (400, "BadRequest")
    assert "'NOPE'" in (refused.header("X-Error-Message") or "")

    # What each role may press, derived from the transition table.
    def actions(review_id: int, role: str) -> list[str]:
        return ok(call(hubgate, "GET", f"/reviews/{review_id}", tokens[role]))["actions"]  # type: ignore[no-any-return]

    assert actions(licence_id, "viewer") == []
    assert actions(licence_id, "requester") == ["request"]
    assert actions(licence_id, "approver") == ["approve", "block", "rescan", "request"]
    assert actions(odd_id, "approver") == ["revoke", "rescan"]
    assert actions(odd_id, "requester") == []
    assert actions(evil_id, "approver") == ["request"]
    assert actions(evil_id, "admin") == ["reopen", "request"]

    # A blob points to the licence review of its commit, when the licence needed one.
    assert ok(call(hubgate, "GET", f"/reviews/{odd_id}", admin))["licence_review"] is None
    ok(call(hubgate, "POST", f"/reviews/{licence_id}/approve", admin, {"reason": "licence accepted"}))
    assert _fetch(hubgate, VENDOR_REPO, "config.json") == 200
    vendor_blob = next(
        item
        for item in ok(call(hubgate, "GET", "/reviews?repo=" + VENDOR_REPO, admin))["items"]
        if item["subject_kind"] == "blob"
    )
    licence = ok(call(hubgate, "GET", f"/reviews/{vendor_blob['id']}", admin))["licence_review"]
    assert licence["id"] == licence_id
    assert licence["state"] == "APPROVED"
    assert [reason["rule_id"] for reason in licence["reasons"]] == ["licence.vendor"]


@pytest.mark.browser
def test_a_revision_whose_repo_vanished_says_so_on_the_page(
    make_hubgate: HubgateFactory, review_hub: FakeHub, tab: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "continuity.toml"
    policy.write_text('[continuity]\non_removed = "review"\n')
    hubgate = make_hubgate(upstream={"ref_ttl_s": 0, "alias_ttl_s": 0}, policy={"path": str(policy)})
    assert _fetch(hubgate, REPO, "config.json") == 200
    hubgate.flush_downloads()
    review_hub.remove("model", REPO)
    assert _fetch(hubgate, REPO, "config.json") == 403  # back in the queue: refused until approved
    approver = make_token(hubgate, "sec-team", "approver")
    [queued] = [
        item
        for item in ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", approver))["items"]
        if item["subject_kind"] == "revision"
    ]
    browser_tab: Tab = tab(hubgate)
    browser_tab.open()
    browser_tab.sign_in(approver)
    browser_tab.open_review(queued["id"])
    view = browser_tab.page.locator("#view")
    expect(view).to_contain_text("On the Hub")
    expect(view).to_contain_text(f"removed since {datetime.now(UTC).date().isoformat()}")
    expect(view).to_contain_text("continuity.removed")
    browser_tab.screenshot("continuity-review")
    browser_tab.assert_nothing_ran()
