"""Read requirements/hubgate.lock (written by scripts/lock.sh) and say which pins apply to a Python.

The lock is a pip requirements file: `name==version [; marker]`, then `--hash=sha256:...` continuation
lines, then `# via ...` comments. One lock serves several Pythons, so a package may be pinned more than
once with markers that tell the pins apart.
"""

from __future__ import annotations

import platform
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "hubgate.lock"
PYPROJECT = ROOT / "pyproject.toml"
# The extras the image and scripts/serve.sh install, and so the lock covers.
LOCKED_EXTRAS = ("sigstore",)

_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")

# The environment markers are evaluated against (PEP 508 names), as `packaging` computes it for the
# running interpreter.
MarkerEnvironment = Mapping[str, str]


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]
    line: str

    def applies(self, environment: MarkerEnvironment) -> bool:
        return self.marker is None or self.marker.evaluate(dict(environment))


def _entries(text: str) -> list[str]:
    """Requirement entries with their continuation lines joined and comments dropped."""
    entries: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        entries.append((pending + line).strip())
        pending = ""
    assert not pending, "the lock ends inside a continued line"
    return entries


def read_lock(path: Path = LOCK) -> list[Pin]:
    pins: list[Pin] = []
    for entry in _entries(path.read_text(encoding="utf-8")):
        hashes = tuple(_HASH.findall(entry))
        requirement_text = _HASH.sub("", entry).strip()
        assert not requirement_text.startswith("-"), f"the lock holds an option, not a pin: {entry[:120]}"
        requirement = Requirement(requirement_text)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1, f"not one exact pin: {requirement_text}"
        assert specifiers[0].operator == "==", f"not an exact pin: {requirement_text}"
        assert "*" not in specifiers[0].version, f"not an exact pin: {requirement_text}"
        pins.append(
            Pin(
                name=canonicalize_name(requirement.name),
                version=specifiers[0].version,
                marker=requirement.marker,
                hashes=hashes,
                line=requirement_text,
            )
        )
    return pins


def applicable(pins: list[Pin], environment: MarkerEnvironment) -> dict[str, Pin]:
    """The pins pip installs on `environment`, by canonical name; two for one name is an error."""
    chosen: dict[str, Pin] = {}
    for pin in pins:
        if not pin.applies(environment):
            continue
        assert pin.name not in chosen, f"{pin.name} is pinned twice here: {chosen[pin.name].line}; {pin.line}"
        chosen[pin.name] = pin
    return chosen


def project() -> dict[str, object]:
    data: dict[str, object] = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return data


def locked_requirements() -> list[Requirement]:
    """What the lock must satisfy: pyproject's dependencies and those of the locked extras."""
    data = project()
    dependencies = data["dependencies"]
    optional = data["optional-dependencies"]
    assert isinstance(dependencies, list)
    assert isinstance(optional, dict)
    texts = [*dependencies, *(text for extra in LOCKED_EXTRAS for text in optional[extra])]
    return [Requirement(text) for text in texts]


def linux_environment(python: str, machine: str = "x86_64") -> dict[str, str]:
    """The marker environment of CPython `python` (e.g. "3.12.11") on Linux: where hubgate runs."""
    major_minor = ".".join(python.split(".")[:2])
    return {
        "implementation_name": "cpython",
        "implementation_version": python,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_release": platform.release(),
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": python,
        "platform_python_implementation": "CPython",
        "python_version": major_minor,
        "sys_platform": "linux",
    }
