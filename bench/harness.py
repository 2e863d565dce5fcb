"""Start the fake Hub and hubgate as separate processes for benchmarks, and read their memory use."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.e2e.hubgate_server import TEST_REDIRECT_HOSTS_ENV

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Process:
    url: str
    popen: subprocess.Popen[str]

    def peak_rss_mb(self) -> float:
        """VmHWM: the most resident memory the process ever had."""
        status = Path(f"/proc/{self.popen.pid}/status").read_text()
        found = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(found.group(1)) / 1024 if found else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(url: str, popen: subprocess.Popen[str], timeout_s: float = 600) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{popen.args!r} exited with {popen.returncode}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


@contextlib.contextmanager
def fakehub_process(
    *, big_file_size: int, module: str = "tests.fakehub", extra_args: Sequence[str] = ()
) -> Iterator[Process]:
    """`module` is the fake Hub's script (bench.fakehub_extra adds repos); `extra_args` go to it."""
    port = free_port()
    popen = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), "--big-file-size", str(big_file_size),
         "--no-xet-hints", *extra_args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert popen.stdout is not None
        # The first line is printed once the (possibly freshly generated) big file is ready.
        popen.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        _wait_for(url, popen)
        yield Process(url=url, popen=popen)
    finally:
        popen.terminate()
        popen.wait(timeout=30)


@contextlib.contextmanager
def hubgate_process(
    upstream: str,
    data_dir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    source_tree: Path = ROOT,
) -> Iterator[Process]:
    """`extra_env` is added to (and overrides) the environment, e.g. HUBGATE_STORAGE__* for S3;
    `log_path`, when given, receives hubgate's stdout and stderr (otherwise discarded); `source_tree` is
    the checkout whose hubgate runs (another one, e.g. an older commit, to compare in the same run)."""
    port = free_port()
    env = {
        **os.environ,
        "HUBGATE_SERVER__FETCH_WAIT_S": "600",
        "HUBGATE_LOG__LEVEL": "WARNING",
        **TEST_REDIRECT_HOSTS_ENV,
    }
    env.update(extra_env or {})
    with contextlib.ExitStack() as files:
        log = files.enter_context(log_path.open("ab")) if log_path is not None else subprocess.DEVNULL
        popen = subprocess.Popen(
            [sys.executable, "-m", "mirror.cli", "serve", "--port", str(port), "--upstream", upstream,
             "--data-dir", str(data_dir)],
            cwd=source_tree, env=env, stdout=log, stderr=log, text=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(url, popen)
        yield Process(url=url, popen=popen)
    finally:
        popen.terminate()
        _wait_or_kill(popen, 60)


def _wait_or_kill(popen: subprocess.Popen[str], timeout_s: float) -> None:
    """Wait for a terminated process; one that hangs has its threads' stacks dumped (py-spy, when
    installed) to stderr, then is killed, so that a benchmark reports the hang and still finishes."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=timeout_s)
    if popen.returncode is not None:
        return
    print(f"{popen.args!r} did not exit {timeout_s:.0f} s after SIGTERM; killing it", file=sys.stderr)
    spy = shutil.which("py-spy")
    if spy is not None:
        dump = subprocess.run(
            [spy, "dump", "-p", str(popen.pid)], capture_output=True, text=True, check=False
        )
        print(dump.stdout or dump.stderr, file=sys.stderr)
    popen.kill()
    popen.wait(timeout=30)


def olah_executable(explicit: str | None) -> str | None:
    """olah's entry point: `explicit`, else $HUBGATE_BENCH_OLAH, else `olah-cli` on PATH; None if none.

    olah is not one of hubgate's dependencies (its own pins clash with ours): install it apart, e.g.
    `python3 -m venv /tmp/olah && /tmp/olah/bin/pip install olah==0.5.4`, then pass
    `--olah /tmp/olah/bin/olah-cli`.
    """
    found = explicit or os.environ.get("HUBGATE_BENCH_OLAH") or shutil.which("olah-cli")
    return found if found and Path(found).is_file() else None


@contextlib.contextmanager
def olah_process(executable: str, upstream: str, data_dir: Path) -> Iterator[Process]:
    """olah (a plain caching mirror of the Hub, no verification or scanning) in front of `upstream`."""
    port = free_port()
    upstream_netloc = urlsplit(upstream).netloc
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "olah.log").open("ab") as log:
        popen = subprocess.Popen(
            [executable, "--host", "127.0.0.1", "--port", str(port),
             "--hf-scheme", "http", "--hf-netloc", upstream_netloc, "--hf-lfs-netloc", upstream_netloc,
             "--mirror-scheme", "http", "--mirror-netloc", f"127.0.0.1:{port}",
             "--mirror-lfs-netloc", f"127.0.0.1:{port}",
             "--repos-path", str(data_dir / "repos"), "--log-path", str(data_dir / "logs")],
            cwd=data_dir, stdout=log, stderr=log, text=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(url, popen)  # any answer will do: olah has no health endpoint
        yield Process(url=url, popen=popen)
    finally:
        popen.terminate()
        popen.wait(timeout=60)
