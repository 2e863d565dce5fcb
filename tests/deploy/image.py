"""Build the Dockerfile and run the image without a Docker daemon: podman builds it (buildah's engine, in
chroot isolation), buildah runs commands in a container of it, and `buildah mount` shows its root
filesystem to the test.

A container here shares the host's network and PID namespaces (chroot isolation makes none of its own,
which is also why it needs no cgroup or rlimit changes): its servers are reached on 127.0.0.1 and its
processes are visible, and signalled, as host processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# scripts/image-test.sh makes the base (Debian's Python from Debian's packages) and names it here.
BASE_VARIABLE = "HUBGATE_IMAGE_BASE"
TAG = "localhost/hubgate-image-test:latest"
DEFAULT_INDEX = "https://pypi.org/simple"
# Where Debian's pip (the test base's) reads its CA bundle and its site-wide configuration.
BASE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BASE_PIP_CONF = "/etc/pip.conf"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise LookupError(name)
    return found


def run_tool(argv: Sequence[str], *, timeout_s: float = 120.0) -> str:
    """Run podman/buildah; fail with what it printed."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    assert result.returncode == 0, f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout


# --- How the build reaches the package index ----------------------------------------------------------


@dataclass(frozen=True)
class HostPip:
    """What the host's pip is configured with, as far as a build inside a container can use it."""

    index_url: str
    extra_index_urls: tuple[str, ...]
    trusted_hosts: tuple[str, ...]
    ca_bundle: Path

    def pip_conf(self) -> str | None:
        """A pip.conf for the build, or None when the container's default (PyPI) is what the host uses."""
        if self.index_url == DEFAULT_INDEX and not self.extra_index_urls and not self.trusted_hosts:
            return None
        lines = ["[global]", f"index-url = {self.index_url}"]
        if self.extra_index_urls:
            lines.append("extra-index-url = " + " ".join(self.extra_index_urls))
        if self.trusted_hosts:
            lines.append("trusted-host = " + " ".join(self.trusted_hosts))
        return "\n".join(lines) + "\n"


def host_pip(python: str) -> HostPip:
    """The host pip's index, extra indexes, trusted hosts and CA bundle (`pip config list`: its files and
    PIP_* variables, later sources winning). Local indexes (file://, plain directories) are dropped: a
    build cannot see the host's disk, and they only mirror what the index serves."""
    listed = subprocess.run(
        [python, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    values: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        # `global.index-url='...'`, `install.cert='...'`, `:env:.extra-index-url='...'`
        values[key.rsplit(".", 1)[-1]] = value.strip().strip("'\"")

    def remote(urls: str) -> tuple[str, ...]:
        return tuple(url for url in urls.split() if url.startswith(("http://", "https://")))

    index = remote(values.get("index-url", ""))
    bundle = values.get("cert") or os.environ.get("SSL_CERT_FILE") or BASE_CA_BUNDLE
    return HostPip(
        index_url=index[0] if index else DEFAULT_INDEX,
        extra_index_urls=remote(values.get("extra-index-url", "")),
        trusted_hosts=tuple(values.get("trusted-host", "").split()),
        ca_bundle=Path(bundle),
    )


@dataclass(frozen=True)
class BuildAccess:
    volumes: tuple[str, ...]  # `--volume` arguments for the build's RUN steps
    notes: tuple[str, ...]  # what was found, for the report


def build_access(base: str, pip: HostPip, scratch: Path) -> BuildAccess:
    """The mounts the build's `pip install` needs to reach the index from `base`, found by trying: pip in
    the base asks the index without help first, then with the host's CA bundle (a TLS-intercepting proxy
    whose CA only the host trusts). A pip.conf is mounted only when the host uses another index."""
    volumes: list[str] = []
    notes: list[str] = []
    conf = pip.pip_conf()
    if conf is not None:
        path = scratch / "pip.conf"
        path.write_text(conf, encoding="utf-8")
        volumes.append(f"{path}:{BASE_PIP_CONF}:ro")
        notes.append(f"host pip uses index {pip.index_url}: the build gets it as {BASE_PIP_CONF}")
    with working_container(base) as container:
        plain = container.run(_pip_probe(), volumes=volumes, env=_proxies(), check=False, timeout_s=120)
        if plain.returncode == 0:
            notes.append(f"the base reaches {pip.index_url} by itself")
            return BuildAccess(tuple(volumes), tuple(notes))
        with_ca = [*volumes, f"{pip.ca_bundle}:{BASE_CA_BUNDLE}:ro"]
        helped = container.run(_pip_probe(), volumes=with_ca, env=_proxies(), check=False, timeout_s=120)
    assert helped.returncode == 0, (
        f"pip in the base cannot reach {pip.index_url}, with or without the host's CA bundle "
        f"{pip.ca_bundle}:\n{plain.stderr[-1500:]}\n{helped.stderr[-1500:]}"
    )
    notes.append(
        f"the base does not trust the TLS of {pip.index_url} but the host's CA bundle {pip.ca_bundle} "
        "does: it is mounted read-only for the build"
    )
    return BuildAccess(tuple(with_ca), tuple(notes))


def _pip_probe() -> list[str]:
    # The same pip and TLS settings the build's `pip install` uses, asking the index for one project.
    return ["python3", "-m", "pip", "index", "versions", "pip", "--retries", "0", "--timeout", "30"]


def _proxies() -> dict[str, str]:
    # podman build passes these on to RUN steps by itself; a buildah run needs them spelled out.
    return {name: os.environ[name] for name in PROXY_VARIABLES if name in os.environ}


# --- The image -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    id: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: dict[str, str]
    user: str
    workdir: str
    labels: dict[str, str]
    healthcheck: tuple[str, ...]  # Docker's form: ("CMD", argv...) or ("CMD-SHELL", text)
    layers: int
    size: int  # bytes, all layers

    @property
    def command(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]


def inspect(reference: str) -> Image:
    found = json.loads(run_tool([tool("buildah"), "inspect", "--type", "image", reference]))
    config: dict[str, Any] = found["OCIv1"]["config"]
    # The health check is Docker-format only (OCI images have none); the build keeps that format.
    docker_config: dict[str, Any] = found["Docker"].get("config") or {}
    healthcheck = (docker_config.get("Healthcheck") or {}).get("Test") or []
    (podman,) = json.loads(run_tool([tool("podman"), "image", "inspect", reference]))
    return Image(
        id=podman["Id"],
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        env=dict(item.split("=", 1) for item in config.get("Env") or ()),
        user=config.get("User") or "",
        workdir=config.get("WorkingDir") or "/",
        labels=dict(config.get("Labels") or {}),
        healthcheck=tuple(healthcheck),
        layers=len(found["OCIv1"]["rootfs"]["diff_ids"]),
        size=int(podman["Size"]),
    )


def image_id(reference: str) -> str | None:
    result = subprocess.run(
        [tool("podman"), "image", "inspect", "--format", "{{.Id}}", reference],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def build(*, base: str, access: BuildAccess, log: Path, tag: str = TAG) -> tuple[str, float]:
    """Build ROOT's Dockerfile as shipped, only PYTHON_IMAGE pointing at `base`: the image's ID (use it,
    not the tag, which another checkout on this machine may move meanwhile) and the seconds it took.

    Docker format keeps the HEALTHCHECK (OCI images have no such field). No layer cache: it would keep
    every step's image of every build on this machine (hundreds of MB each time the lock or the base
    changes) with no way to tell them from other people's; a build from scratch takes well under a minute.
    """
    id_file = log.with_suffix(".id")
    argv = [
        tool("podman"),
        "build",
        "--isolation",
        "chroot",
        "--pull=never",
        "--format",
        "docker",
        "--layers=false",
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        *(f"--volume={volume}" for volume in access.volumes),
        "--iidfile",
        str(id_file),
        "--tag",
        tag,
        str(ROOT),
    ]
    started = time.monotonic()
    with log.open("wb") as sink:
        result = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, timeout=900, check=False)
    took = time.monotonic() - started
    tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-60:])
    assert result.returncode == 0, f"podman build failed ({' '.join(argv)}):\n{tail}"
    return id_file.read_text(encoding="utf-8").strip().removeprefix("sha256:"), took


def remove_image(reference: str) -> None:
    """Untag and remove an image we built, leaving it if something still uses it."""
    subprocess.run([tool("podman"), "rmi", reference], capture_output=True, timeout=120, check=False)


# --- Containers ----------------------------------------------------------------------------------------


@dataclass
class Container:
    name: str
    _mount: Path | None = None

    def mount(self) -> Path:
        """The container's root filesystem as the host sees it (an overlay: image layers + its own)."""
        if self._mount is None:
            self._mount = Path(run_tool([tool("buildah"), "mount", self.name]).strip())
        return self._mount

    def run_argv(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        volumes: Sequence[str] = (),
    ) -> list[str]:
        """`buildah run`: the container's own config (ENV, WORKDIR) applies; `env` adds to it."""
        options = ["--isolation", "chroot"]
        if user is not None:
            options += ["--user", user]
        if workdir is not None:
            options += ["--workingdir", workdir]
        for name, value in (env or {}).items():
            options += ["--env", f"{name}={value}"]
        for volume in volumes:
            options += ["--volume", volume]
        return [tool("buildah"), "run", *options, self.name, "--", *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        volumes: Sequence[str] = (),
        timeout_s: float = 120.0,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.run_argv(argv, user=user, workdir=workdir, env=env, volumes=volumes),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, (
                f"{argv} in the container exited {result.returncode}:\n{result.stdout[-2000:]}\n"
                f"{result.stderr[-3000:]}"
            )
        return result


@contextlib.contextmanager
def working_container(image: str) -> Iterator[Container]:
    name = run_tool([tool("buildah"), "from", "--pull=never", image]).strip()
    try:
        yield Container(name)
    finally:
        # Unmounts too. Only this container: other people's containers on the machine are left alone.
        subprocess.run([tool("buildah"), "rm", name], capture_output=True, timeout=120, check=False)


@dataclass
class Running:
    """A long-running `buildah run`: the host process of buildah, and the container's own process."""

    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 80) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def main_pid(self, *, timeout_s: float = 30.0) -> int:
        """The PID of the command the container runs (PID 1 in a container of its own): the child of
        buildah's `buildah-chroot-exec`, below `buildah run`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            children = _children()
            for pid in _descendants(self.process.pid, children):
                if _argv0(pid) == "buildah-chroot-exec":
                    found = children.get(pid, [])
                    if len(found) == 1:
                        return found[0]
            exited = self.process.poll()
            assert exited is None, f"buildah run exited {exited}:\n{self.tail()}"
            time.sleep(0.1)
        raise AssertionError(f"no container process below buildah run {self.process.pid}")

    def terminate(self, *, timeout_s: float = 60.0) -> int:
        """SIGTERM to the container's process, as a kubelet or `docker stop` sends it, and buildah's exit
        code (the container process's). (SIGTERM to `buildah run` itself would SIGKILL the process.)"""
        if self.process.poll() is None:
            os.kill(self.main_pid(), signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"did not stop within {timeout_s} s of SIGTERM:\n{self.tail()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            for pid in reversed(_descendants(self.process.pid, _children())):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
        self.process.wait(timeout=60)


@contextlib.contextmanager
def started(container: Container, argv: list[str], *, log: Path, **options: Any) -> Iterator[Running]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            container.run_argv(argv, **options),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Running(process=process, log=log)
    try:
        yield running
    finally:
        running.kill()


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent PID is the 2nd field after the parenthesised command name (which may hold spaces).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _descendants(pid: int, children: Mapping[int, list[int]]) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _argv0(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return ""


# --- Root filesystem snapshots -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    kind: str  # "file", "dir", "symlink", "other"
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    content: str = ""  # sha256 of a file, target of a symlink


_ATTRIBUTES = tuple(FileState.__dataclass_fields__)


@dataclass(frozen=True)
class Snapshot:
    root: Path
    entries: dict[str, FileState] = field(default_factory=dict)


def snapshot(root: Path, *, skip: Sequence[str] = ("/proc", "/sys", "/dev")) -> Snapshot:
    """Every path under `root` (as "/a/b") with type, mode, owner, size, mtime and a sha256 of its bytes:
    a write that keeps size and mtime still shows. The kernel's pseudo-filesystems' mount points are
    listed, not entered."""
    entries: dict[str, FileState] = {"/": _state(root)}
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        prefix = "" if here == root else "/" + here.relative_to(root).as_posix()
        for name in [*dirnames, *filenames]:
            entries[f"{prefix}/{name}"] = _state(here / name)
        dirnames[:] = [name for name in dirnames if f"{prefix}/{name}" not in skip]
    return Snapshot(root=root, entries=entries)


def _state(path: Path) -> FileState:
    info = path.lstat()
    kind, content, size = "other", "", info.st_size
    if stat.S_ISREG(info.st_mode):
        kind, content = "file", _sha256(path)
    elif stat.S_ISLNK(info.st_mode):
        kind, content = "symlink", os.readlink(path)
    elif stat.S_ISDIR(info.st_mode):
        # A directory's size is its listing's allocation: the entries below it say what changed.
        kind, size = "dir", 0
    return FileState(
        kind=kind,
        mode=stat.S_IMODE(info.st_mode),
        uid=info.st_uid,
        gid=info.st_gid,
        size=size,
        mtime_ns=info.st_mtime_ns,
        content=content,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def differences(
    before: Snapshot, after: Snapshot, *, directory_mtime_ignored: Sequence[str] = ()
) -> list[str]:
    """What changed, one line per path: added, removed, or which of its attributes changed."""
    found: list[str] = []
    for path in sorted(before.entries.keys() | after.entries.keys()):
        old, new = before.entries.get(path), after.entries.get(path)
        if old == new:
            continue
        if old is None:
            found.append(f"added {path}")
        elif new is None:
            found.append(f"removed {path}")
        else:
            changed = [name for name in _ATTRIBUTES if getattr(old, name) != getattr(new, name)]
            if changed == ["mtime_ns"] and new.kind == "dir" and path in directory_mtime_ignored:
                continue
            found.append(f"changed {path} ({', '.join(changed)})")
    return found


def added_or_changed(base: Snapshot, image: Snapshot) -> dict[str, FileState]:
    """What an image has on top of its base: paths that are new or whose content, type or mode differ."""
    found: dict[str, FileState] = {}
    for path, state in image.entries.items():
        old = base.entries.get(path)
        if old is None or (old.kind, old.content, old.mode, old.uid, old.gid) != (
            state.kind,
            state.content,
            state.mode,
            state.uid,
            state.gid,
        ):
            found[path] = state
    return found
