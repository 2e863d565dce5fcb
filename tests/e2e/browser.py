"""Driving the review page in a real headless Chromium: the browser, one tab with everything that went
wrong in it recorded, and the checks every page test ends with.

Chromium is Debian's (scripts/test.sh installs it); Playwright only drives it and never downloads a
browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.e2e.hubgate_server import RunningHubgate

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path("/tmp")

# Records every CSP violation before the page's own script runs: an attempted injection shows up here even
# where the CSP blocked it.
WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations = window.__cspViolations || [];
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


class Tab:
    """One browser tab on the review page, with everything that went wrong in it recorded."""

    def __init__(self, page: Page, hubgate: RunningHubgate) -> None:
        self.page = page
        self.hubgate = hubgate
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.add_init_script(WATCH_CSP)
        page.set_default_timeout(15_000)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.hubgate.url}/hubgate/{fragment}")

    def sign_in(self, token: str) -> None:
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_test_id("whoami")).to_be_visible()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        expect(self.page.get_by_label("API token")).to_be_visible()

    def rows(self) -> Any:
        return self.page.locator("table.reviews tbody tr")

    def open_review(self, review_id: int) -> None:
        self.page.get_by_role("link", name=f"#{review_id}", exact=True).click()
        expect(self.page.get_by_role("heading", level=1)).to_contain_text(f"Review #{review_id}")

    def decide(self, button: str, text: str) -> None:
        self.page.locator(".action-buttons").get_by_role("button", name=button).click()
        self.page.locator(".action-form textarea").fill(text)
        self.page.locator(".action-form").get_by_role("button", name=re.compile("^Confirm")).click()

    def assert_nothing_ran(self) -> None:
        assert self.page.evaluate("window.__hubgateXss") is None
        assert self.page.evaluate("window.__cspViolations") is None
        assert self.page_errors == []
        # Attacker text rendered as markup would have left <img> elements inside the view.
        assert self.page.locator("#view img").count() == 0
        # An absent value rendered as text instead of being left out (inner text: words stay apart).
        expect(self.page.locator("#view")).not_to_contain_text(
            re.compile(r"\bnull\b|\bundefined\b|\[object "), use_inner_text=True
        )

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"hubgate-{name}.png"), full_page=True)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Any]:
    contexts: list[Any] = []

    def new_tab(hubgate: RunningHubgate, **options: Any) -> Tab:
        context = browser.new_context(**options)
        contexts.append(context)
        return Tab(context.new_page(), hubgate)

    yield new_tab
    for context in contexts:
        context.close()
