"""The container image itself: built from the Dockerfile as shipped (only PYTHON_IMAGE points at a base of
Debian's Python that scripts/image-test.sh makes from Debian's packages), then run as the image says: its
user, ENTRYPOINT, CMD, ENV and WORKDIR, read back from the built image. It must serve a real
`hf_hub_download` from the fake Hub, refuse a malicious pickle, write nothing outside its volumes (/data
and /tmp), hold exactly the locked packages, and carry no pip, wheels or compilers.

Run by scripts/image-test.sh (marker `image`; the main run deselects it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy import dockerfile, image, lock
from tests.deploy.conftest import ImageReport
from tests.deploy.image import Container, Image, Running, Snapshot
from tests.deploy.local import IMAGE_VENV_BIN, Process, get, get_json
from tests.e2e.hubgate_server import TEST_REDIRECT_HOSTS_ENV
from tests.e2e.payloads import marker_pickle, torch_zip
from tests.fakehub import FakeFile, FakeHubServer, FakeRepo, RepoSettings, fakehub_in_thread
from tests.fakehub.fixtures import MODEL_ID, build_demo_hub
from tests.ports import free_port

pytestmark = pytest.mark.image

EVIL = "acme/evil-model"
IMAGE_VENV = IMAGE_VENV_BIN.removesuffix("/bin")
# Where the malicious pickle would create its marker if anything in the container ever unpickled it: the
# scanners' scratch space, writable by hubgate.
MARKER_IN_CONTAINER = "/tmp/payload-ran.marker"
# What the runtime stage may add on top of its base (the venv, mostly); today about 260 MB. A budget, so
# that a heavy new dependency is a decision rather than an accident.
RUNTIME_STAGE_BUDGET = 330 * 1000 * 1000
# `buildah run` bind-mounts /run/.containerenv into every command it runs, creating and removing the
# mount point: the directory's mtime moves, with nothing left in it. Nothing else is exempt.
BUILDAH_TOUCHES = ("/run",)
VOLUMES = ("/data", "/tmp")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


# --- Building ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base() -> str:
    reference = os.environ.get(image.BASE_VARIABLE)
    if not reference:
        pytest.skip(
            "the image is built and checked by scripts/image-test.sh, which makes its base from Debian's "
            f"packages (or set {image.BASE_VARIABLE} to an image of Debian's python3 with pip and venv)"
        )
    for name in ("podman", "buildah"):
        try:
            image.tool(name)
        except LookupError:
            pytest.skip(f"{name} is not installed (scripts/image-test.sh installs it with apt-get)")
    assert image.image_id(reference) is not None, f"the base image {reference} is not in podman's storage"
    return reference


@dataclass(frozen=True)
class Built:
    image: Image
    base: Image
    base_reference: str


@pytest.fixture(scope="module")
def built(base: str, tmp_path_factory: pytest.TempPathFactory, image_report: ImageReport) -> Built:
    scratch = tmp_path_factory.mktemp("image-build")
    access = image.build_access(base, image.host_pip(sys.executable), scratch)
    for note in access.notes:
        image_report.append(f"index access: {note}")
    previous = image.image_id(image.TAG)
    built_id, seconds = image.build(base=base, access=access, log=scratch / "build.log")
    result = image.inspect(built_id)
    if previous is not None and previous != result.id:
        image.remove_image(previous)  # one test image at a time on this machine, not one per run
    base_image = image.inspect(base)
    # Without podman's layer cache each stage is committed as one layer; docker build adds one per RUN or
    # COPY of the runtime stage, on top of its base's.
    final_stage = dockerfile.stages(dockerfile.DOCKERFILE.read_text(encoding="utf-8"))[-1]
    docker_layers = sum(i.keyword in ("RUN", "COPY", "ADD") for i in final_stage.instructions)
    added = result.size - base_image.size
    image_report.append(
        f"built {image.TAG} in {seconds:.1f} s: {_mb(result.size)} in {result.layers} layers (base "
        f"{_mb(base_image.size)} in {base_image.layers}, the runtime stage {_mb(added)} in "
        f"{result.layers - base_image.layers}; docker build makes that {docker_layers} layers)"
    )
    return Built(image=result, base=base_image, base_reference=base)


def test_the_built_image_is_what_the_dockerfile_says(built: Built) -> None:
    # The same reading of the Dockerfile that tests/deploy/test_dockerfile.py runs locally, checked against
    # what the build really produced.
    expected = dockerfile.runtime(built.base.env)
    assert built.image.env == {**built.base.env, **expected.env}
    assert list(built.image.entrypoint) == expected.entrypoint
    assert list(built.image.cmd) == expected.cmd
    assert built.image.user == expected.user
    assert built.image.workdir == expected.workdir
    assert list(built.image.healthcheck) == ["CMD", *expected.healthcheck]
    for name in ("title", "description", "version", "revision", "licenses", "base.name"):
        assert built.image.labels.get(f"org.opencontainers.image.{name}"), f"label {name} is empty"
    assert built.image.labels["org.opencontainers.image.base.name"] == built.base_reference
    assert built.image.labels["org.opencontainers.image.version"] == lock.project()["version"]


def _du_kib(*paths: Path) -> list[tuple[int, str]]:
    """`du -sk` of each path: (KiB, name), largest first."""
    printed = subprocess.run(
        ["du", "-sk", *map(str, paths)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    found = [
        (int(size), Path(path).name) for size, path in (line.split("\t", 1) for line in printed.splitlines())
    ]
    return sorted(found, reverse=True)


def test_the_runtime_stage_stays_lean(built: Built, image_report: ImageReport) -> None:
    with image.working_container(built.image.id) as container:
        (site_packages,) = container.mount().glob("opt/hubgate/lib/python3*/site-packages")
        largest = _du_kib(*sorted(site_packages.iterdir()))
        ((venv_kib, _),) = _du_kib(container.mount() / "opt/hubgate")
        bytecode = sum(
            path.stat().st_size for path in site_packages.rglob("*.pyc") if path.parent.name == "__pycache__"
        )
    image_report.append(
        f"/opt/hubgate (du): {venv_kib / 1000:.1f} MB, of which compiled bytecode {_mb(bytecode)}; "
        "largest in site-packages (MB):"
    )
    image_report.append("  " + ", ".join(f"{name} {size / 1000:.1f}" for size, name in largest[:12]))
    added = built.image.size - built.base.size
    assert added <= RUNTIME_STAGE_BUDGET, (
        f"the runtime stage adds {_mb(added)} to its base, over the budget of {_mb(RUNTIME_STAGE_BUDGET)}"
    )


# --- What is in the image ------------------------------------------------------------------------------

# Printed by the image's own Python: the marker environment (as packaging.markers.default_environment
# computes it: no packaging in the image to import) and every distribution in the venv with its
# requirements.
_INVENTORY = """
import importlib.metadata as m, json, os, platform, sys
v = sys.implementation.version
iver = f"{v.major}.{v.minor}.{v.micro}"
if v.releaselevel != "final":
    iver += v.releaselevel[0] + str(v.serial)
environment = {
    "implementation_name": sys.implementation.name, "implementation_version": iver, "os_name": os.name,
    "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
}
distributions = {
    d.metadata["Name"]: {"version": d.version, "requires": d.requires or []} for d in m.distributions()
}
import importlib.util
tooling = {name: importlib.util.find_spec(name) is not None for name in ("pip", "setuptools", "wheel")}
print(json.dumps({"environment": environment, "distributions": distributions, "tooling": tooling,
                  "executable": sys.executable, "prefix": sys.prefix}))
"""


@pytest.fixture(scope="module")
def inventory(built: Built) -> dict[str, Any]:
    with image.working_container(built.image.id) as container:
        printed = container.run(
            ["python", "-c", _INVENTORY], user=built.image.user, workdir=built.image.workdir
        ).stdout
    found: dict[str, Any] = json.loads(printed)
    return found


def test_the_venv_holds_exactly_the_locked_packages(inventory: dict[str, Any]) -> None:
    assert inventory["prefix"] == IMAGE_VENV, "`python` on the image's PATH is not hubgate's venv"
    installed = {
        str(canonicalize_name(name)): info["version"] for name, info in inventory["distributions"].items()
    }
    pins = lock.applicable(lock.read_lock(), inventory["environment"])
    expected = {name: pin.version for name, pin in pins.items()}
    expected["hubgate"] = str(lock.project()["version"])
    missing = sorted(f"{name}=={version}" for name, version in expected.items() if name not in installed)
    extra = sorted(f"{name}=={version}" for name, version in installed.items() if name not in expected)
    other = sorted(
        f"{name}: {installed[name]} installed, {version} locked"
        for name, version in expected.items()
        if name in installed and installed[name] != version
    )
    assert (missing, extra, other) == ([], [], []), f"missing {missing}, not locked {extra}, versions {other}"


def test_every_installed_requirement_is_satisfied(inventory: dict[str, Any]) -> None:
    # `pip check` without pip: each distribution's requirements (for the extras anything asked of it:
    # hubgate[sigstore], sqlalchemy[asyncio], ...) are installed at versions they accept.
    environment: dict[str, str] = inventory["environment"]
    distributions = {str(canonicalize_name(name)): info for name, info in inventory["distributions"].items()}
    extras: dict[str, set[str]] = {"hubgate": set(lock.LOCKED_EXTRAS)}
    problems: list[str] = []
    pending = list(distributions)
    checked: set[tuple[str, str]] = set()
    while pending:
        name = pending.pop()
        for extra in ["", *sorted(extras.get(name, set()))]:
            if (name, extra) in checked:
                continue
            checked.add((name, extra))
            for text in distributions[name]["requires"]:
                requirement = Requirement(text)
                if requirement.marker is not None and not requirement.marker.evaluate(
                    {**environment, "extra": extra}
                ):
                    continue
                wanted = str(canonicalize_name(requirement.name))
                if wanted not in distributions:
                    problems.append(f"{name}[{extra}] needs {requirement}: not installed")
                    continue
                version = distributions[wanted]["version"]
                if not requirement.specifier.contains(version, prereleases=True):
                    problems.append(f"{name}[{extra}] needs {requirement}: {version} installed")
                if requirement.extras - extras.get(wanted, set()):
                    extras.setdefault(wanted, set()).update(requirement.extras)
                    pending.append(wanted)
    assert problems == []


# useradd's user database (and its backups); /etc/hosts, which buildah writes into an image it builds.
_RUNTIME_STAGE_ETC = (
    *(f"/etc/{name}{suffix}" for name in ("passwd", "group", "shadow", "gshadow") for suffix in ("", "-")),
    "/etc/hosts",
)
_COMPILER = re.compile(r"(gcc|g\+\+|cc|c\+\+|clang|make|ld|as|cpp)(-[\d.]+)?")


def test_no_pip_wheels_or_build_tools_in_the_runtime_stage(built: Built, inventory: dict[str, Any]) -> None:
    # The venv cannot install anything: no pip, setuptools or wheel importable by its Python.
    assert inventory["tooling"] == {"pip": False, "setuptools": False, "wheel": False}
    with (
        image.working_container(built.base_reference) as base_container,
        image.working_container(built.image.id) as image_container,
    ):
        base_files = image.snapshot(base_container.mount())
        image_files = image.snapshot(image_container.mount())
    added = image.added_or_changed(base_files, image_files)
    leftovers = sorted(path for path in added if runtime_leftover(path))
    assert leftovers == [], f"the runtime stage left build material behind: {leftovers[:20]}"
    # No compiler anywhere in the image, base included: the runtime never builds anything.
    compilers = sorted(
        path
        for path, state in image_files.entries.items()
        if state.kind in ("file", "symlink")
        and path.rsplit("/", 1)[0] in ("/usr/bin", "/usr/local/bin", "/bin", f"{IMAGE_VENV}/bin")
        and _COMPILER.fullmatch(path.rsplit("/", 1)[1])
    )
    assert compilers == []
    # What the runtime stage adds is the venv, the user's entries in /etc and /data; nothing else.
    unexpected = sorted(
        path
        for path in added
        if not (path.startswith(f"{IMAGE_VENV}/") or path in (IMAGE_VENV, "/data", *_RUNTIME_STAGE_ETC))
    )
    assert unexpected == []


def runtime_leftover(path: str) -> bool:
    """Build material that must not reach the runtime stage: wheel files, the build's sources and pip's
    cache, pip, setuptools or wheel installed anywhere it added. (Packages' own data archives, such as
    dateutil's zoneinfo tarball, are no build material.)"""
    name = path.rsplit("/", 1)[-1]
    parts = path.split("/")
    return (
        name.endswith(".whl")
        or path.startswith(("/src/", "/wheels/", "/root/.cache/"))
        or path in ("/src", "/wheels")
        or any(part in ("pip", "setuptools", "wheel", "_distutils_hack") for part in parts)
        or re.match(r"(pip|setuptools|wheel)-[\d.]+\.dist-info$", name) is not None
    )


def test_the_leftover_check_knows_build_material() -> None:
    # The check above can fail: what a careless runtime stage would leave is recognised.
    for path in (
        "/wheels/aiohttp-3.14.5-cp312-cp312-manylinux_2_17_x86_64.whl",
        "/opt/hubgate/lib/python3.12/site-packages/pip/__init__.py",
        "/opt/hubgate/lib/python3.12/site-packages/setuptools-80.0.dist-info",
        "/root/.cache/pip/http/abc",
        "/src/pyproject.toml",
    ):
        assert runtime_leftover(path), path
    for path in ("/opt/hubgate/lib/python3.12/site-packages/aiohttp/web.py", "/opt/hubgate/bin/hubgate"):
        assert not runtime_leftover(path), path


# --- Running -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeHubServer]:
    """The fake Hub with the usual fixture repos and one carrying a malicious pickle."""
    hub = build_demo_hub(xet_hints=True)
    evil = torch_zip(marker_pickle(Path(MARKER_IN_CONTAINER)))
    hub.add(
        FakeRepo(
            EVIL,
            [FakeFile.text("config.json", "{}"), FakeFile.from_bytes("pytorch_model.bin", evil)],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    with fakehub_in_thread(hub) as server:
        yield server


@dataclass
class Served:
    container: Container
    running: Running
    port: int
    user: str
    workdir: str
    env: dict[str, str]  # what the test sets on top of the image's ENV
    volumes: dict[str, Path]  # container path -> host directory
    before: Snapshot

    def run(self, argv: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        """Another command in the serving container, as the image's user with the same settings."""
        return self.container.run(
            argv, user=self.user, workdir=self.workdir, env=self.env, volumes=self.mounts, **options
        )

    @property
    def mounts(self) -> list[str]:
        return [f"{local}:{path}" for path, local in self.volumes.items()]


@pytest.fixture(scope="module")
def served(
    built: Built, upstream: FakeHubServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`hubgate serve` in a container of the image: its ENTRYPOINT + CMD as its USER in its WORKDIR with
    its ENV, /data and /tmp as volumes (host directories owned by that user, as a pod's volumes would be)."""
    root = tmp_path_factory.mktemp("container")
    uid, _, gid = built.image.user.partition(":")
    volumes = {path: root / path.strip("/") for path in VOLUMES}
    for local in volumes.values():
        local.mkdir()
        os.chown(local, int(uid), int(gid or uid))
    volumes["/tmp"].chmod(0o1777)  # as a tmpfs or emptyDir /tmp is
    port = free_port()
    env = {
        # Chroot isolation shares this machine's network: the image's 0.0.0.0 would open the test server
        # on every interface. Loopback and a free port instead (the health check reads the same variable).
        "HUBGATE_SERVER__HOST": "127.0.0.1",
        "HUBGATE_SERVER__PORT": str(port),
        "HUBGATE_UPSTREAM__ENDPOINT": upstream.url,
        **TEST_REDIRECT_HOSTS_ENV,  # the fake Hub's CDN host, as the real Hub's are allowed by default
        # A cold file is answered once verified and scanned, however slow this shared machine is today.
        "HUBGATE_SERVER__FETCH_WAIT_S": "120",
    }
    with image.working_container(built.image.id) as container:
        before = image.snapshot(container.mount())
        mounts = [f"{local}:{path}" for path, local in volumes.items()]
        with image.started(
            container,
            built.image.command,
            log=root / "serve.log",
            user=built.image.user,
            workdir=built.image.workdir,
            env=env,
            volumes=mounts,
        ) as running:
            Process(process=running.process, log=running.log).wait_until(port, "/healthz", timeout_s=120)
            yield Served(
                container=container,
                running=running,
                port=port,
                user=built.image.user,
                workdir=built.image.workdir,
                env=env,
                volumes=volumes,
                before=before,
            )


def test_hubgate_runs_as_the_images_user_with_its_environment(served: Served, built: Built) -> None:
    status = Path(f"/proc/{served.running.main_pid()}/status").read_text()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.MULTILINE)
    gids = re.search(r"^Gid:\s+(.*)$", status, re.MULTILINE)
    assert uids is not None
    assert gids is not None
    uid, _, gid = built.image.user.partition(":")
    assert set(uids.group(1).split()) == {uid}, "hubgate does not run as the image's user"
    assert set(gids.group(1).split()) == {gid}
    environ = (Path(f"/proc/{served.running.main_pid()}/environ")).read_bytes().split(b"\0")
    seen = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    for name, value in {**built.image.env, **served.env}.items():
        assert seen.get(name) == value, f"{name} in the container: {seen.get(name)!r}, expected {value!r}"
    # Its working directory is the image's WORKDIR (here the /data volume), compared by inode: seen from
    # outside the chroot, the path is the host's.
    workdir = served.volumes.get(
        built.image.workdir
    ) or served.container.mount() / built.image.workdir.lstrip("/")
    cwd = os.stat(f"/proc/{served.running.main_pid()}/cwd")
    assert (cwd.st_dev, cwd.st_ino) == (workdir.stat().st_dev, workdir.stat().st_ino)


def test_healthz_readyz_and_the_images_own_health_check(served: Served, built: Built) -> None:
    assert get(served.port, "/healthz")[0] == 200
    status, body = get_json(served.port, "/readyz")
    assert (status, body["ready"]) == (200, True), body
    kind, *argv = built.image.healthcheck
    assert kind == "CMD"
    assert served.run(argv, check=False).returncode == 0, served.running.tail()


def _client(served: Served, home: Path, repo: str, filename: str) -> dict[str, Any]:
    """The real huggingface_hub of the test venv, on this host, with HF_ENDPOINT at the container."""
    script = (
        "import json, sys\n"
        "from huggingface_hub import hf_hub_download\n"
        "from huggingface_hub.errors import GatedRepoError\n"
        "try:\n"
        "    path = hf_hub_download(sys.argv[1], sys.argv[2])\n"
        "except GatedRepoError as exc:\n"
        "    r = exc.response\n"
        "    code = r.headers.get('X-Error-Code')\n"
        "    print(json.dumps({'status': r.status_code, 'code': code, 'message': str(exc)}))\n"
        "else:\n"
        "    print(json.dumps({'path': path}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        {
            "HF_ENDPOINT": f"http://127.0.0.1:{served.port}",
            "HF_HOME": str(home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", script, repo, filename],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr[-3000:]}\nhubgate:\n{served.running.tail()}"
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_hf_hub_download_through_the_container(
    served: Served, upstream: FakeHubServer, tmp_path: Path
) -> None:
    files = upstream.hub.repo(MODEL_ID).head.files
    for filename in ("config.json", "model.safetensors"):
        got = _client(served, tmp_path / "hf", MODEL_ID, filename)
        assert "path" in got, got
        data = Path(got["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == files[filename].sha256, filename
    # Stored on the data volume, in the embedded database and the disk store.
    assert (served.volumes["/data"] / "hubgate.db").is_file()
    assert any((served.volumes["/data"] / "objects").rglob("*"))


def test_a_malicious_pickle_is_refused_and_never_runs(served: Served, tmp_path: Path) -> None:
    got = _client(served, tmp_path / "hf", EVIL, "pytorch_model.bin")
    assert (got.get("status"), got.get("code")) == (403, "GatedRepo"), got
    assert "quarantined" in got["message"]
    assert not (served.volumes["/tmp"] / Path(MARKER_IN_CONTAINER).name).exists(), "the payload ran"
    assert not list(served.volumes["/data"].rglob(Path(MARKER_IN_CONTAINER).name)), "the payload ran"


def test_the_filesystem_check_sees_writes_outside_the_volumes(built: Built) -> None:
    """The check of the last test can fail: writes from inside a container, a file added by the image's
    user where it may write (/var/tmp is world-writable), and by root one added at / and one rewritten
    in place (same size, mtime put back), are each reported; /run's mtime alone is not."""
    rewrite = (
        "import os; p = '/opt/hubgate/pyvenv.cfg'; s = os.stat(p); b = open(p, 'rb').read();"
        "open(p, 'wb').write(b.swapcase()); os.utime(p, ns=(s.st_atime_ns, s.st_mtime_ns));"
        "open('/escaped-root', 'w').write('x')"
    )
    with image.working_container(built.image.id) as container:
        before = image.snapshot(container.mount())
        container.run(["python", "-c", "open('/var/tmp/escaped', 'w').write('x')"], user=built.image.user)
        container.run(["python", "-c", rewrite], user="0:0")
        after = image.snapshot(container.mount())
    assert image.differences(before, after, directory_mtime_ignored=BUILDAH_TOUCHES) == [
        "changed / (mtime_ns)",
        "added /escaped-root",
        "changed /opt/hubgate/pyvenv.cfg (content)",
        "changed /var/tmp (mtime_ns)",
        "added /var/tmp/escaped",
    ]


def test_hubgate_stops_on_sigterm_and_wrote_only_to_its_volumes(served: Served, built: Built) -> None:
    # Last in this module: it stops the server the tests above share.
    assert served.running.terminate() == 0, served.running.tail()
    _, *argv = built.image.healthcheck
    assert served.run(argv, check=False).returncode != 0, "the health check passes with no server"
    after = image.snapshot(served.container.mount())
    written = image.differences(served.before, after, directory_mtime_ignored=BUILDAH_TOUCHES)
    assert written == [], "hubgate changed the root filesystem outside /data and /tmp:\n" + "\n".join(
        written[:40]
    )
