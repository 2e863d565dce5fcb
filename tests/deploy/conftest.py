"""Fixtures shared with the other suites, reused rather than rebuilt: the fake Hub and real hubgate
servers of tests/e2e, and the SQLite/PostgreSQL `database` of tests/storage."""

from __future__ import annotations

from tests.e2e.conftest import backend_sections, cache_dir, fake_hub, make_hubgate, upstream
from tests.storage.conftest import database

__all__ = ["backend_sections", "cache_dir", "database", "fake_hub", "make_hubgate", "upstream"]
