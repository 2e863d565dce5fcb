"""requirements/hubgate.lock, which the image and scripts/serve.sh install with --require-hashes, agrees with
pyproject.toml on every Python hubgate supports. (tests/deploy/test_image.py checks that the image holds
exactly what the lock pins.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.deploy import lock

# Where hubgate runs: the image's Python (3.12) and the scripts' (3.11 or 3.12), on both CPU kinds the
# python images are published for.
ENVIRONMENTS = {
    f"cpython-{python}-{machine}": lock.linux_environment(python, machine)
    for python in ("3.11.2", "3.12.11")
    for machine in ("x86_64", "aarch64")
}


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_every_dependency_is_locked_at_a_version_pyproject_allows(name: str) -> None:
    environment = ENVIRONMENTS[name]
    pins = lock.applicable(lock.read_lock(), environment)
    for requirement in lock.locked_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate(dict(environment)):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} is not in the lock: run scripts/lock.sh"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"the lock pins {pin.line}, but pyproject asks for {requirement}: run scripts/lock.sh"
        )


def test_every_pin_is_exact_and_hashed() -> None:
    pins = lock.read_lock()
    assert len(pins) > 20, "the lock looks truncated"
    for pin in pins:
        assert pin.hashes, f"{pin.line} has no --hash: pip's --require-hashes would refuse the whole lock"


def test_the_lock_does_not_pin_hubgate_or_pip_tooling() -> None:
    # hubgate installs from the sources with --no-deps; pip and build backends are no runtime dependencies.
    names = {pin.name for pin in lock.read_lock()}
    assert not names & {"hubgate", "pip", "setuptools", "wheel"}


def test_the_lock_reader_sees_a_stale_pin(tmp_path: Path) -> None:
    # The check above can fail: a pin outside pyproject's range is reported.
    stale = tmp_path / "stale.lock"
    stale.write_text("aiohttp==3.10.0 \\\n    --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    (pin,) = lock.read_lock(stale)
    requirement = next(r for r in lock.locked_requirements() if canonicalize_name(r.name) == "aiohttp")
    assert not requirement.specifier.contains(pin.version)
    unpinned = tmp_path / "unpinned.lock"
    unpinned.write_text("aiohttp>=3.11\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="exact pin"):
        lock.read_lock(unpinned)


def test_pins_for_different_pythons_are_told_apart_by_markers() -> None:
    # Where the lock pins a package twice (e.g. numpy, whose newest release needs 3.12), every supported
    # Python gets exactly one of the pins (lock.applicable asserts it), and each pin is used by one.
    pins = lock.read_lock()
    used = {
        pin.line
        for environment in ENVIRONMENTS.values()
        for pin in lock.applicable(pins, environment).values()
    }
    for pin in pins:
        if pin.marker is not None and "python" in str(pin.marker):
            assert pin.line in used, f"{pin.line} applies to no supported Python"
