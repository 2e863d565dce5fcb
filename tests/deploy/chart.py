"""Render the Helm chart with Helm's own engine (helm-python-sdk, no helm binary) and read the output.

`render()` returns the manifests the way `helm template` prints them: every template's documents, trimmed,
each after a `# Source:` line, so the same text goes to yamllint and kubernetes-validate.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "hubgate"
RELEASE = "hubgate"
NAMESPACE = "ml-platform"

# The values sets the suite renders: production defaults plus only what they require, the development
# values, and a full production installation.
MINIMAL = CHART / "ci" / "minimal-values.yaml"
DEV = CHART / "values-dev.yaml"
PRODUCTION = CHART / "ci" / "production-values.yaml"
VALUES_SETS = {"minimal": MINIMAL, "dev": DEV, "production": PRODUCTION}

_DOCUMENT_SPLIT = re.compile(r"(?:^|\n)---[ \t]*(?:\n|$)")

Manifest = dict[str, Any]


def load_values(*paths: Path) -> dict[str, Any]:
    """Values files merged as `helm -f a -f b` does (later files win, maps merge key by key)."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = merge(merged, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Rendered:
    text: str  # the `helm template` stream
    manifests: tuple[Manifest, ...]
    notes: str

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Manifest:
        found = [m for m in self.of_kind(kind) if name is None or m["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def pod_specs(self) -> Iterator[tuple[Manifest, dict[str, Any]]]:
        """Every workload with its pod spec (Deployments and Jobs)."""
        for manifest in self.manifests:
            if manifest["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
                yield manifest, manifest["spec"]["template"]["spec"]


def render(values: Mapping[str, Any], *, upgrade: bool = False) -> Rendered:
    """Render the chart as release `hubgate` in `ml-platform`. Raises helm.HelmError on bad values."""
    with helm.Chart.load(CHART) as chart:
        outputs = chart.render(
            dict(values), name=RELEASE, namespace=NAMESPACE, is_install=not upgrade, is_upgrade=upgrade
        )
    parts: list[str] = []
    manifests: list[Manifest] = []
    notes = ""
    for source in sorted(outputs):
        if source.endswith("NOTES.txt"):
            notes = outputs[source]
            continue
        for part in _DOCUMENT_SPLIT.split(outputs[source]):
            document = part.strip()
            if not document or all(line.lstrip().startswith("#") for line in document.splitlines()):
                continue
            parts.append(f"---\n# Source: {source}\n{document}\n")
            manifests.append(yaml.safe_load(document))
    return Rendered(text="".join(parts), manifests=tuple(manifests), notes=notes)


def render_set(name: str, **overrides: Any) -> Rendered:
    """One of VALUES_SETS, with `overrides` merged on top."""
    return render(merge(load_values(VALUES_SETS[name]), overrides))


def lint(values: Mapping[str, Any], *, kube_version: str) -> dict[str, Any]:
    return helm.lint(CHART, dict(values), strict=True, namespace=NAMESPACE, kube_version=kube_version)


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env entries by name."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def hook_weight(manifest: Manifest) -> int:
    return int(manifest["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "0"))


def hooks(manifest: Manifest) -> set[str]:
    value = manifest["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    return {part.strip() for part in value.split(",") if part.strip()}
