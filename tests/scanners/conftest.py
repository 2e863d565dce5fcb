"""Samples are generated once per session into a temporary folder; no payload may ever run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scanners import make_benign, make_malicious


@pytest.fixture(scope="session")
def marker_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("markers")
    yield folder
    fired = sorted(p.name for p in folder.iterdir())
    assert not fired, f"a payload ran during the tests: {fired}"


@pytest.fixture(scope="session")
def malicious_samples(
    tmp_path_factory: pytest.TempPathFactory, marker_dir: Path
) -> list[make_malicious.Sample]:
    return make_malicious.build_all(tmp_path_factory.mktemp("malicious"), marker_dir)


@pytest.fixture(scope="session")
def benign_samples(tmp_path_factory: pytest.TempPathFactory) -> list[make_benign.Sample]:
    return make_benign.build_all(tmp_path_factory.mktemp("benign"))


@pytest.fixture(autouse=True)
def _quiet_modelscan() -> None:
    # modelscan logs its own parse problems; the reports carry them.
    logging.getLogger("modelscan").setLevel(logging.CRITICAL)
