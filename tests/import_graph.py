"""The import graph of hubgate's own packages: modules per package, cycles, the longest chain.

`python -m tests.import_graph` prints the numbers; tests/test_architecture.py uses the same graph to
enforce the layers and forbid cycles. Every import counts: module level, inside functions and under
TYPE_CHECKING, relative imports resolved.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mirror", "storage", "scanners")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(package: str) -> list[Path]:
    # Alembic's migration scripts are loaded by path, never imported.
    return [path for path in sorted((ROOT / package).rglob("*.py")) if "migrations" not in path.parts]


def imports_of(path: Path) -> set[str]:
    """Every dotted name a file imports from our packages (`from a import b` gives `a.b`, which is either a
    module or a name that graph() resolves to its module `a`)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules it imports (names that are attributes resolve to their module)."""
    modules = {module_name(path): path for package in packages for path in source_files(package)}
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imports_of(path):
            owner = name
            while owner and owner not in modules:
                owner = owner.rpartition(".")[0]
            if owner and owner != module:
                targets.add(owner)
        edges[module] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start, first in edges.items():
        if start in index:
            continue
        work = [(start, iter(sorted(first)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def longest_chain(edges: dict[str, set[str]]) -> int:
    """Modules on the longest import path, each cycle counted as one module."""
    component = {module: module for module in edges}
    for members in cycles(edges):
        for member in members:
            component[member] = members[0]
    condensed: dict[str, set[str]] = {name: set() for name in set(component.values())}
    for module, targets in edges.items():
        condensed[component[module]].update(
            component[t] for t in targets if component[t] != component[module]
        )
    depth: dict[str, int] = {}
    for node in sorted(condensed, key=lambda name: len(condensed[name])):
        _depth(node, condensed, depth)
    return max(depth.values(), default=0)


def chain(edges: dict[str, set[str]]) -> list[str]:
    """One longest path through the acyclic part of the graph (modules inside a cycle are skipped)."""
    in_cycle = {member for members in cycles(edges) for member in members}
    acyclic = {
        m: {t for t in targets if t not in in_cycle} for m, targets in edges.items() if m not in in_cycle
    }
    depth: dict[str, int] = {}
    for node in acyclic:
        _depth(node, acyclic, depth)
    node = max(depth, key=lambda name: depth[name])
    path = [node]
    while acyclic[node]:
        node = max(acyclic[node], key=lambda name: depth[name])
        path.append(node)
    return path


def _depth(node: str, edges: dict[str, set[str]], depth: dict[str, int]) -> int:
    # Iterative post-order, so a deep chain does not hit the recursion limit.
    work = [node]
    while work:
        current = work[-1]
        pending = [child for child in edges[current] if child not in depth]
        if pending:
            work.extend(pending)
            continue
        work.pop()
        depth[current] = 1 + max((depth[child] for child in edges[current]), default=0)
    return depth[node]


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (ROOT / parts[0] / parts[-1]).is_dir() else parts[0]


def main() -> int:
    edges = graph()
    print(f"modules: {len(edges)}")
    for package, count in sorted(Counter(package_of(module) for module in edges).items()):
        print(f"  {package}: {count}")
    found = cycles(edges)
    print(f"cycles (strongly connected components > 1): {len(found)} {[len(c) for c in found]}")
    print(f"longest chain (modules): {longest_chain(edges)}")
    if "--chain" in sys.argv:
        print("  " + " -> ".join(chain(edges)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
