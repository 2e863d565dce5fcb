"""Several real `hubgate serve` processes sharing one PostgreSQL database and one S3 bucket."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.hubgate_server import TEST_REDIRECT_HOSTS_ENV
from tests.pg import PostgresServer
from tests.ports import free_port
from tests.storage.seaweed import SeaweedS3

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]  # the configuration every replica shares (database, bucket, upstream)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"replica exited with {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass  # not listening yet
        finally:
            connection.close()
        time.sleep(0.1)
    raise TimeoutError("replica did not become ready")


@contextlib.contextmanager
def replicas(
    count: int,
    *,
    upstream: str,
    postgres: PostgresServer,
    seaweed: SeaweedS3,
    tmp_path: Path,
    lease_ttl_s: float,
) -> Iterator[list[Replica]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGATE_")}
    env.update(
        {
            "HUBGATE_DATABASE__URL": postgres.url(postgres.create_database()),
            "HUBGATE_DATABASE__MIGRATE_ON_START": "false",
            "HUBGATE_STORAGE__BACKEND": "s3",
            "HUBGATE_STORAGE__S3__BUCKET": seaweed.new_bucket(),
            "HUBGATE_STORAGE__S3__ENDPOINT_URL": seaweed.endpoint_url,
            "HUBGATE_STORAGE__S3__ADDRESSING_STYLE": "path",
            "HUBGATE_STORAGE__S3__ACCESS_KEY_ID": seaweed.access_key_id,
            "HUBGATE_STORAGE__S3__SECRET_ACCESS_KEY": seaweed.secret_access_key,
            "HUBGATE_UPSTREAM__ENDPOINT": upstream,
            **TEST_REDIRECT_HOSTS_ENV,
            "HUBGATE_UPSTREAM__LEASE_TTL_S": str(lease_ttl_s),
            "HUBGATE_SERVER__FETCH_WAIT_S": "120",
            "HUBGATE_LOG__LEVEL": "WARNING",
        }
    )
    cli = [sys.executable, "-m", "mirror.cli"]
    subprocess.run(
        [*cli, "migrate", "--data-dir", str(tmp_path / "migrate")],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    started: list[Replica] = []
    try:
        for index in range(count):
            port = free_port()
            process = subprocess.Popen(
                [*cli, "serve", "--port", str(port), "--data-dir", str(tmp_path / f"replica-{index}")],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append(Replica(url=f"http://127.0.0.1:{port}", process=process, env=env))
        for replica in started:
            _wait_ready(replica.url, replica.process)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.terminate()
        for replica in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                replica.process.wait(timeout=30)
