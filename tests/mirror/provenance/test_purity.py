"""mirror.provenance stays a pure library: no server parts of mirror, no network or database modules, and
sigstore only imported lazily (inside functions) so that hubgate runs without the optional extra."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "mirror" / "provenance"
THIRD_PARTY = {"cryptography", "pydantic"}
LAZY_ONLY = {"sigstore"}
FORBIDDEN_STDLIB = {"socket", "ssl", "http", "urllib", "asyncio", "sqlite3", "subprocess"}


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module, at module level) for every absolute import."""
    top_level = {id(node) for node in getattr(tree, "body", [])}
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, id(node) in top_level))
    return found


def test_provenance_imports_only_what_a_pure_library_may() -> None:
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, top in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            root = module.split(".")[0]
            if root == "mirror":
                ok = module == "mirror.provenance" or module.startswith("mirror.provenance.")
            elif root in LAZY_ONLY:
                ok = not top
            elif root in sys.stdlib_module_names:
                ok = root not in FORBIDDEN_STDLIB
            else:
                ok = root in THIRD_PARTY
            if not ok:
                offenders.append(f"{path.name}: {module}")
    assert offenders == []
