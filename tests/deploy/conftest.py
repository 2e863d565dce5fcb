"""Fixtures shared with the other suites, reused rather than rebuilt: the fake Hub and real hubgate
servers of tests/e2e, and the SQLite/PostgreSQL `database` of tests/storage. Also the image tests'
report, printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import backend_sections, cache_dir, fake_hub, make_hubgate, upstream
from tests.storage.conftest import database

__all__ = ["backend_sections", "cache_dir", "database", "fake_hub", "make_hubgate", "upstream"]


# Lines the image tests (test_image.py) print after the run: timings, size, layers, what fills the image.
ImageReport = list[str]
_IMAGE_REPORT = pytest.StashKey[ImageReport]()


@pytest.fixture(scope="session")
def image_report(pytestconfig: pytest.Config) -> ImageReport:
    return pytestconfig.stash.setdefault(_IMAGE_REPORT, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_IMAGE_REPORT, [])
    if lines:
        terminalreporter.section("container image")
        for line in lines:
            terminalreporter.write_line(line)
