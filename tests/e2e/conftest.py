"""End-to-end fixtures: the fake Hub upstream and the real hubgate, both on loopback threads."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hubgate_server import RunningHubgate, hubgate_in_thread, hubgate_settings
from tests.fakehub import FakeHub, FakeHubServer, fakehub_in_thread
from tests.fakehub.fixtures import build_demo_hub


@pytest.fixture
def fake_hub() -> FakeHub:
    # Xet hints on, as the real Hub sends them: hubgate must keep the client on plain HTTP regardless.
    return build_demo_hub(xet_hints=True)


@pytest.fixture
def upstream(fake_hub: FakeHub) -> Iterator[FakeHubServer]:
    with fakehub_in_thread(fake_hub) as server:
        yield server


@pytest.fixture
def hubgate(upstream: FakeHubServer, tmp_path: Path) -> Iterator[RunningHubgate]:
    settings = hubgate_settings(tmp_path / "hubgate", upstream.url, server={"fetch_wait_s": 60.0})
    with hubgate_in_thread(settings) as running:
        yield running


HubgateFactory = Callable[..., RunningHubgate]


@pytest.fixture
def make_hubgate(upstream: FakeHubServer, tmp_path: Path) -> Iterator[HubgateFactory]:
    """Start hubgate with extra settings sections, e.g. make_hubgate(upstream={"ref_ttl_s": 0})."""
    started = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(data_dir: Path | None = None, **sections: Any) -> RunningHubgate:
            data_dir = data_dir or tmp_path / f"hubgate-{next(started)}"
            settings = hubgate_settings(data_dir, upstream.url, **sections)
            return stack.enter_context(hubgate_in_thread(settings))

        yield start


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh Hub client cache per test."""
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path
