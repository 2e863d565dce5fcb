"""Run what a container would run, on this machine: the image's or the pod's command and environment,
with the container's paths mapped into a temporary directory and the local virtualenv standing in for
the image's /opt/hubgate."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sysconfig
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ports import free_port

VENV_BIN = Path(sysconfig.get_path("scripts"))
IMAGE_VENV_BIN = "/opt/hubgate/bin"  # where the Dockerfile installs hubgate


def remap_path(value: str, mounts: Mapping[str, Path]) -> str:
    """`value` with a container path prefix replaced by its local stand-in (also in a:b:c lists)."""
    parts = value.split(":")
    if len(parts) > 1 and all(part.startswith("/") for part in parts):
        return ":".join(remap_path(part, mounts) for part in parts)
    for container_path, local in sorted(mounts.items(), key=lambda item: -len(item[0])):
        if value == container_path or value.startswith(container_path.rstrip("/") + "/"):
            return str(local) + value[len(container_path.rstrip("/")) :]
    return value


def remap_env(env: Mapping[str, str], mounts: Mapping[str, Path]) -> dict[str, str]:
    return {name: remap_path(value, mounts) for name, value in env.items()}


def listen_locally(env: Mapping[str, str]) -> tuple[dict[str, str], int]:
    """The same environment, but listening on loopback and a free port: a container's 0.0.0.0:8080 would
    expose a test server on every interface and may clash with anything else on this machine."""
    port = free_port()
    return {**env, "HUBGATE_SERVER__HOST": "127.0.0.1", "HUBGATE_SERVER__PORT": str(port)}, port


def get(port: int, path: str, *, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get_json(port: int, path: str, *, headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
    status, body = get(port, path, headers=headers)
    return status, json.loads(body)


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, port: int, path: str, *, timeout_s: float = 90.0) -> None:
        """Until GET `path` answers 200; fails with the process's log if it exits or never does."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode} before {path}:\n{self.tail()}")
            try:
                status, body = get(port, path)
            except OSError as exc:
                last = repr(exc)
            else:
                if status == 200:
                    return
                last = f"{status} {body[:300]!r}"
            time.sleep(0.2)
        raise AssertionError(f"{path} never answered 200 (last: {last}):\n{self.tail()}")

    def stop(self, *, timeout_s: float = 60.0) -> int:
        """SIGTERM, as the kubelet sends, and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"did not stop within {timeout_s} s of SIGTERM:\n{self.tail()}") from None


def resolve_command(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """argv with its program looked up on the environment's PATH, as the container runtime does."""
    program = argv[0]
    if "/" not in program:
        for directory in env.get("PATH", "").split(":"):
            candidate = Path(directory) / program
            if directory and candidate.is_file() and os.access(candidate, os.X_OK):
                program = str(candidate)
                break
        else:
            raise AssertionError(f"{argv[0]!r} is not on PATH {env.get('PATH')!r}")
    return [program, *argv[1:]]


@contextlib.contextmanager
def started(argv: list[str], *, env: Mapping[str, str], cwd: Path, log: Path) -> Iterator[Process]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            resolve_command(argv, env),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Process(process=process, log=log)
    try:
        yield running
    except BaseException:
        # The server's own account of what went wrong, in the failing test's report (its tmp dir may be
        # gone by the time anyone looks).
        print(f"--- the last lines of {log.name} ---\n{running.tail(200)}")
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
