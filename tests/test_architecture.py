"""The import direction holds (mirror -> scanners, storage; never the reverse) and our packages are ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mirror
import scanners
import storage

ROOT = Path(__file__).resolve().parents[1]


def _imported_top_levels(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("scanners", {"mirror", "storage"}), ("storage", {"mirror"})],
)
def test_lower_layers_never_import_upper_layers(package: str, forbidden: set[str]) -> None:
    offenders = {
        path: sorted(names & forbidden)
        for path, names in _imported_top_levels(package).items()
        if names & forbidden
    }
    assert offenders == {}


def test_scanners_use_no_network_libraries() -> None:
    network = {"aiohttp", "requests", "httpx", "urllib3", "socket", "boto3", "huggingface_hub"}
    offenders = {
        path: sorted(names & network)
        for path, names in _imported_top_levels("scanners").items()
        if names & network
    }
    assert offenders == {}


@pytest.mark.parametrize("module", [mirror, scanners, storage])
def test_imported_packages_are_ours(module: object) -> None:
    # `mirror` and `storage` are also names of unrelated PyPI packages.
    origin = Path(getattr(module, "__file__", "") or "").resolve()
    assert origin.is_relative_to(ROOT), f"{module} was imported from {origin}"
