"""SIGTERM: hubgate stops taking connections but lets in-flight downloads finish within its grace period."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.e2e.hubgate_server import TEST_REDIRECT_HOSTS_ENV
from tests.fakehub import FakeHub, FakeHubServer
from tests.fakehub.fixtures import BIG_FILE_PATH, BIG_MODEL_ID, big_model_repo
from tests.ports import free_port


def test_sigterm_finishes_in_flight_downloads(
    upstream: FakeHubServer, fake_hub: FakeHub, tmp_path: Path
) -> None:
    weights = fake_hub.add(big_model_repo()).head.files[BIG_FILE_PATH]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGATE_")}
    env.update(
        {
            "HUBGATE_SERVER__SHUTDOWN_GRACE_S": "30",
            "HUBGATE_SERVER__FETCH_WAIT_S": "60",
            **TEST_REDIRECT_HOSTS_ENV,
        }
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mirror.cli",
            "serve",
            "--port",
            str(port),
            "--upstream",
            upstream.url,
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port)
        # Warm the file, then read it slowly so that the download is in flight when SIGTERM arrives.
        _get_all(port, f"/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}")
        result: dict[str, bytes] = {}
        reading = threading.Event()
        reader = threading.Thread(
            target=lambda: result.update(
                body=_get_all(port, f"/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}", slow=reading)
            )
        )
        reader.start()
        assert reading.wait(timeout=30), "the slow download never started"
        server.send_signal(signal.SIGTERM)
        assert _refuses_connections(port, within_s=10), "a draining hubgate takes no new connections"
        reader.join(timeout=60)
        assert hashlib.sha256(result["body"]).hexdigest() == weights.sha256
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _get_all(port, "/healthz")
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise TimeoutError("hubgate did not start")


def _refuses_connections(port: int, *, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            _get_all(port, "/healthz")
        except OSError:
            return True
        time.sleep(0.05)
    return False


def _get_all(port: int, path: str, *, slow: threading.Event | None = None) -> bytes:
    """The body of a GET; with `slow`, read at about 20 MB/s and set `slow` once the body is flowing."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise AssertionError(f"GET {path} answered {response.status}: {response.read()[:300]!r}")
        chunks = []
        while chunk := response.read(1 << 20):
            chunks.append(chunk)
            if slow is not None:
                slow.set()
                time.sleep(0.05)  # about 20 MB/s: the 50 MB body takes a few seconds
        return b"".join(chunks)
    finally:
        connection.close()
