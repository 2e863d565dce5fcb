"""Samples are generated once per run into a temporary folder the workers share; no payload may ever run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from tests.scanners import make_benign, make_malicious


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder this run's xdist workers share (the session's own temp folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def marker_dir(shared_dir: Path) -> Iterator[Path]:
    folder = shared_dir / "markers"
    folder.mkdir(exist_ok=True)
    yield folder
    fired = sorted(p.name for p in folder.iterdir())
    assert not fired, f"a payload ran during the tests: {fired}"


def _built_once(shared_dir: Path, name: str, build: Callable[[Path], object]) -> Path:
    """Build the samples `name` once per run: the workers share them (they are the same bytes every time,
    and building them, with torch, Keras and scikit-learn, takes each process half a minute)."""
    folder = shared_dir / name
    done = shared_dir / f"{name}.built"
    with FileLock(shared_dir / f"{name}.lock"):
        if not done.exists():
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def malicious_samples(shared_dir: Path, marker_dir: Path) -> list[make_malicious.Sample]:
    folder = _built_once(shared_dir, "malicious", lambda out: make_malicious.build_all(out, marker_dir))
    return make_malicious.samples_in(folder)


@pytest.fixture(scope="session")
def benign_samples(shared_dir: Path) -> list[make_benign.Sample]:
    return make_benign.samples_in(_built_once(shared_dir, "benign", make_benign.build_all))


@pytest.fixture(autouse=True)
def _quiet_modelscan() -> None:
    # modelscan logs its own parse problems; the reports carry them.
    logging.getLogger("modelscan").setLevel(logging.CRITICAL)
