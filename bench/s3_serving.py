"""Serving from S3: hubgate on SeaweedFS + PostgreSQL vs S3 itself, measured in one run.

    python -m bench.s3_serving [--big-file-size-mib 1024] [--clients 200] [--requests-per-client 10]

Starts a real SeaweedFS S3 server (`weed mini`, credentials enforced), a throwaway PostgreSQL cluster,
the fake Hub and two hubgate processes sharing the bucket and the database: one in stream mode, one in
presigned-redirect mode. Everything listens on 127.0.0.1 only. Prints:

1. warm download of the big LFS file streamed through hubgate (http.client, 1 MiB reads) vs the same
   object read straight from SeaweedFS with boto3 (get_object, 1 MiB chunks), median of 3 interleaved
   rounds each; target >= 0.9x (issue #14).
2. redirect mode: median and p95 time for a GET of a warm small file to return its 302, against a HEAD
   (and a full GET) of the same file in stream mode, interleaved; target: adds < 5 ms. Also checks that
   the Location points at the S3 endpoint and that fetching it with no Authorization header gives the
   file's bytes (and that the same URL without its signature is refused).
3. N concurrent clients (asyncio + aiohttp, one connection each) fetching warm small files from the
   stream-mode replica: errors (target 0), p50/p95/p99 latency and requests per second.

Every phase also reports where the CPU went (this script, hubgate, weed, PostgreSQL, the fake Hub, and
other processes on the machine: the contention that the figures carry).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import ipaddress
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import aiohttp
import boto3
from botocore.config import Config

from bench.cpu import CpuMeter, cpu_line, cpu_per, find_pid
from bench.harness import ROOT, Process, fakehub_process, hubgate_process
from tests.e2e.hubgate_server import TEST_REDIRECT_HOSTS_ENV
from tests.pg import PostgresServer, postgres_cluster
from tests.storage.seaweed import REGION, SeaweedS3, run_seaweedfs

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_T = TypeVar("_T")
MiB = 1 << 20
BIG_REPO = "acme/big-model"
BIG_FILE = "model.safetensors"
SMALL_PATH = "/acme/tiny-model/resolve/main/config.json"
# Warm candidates for the concurrency phase; the ones the gate does not serve (200) are left out.
SMALL_PATHS = (
    "/acme/tiny-model/resolve/main/config.json",
    "/acme/tiny-model/resolve/main/README.md",
    "/acme/tiny-model/resolve/main/tokenizer.json",
    "/acme/tiny-model/resolve/main/generation_config.json",
    "/acme/tiny-model/resolve/main/tokenizer/vocab.txt",
    "/acme/tiny-model/resolve/main/docs/nested/deep/notes.md",
    "/acme/tiny-model/resolve/main/model.safetensors",
    "/acme/tiny-model/resolve/main/onnx/model.onnx",
    "/tiny-legacy/resolve/main/config.json",
    "/tiny-legacy/resolve/main/model.safetensors",
    "/acme/base-model/resolve/main/README.md",
    "/acme/base-model/resolve/main/config.json",
    "/datasets/acme/tiny-dataset/resolve/main/data/test.jsonl",
)
ROUNDS = 3


# -------------------------------------------------------------------------------------------- helpers


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if not ipaddress.ip_address(host).is_loopback:
        raise RuntimeError(f"refusing to send traffic off loopback: {url}")


def _connection(base: str, timeout: float) -> http.client.HTTPConnection:
    _loopback_only(base)
    parts = urlsplit(base)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)


def _percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _timed(func: Callable[[], _T]) -> tuple[float, _T]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def _s3_client(seaweed: SeaweedS3) -> S3Client:
    """A plain boto3 client configured like hubgate's own (path style, SigV4, no response checksum)."""
    _loopback_only(seaweed.endpoint_url)
    return boto3.client(
        "s3",
        endpoint_url=seaweed.endpoint_url,
        aws_access_key_id=seaweed.access_key_id,
        aws_secret_access_key=seaweed.secret_access_key,
        region_name=REGION,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=120,
            response_checksum_validation="when_required",
        ),
    )


def _migrate(env: Mapping[str, str], data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "migrate", "--data-dir", str(data_dir)],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"hubgate migrate failed:\n{done.stdout}\n{done.stderr}")


def _wait_ready(gate: Process, timeout_s: float = 120) -> None:
    """/readyz answers 200 once the database and the bucket are reachable."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        connection = _connection(gate.url, 5)
        with contextlib.suppress(OSError):
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                connection.close()
                return
        connection.close()
        time.sleep(0.2)
    raise TimeoutError(f"{gate.url}/readyz did not answer 200")


def _get(
    connection: http.client.HTTPConnection, path: str, *, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection.request("GET", path, headers=dict(headers or {}))
    response = connection.getresponse()
    return response.status, response.read(), response


# ------------------------------------------------------------------------------------ 1: big warm file


@dataclass
class BigResult:
    key: str = ""
    size: int = 0
    cold_s: float = 0.0
    stored_s: float = 0.0
    hubgate_s: list[float] = field(default_factory=list)
    boto3_s: list[float] = field(default_factory=list)
    hubgate_cpu: dict[str, float] = field(default_factory=dict)
    boto3_cpu: dict[str, float] = field(default_factory=dict)


def _stream_to_nowhere(base: str, path: str, *, digest: bool = False) -> tuple[int, str, Mapping[str, str]]:
    """GET the whole file in 1 MiB reads; (bytes, sha256 if asked, headers)."""
    connection = _connection(base, 600)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {response.read()[:300]!r}")
        hasher = hashlib.sha256() if digest else None
        total = 0
        while chunk := response.read(MiB):
            total += len(chunk)
            if hasher is not None:
                hasher.update(chunk)
        return total, hasher.hexdigest() if hasher else "", dict(response.getheaders())
    finally:
        connection.close()


def _boto3_to_nowhere(client: S3Client, bucket: str, key: str) -> int:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    total = 0
    try:
        for chunk in body.iter_chunks(MiB):
            total += len(chunk)
    finally:
        body.close()
    return total


def measure_big(gate: Process, s3: S3Client, bucket: str, size: int, meter: CpuMeter) -> BigResult:
    result = BigResult(size=size)
    path = f"/{BIG_REPO}/resolve/main/{BIG_FILE}"
    result.cold_s, (got, sha256, headers) = _timed(lambda: _stream_to_nowhere(gate.url, path, digest=True))
    linked = headers.get("X-Linked-Etag", "").strip('"')
    if got != size or (linked and linked != sha256):
        raise RuntimeError(f"cold download: {got} bytes, sha256 {sha256}, X-Linked-Etag {linked!r}")
    result.key = "blobs/" + sha256
    # A one-byte range is served only from the store: it waits until the blob is verified, scanned,
    # uploaded and its row committed.
    started = time.perf_counter()
    connection = _connection(gate.url, 900)
    status, body, _ = _get(connection, path, headers={"Range": "bytes=0-0"})
    connection.close()
    result.stored_s = time.perf_counter() - started
    if status != 206 or len(body) != 1:
        raise RuntimeError(f"warm-up range GET: HTTP {status}")
    stored = s3.head_object(Bucket=bucket, Key=result.key)
    if stored["ContentLength"] != size:
        raise RuntimeError(f"{result.key}: {stored['ContentLength']} bytes in the bucket, expected {size}")
    for _ in range(ROUNDS):  # interleaved, so both see the same background load
        with meter.phase(result.hubgate_cpu):
            seconds, (got, _, _) = _timed(lambda: _stream_to_nowhere(gate.url, path))
        if got != size:
            raise RuntimeError(f"warm GET through hubgate: {got} bytes, expected {size}")
        result.hubgate_s.append(seconds)
        with meter.phase(result.boto3_cpu):
            seconds, got = _timed(lambda: _boto3_to_nowhere(s3, bucket, result.key))
        if got != size:
            raise RuntimeError(f"boto3 get_object: {got} bytes, expected {size}")
        result.boto3_s.append(seconds)
    return result


# ------------------------------------------------------------------------------ 2: presigned redirect


@dataclass
class RedirectResult:
    redirect_ms: list[float] = field(default_factory=list)
    head_ms: list[float] = field(default_factory=list)
    get_ms: list[float] = field(default_factory=list)
    location: str = ""
    location_ok: bool = False
    unsigned_status: int = 0
    problems: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


def measure_redirect(
    stream: Process, redirect: Process, seaweed: SeaweedS3, bucket: str, rounds: int, meter: CpuMeter
) -> RedirectResult:
    result = RedirectResult()
    to_stream, to_redirect = _connection(stream.url, 30), _connection(redirect.url, 30)
    try:
        status, expected, _ = _get(to_stream, SMALL_PATH)
        if status != 200:
            raise RuntimeError(f"stream GET {SMALL_PATH}: HTTP {status}")
        for _ in range(20):  # warm both replicas' caches (revision, entry, review) and connections
            _get(to_stream, SMALL_PATH)
            _get(to_redirect, SMALL_PATH)
            to_stream.request("HEAD", SMALL_PATH)
            to_stream.getresponse().read()

        status, _, response = _get(to_redirect, SMALL_PATH)
        result.location = response.getheader("Location") or ""
        if status != 302 or not result.location:
            raise RuntimeError(f"redirect-mode GET {SMALL_PATH}: HTTP {status}, Location {result.location!r}")
        result.location_ok = _check_location(result, seaweed, bucket, expected)

        def timed_ms(send: Callable[[], int], want: int) -> float:
            started = time.perf_counter()
            got = send()
            elapsed = (time.perf_counter() - started) * 1000
            if got != want:
                result.problems.append(f"HTTP {got}, expected {want}")
            return elapsed

        def head() -> int:
            to_stream.request("HEAD", SMALL_PATH)
            response = to_stream.getresponse()
            response.read()
            return response.status

        with meter.phase(result.cpu):
            for _ in range(rounds):  # interleaved, so all three see the same background load
                result.redirect_ms.append(timed_ms(lambda: _get(to_redirect, SMALL_PATH)[0], 302))
                result.head_ms.append(timed_ms(head, 200))
                result.get_ms.append(timed_ms(lambda: _get(to_stream, SMALL_PATH)[0], 200))
    finally:
        to_stream.close()
        to_redirect.close()
    return result


def _check_location(result: RedirectResult, seaweed: SeaweedS3, bucket: str, expected: bytes) -> bool:
    location, endpoint = urlsplit(result.location), urlsplit(seaweed.endpoint_url)
    if (location.scheme, location.netloc) != (endpoint.scheme, endpoint.netloc):
        result.problems.append(f"Location is not on the S3 endpoint {seaweed.endpoint_url}")
        return False
    if not location.path.startswith(f"/{bucket}/blobs/"):
        result.problems.append(f"Location path {location.path!r} is not in bucket {bucket!r}")
        return False
    # http.client sends Host, Accept-Encoding: identity and nothing else: no Authorization header.
    connection = _connection(result.location, 30)
    status, body, _ = _get(connection, f"{location.path}?{location.query}")
    result.unsigned_status = _get(connection, location.path)[0]  # the same URL with no signature
    connection.close()
    if status != 200 or body != expected:
        result.problems.append(f"presigned GET: HTTP {status}, {len(body)} bytes (expected {len(expected)})")
        return False
    if result.unsigned_status != 403:
        result.problems.append(f"unsigned GET of the object: HTTP {result.unsigned_status}, expected 403")
        return False
    return True


# ------------------------------------------------------------------------------------ 3: many clients


@dataclass
class LoadResult:
    files: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)  # each client's first request: includes connect
    errors: Counter[str] = field(default_factory=Counter)
    listen_overflows: int = 0
    wall_s: float = 0.0
    timed_out: bool = False
    cpu: dict[str, float] = field(default_factory=dict)


def _warm_small_files(gate: Process) -> dict[str, bytes]:
    served: dict[str, bytes] = {}
    connection = _connection(gate.url, 120)
    try:
        for path in SMALL_PATHS:
            status, body, _ = _get(connection, path)
            if status == 200:
                served[path] = body
    finally:
        connection.close()
    if not served:
        raise RuntimeError("none of the small files is served")
    return served


async def _load(
    base: str, files: Mapping[str, bytes], clients: int, per_client: int, budget_s: float, result: LoadResult
) -> None:
    _loopback_only(base)
    paths = sorted(files)
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    timeout = aiohttp.ClientTimeout(total=60)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:

        async def client(number: int) -> None:
            for index in range(per_client):
                path = paths[(number + index) % len(paths)]
                started = time.perf_counter()
                try:
                    async with session.get(base + path) as response:
                        body = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors[type(exc).__name__] += 1
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if status != 200:
                    result.errors[f"HTTP {status}"] += 1
                elif body != files[path]:
                    result.errors["wrong body"] += 1
                else:
                    result.latencies_ms.append(elapsed)
                    if index == 0:
                        result.first_ms.append(elapsed)

        started = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(clients))), budget_s)
        except TimeoutError:
            result.timed_out = True
        result.wall_s = time.perf_counter() - started
    missing = clients * per_client - len(result.latencies_ms) - result.errors.total()
    if missing:
        result.errors["not finished in time"] += missing


def measure_load(
    gate: Process, clients: int, per_client: int, budget_s: float, meter: CpuMeter
) -> LoadResult:
    files = _warm_small_files(gate)
    _warm_small_files(gate)  # the second pass is all warm: stored, scanned, rows cached
    result = LoadResult(files=len(files))
    overflows = _listen_overflows()
    with meter.phase(result.cpu):
        asyncio.run(_load(gate.url, files, clients, per_client, budget_s, result))
    result.listen_overflows = _listen_overflows() - overflows
    return result


def _listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (all sockets)."""
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names[0] == "TcpExt:" and "ListenOverflows" in names:
            return int(values[names.index("ListenOverflows")])
    return 0


# ----------------------------------------------------------------------------------------------- main


def _shared_env(seaweed: SeaweedS3, postgres: PostgresServer, bucket: str, upstream: str) -> dict[str, str]:
    return {
        "HUBGATE_DATABASE__URL": postgres.url(postgres.create_database()),
        "HUBGATE_DATABASE__MIGRATE_ON_START": "false",
        "HUBGATE_STORAGE__BACKEND": "s3",
        "HUBGATE_STORAGE__S3__BUCKET": bucket,
        "HUBGATE_STORAGE__S3__ENDPOINT_URL": seaweed.endpoint_url,
        "HUBGATE_STORAGE__S3__REGION": REGION,
        "HUBGATE_STORAGE__S3__ADDRESSING_STYLE": "path",
        "HUBGATE_STORAGE__S3__ACCESS_KEY_ID": seaweed.access_key_id,
        "HUBGATE_STORAGE__S3__SECRET_ACCESS_KEY": seaweed.secret_access_key,
        "HUBGATE_STORAGE__SERVE_MODE": "stream",
        "HUBGATE_UPSTREAM__ENDPOINT": upstream,
        **TEST_REDIRECT_HOSTS_ENV,
        "HUBGATE_SERVER__FETCH_WAIT_S": "600",
        "HUBGATE_LOG__LEVEL": "WARNING",
    }


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--big-file-size-mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests-per-client", type=int, default=10)
    parser.add_argument("--latency-rounds", type=int, default=300, help="requests of each kind (phase 2)")
    parser.add_argument("--load-budget-s", type=float, default=120.0, help="time limit of phase 3")
    args = parser.parse_args()
    size = args.big_file_size_mib * MiB
    load_before = os.getloadavg()[0]

    work = Path(tempfile.mkdtemp(prefix="hubgate-bench-s3-"))
    logs = {"stream": work / "hubgate-stream.log", "redirect": work / "hubgate-redirect.log"}
    try:
        with contextlib.ExitStack() as stack:
            seaweed = stack.enter_context(run_seaweedfs())
            postgres = stack.enter_context(postgres_cluster())
            hub = stack.enter_context(fakehub_process(big_file_size=size))
            bucket = seaweed.new_bucket()
            env = _shared_env(seaweed, postgres, bucket, hub.url)
            _migrate(env, work / "migrate")
            stream = stack.enter_context(
                hubgate_process(hub.url, work / "stream", extra_env=env, log_path=logs["stream"])
            )
            redirect = stack.enter_context(
                hubgate_process(
                    hub.url,
                    work / "redirect",
                    extra_env={**env, "HUBGATE_STORAGE__SERVE_MODE": "redirect"},
                    log_path=logs["redirect"],
                )
            )
            _wait_ready(stream)
            _wait_ready(redirect)
            s3 = _s3_client(seaweed)
            stack.callback(s3.close)

            roots = {
                os.getpid(): "bench",
                stream.popen.pid: "hubgate",
                redirect.popen.pid: "hubgate-redirect",
            }
            roots[hub.popen.pid] = "fakehub"
            weed = find_pid(lambda ppid, comm, _: ppid == os.getpid() and comm == "weed")
            if weed is not None:
                roots[weed] = "weed"
            postmaster = find_pid(
                lambda _, comm, cmd: comm == "postgres" and f"-p {postgres.port} " in cmd + " "
            )
            if postmaster is not None:
                roots[postmaster] = "postgres"
            meter = CpuMeter(roots)

            big = measure_big(stream, s3, bucket, size, meter)
            redirected = measure_redirect(stream, redirect, seaweed, bucket, args.latency_rounds, meter)
            load = measure_load(stream, args.clients, args.requests_per_client, args.load_budget_s, meter)
    except BaseException:
        for name, path in logs.items():
            print(f"--- hubgate ({name}) log tail:\n{_tail(path)}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _report(args, big, redirected, load, load_before)


def _joined(seconds: list[float]) -> str:
    return " ".join(f"{value:.2f}" for value in seconds)


def _latency(samples_ms: list[float]) -> str:
    return f"median {statistics.median(samples_ms):5.2f} ms, p95 {_percentile(samples_ms, 0.95):5.2f} ms"


class _Table:
    def __init__(self) -> None:
        self.misses: list[str] = []
        print(f"{'#':<2} {'measurement':<50} {'figure':<46} {'target':<9} result")

    def row(self, number: str, label: str, figure: str, target: str = "", ok: bool | None = None) -> None:
        result = "" if ok is None else ("ok" if ok else "MISSED")
        if ok is False:
            self.misses.append(label)
        print(f"{number:<2} {label:<50} {figure:<46} {target:<9} {result}".rstrip())

    def note(self, text: str) -> None:
        print(f"{'':<2} {text}")


def _report(
    args: argparse.Namespace, big: BigResult, redirected: RedirectResult, load: LoadResult, load_before: float
) -> None:
    print(
        "hubgate on S3 (SeaweedFS `weed mini`) + PostgreSQL, fake Hub upstream, all on 127.0.0.1; "
        f"{os.cpu_count()} cores, 1-min load average before the run {load_before:.1f}"
    )
    print(f"S3 key of the big file: {big.key}")
    table = _Table()

    mib = big.size / MiB
    hub_s, s3_s = statistics.median(big.hubgate_s), statistics.median(big.boto3_s)
    table.row(
        "1",
        f"cold GET via hubgate ({mib:.0f} MiB, upstream -> S3)",
        f"{big.cold_s:.2f} s, {mib / big.cold_s:.0f} MiB/s; stored +{big.stored_s:.1f} s",
    )
    table.row(
        "1",
        f"warm GET via hubgate, http.client (median of {ROUNDS})",
        f"{hub_s:.2f} s, {mib / hub_s:.0f} MiB/s [{_joined(big.hubgate_s)}]",
    )
    table.row(
        "1",
        f"boto3 get_object straight from S3 (median of {ROUNDS})",
        f"{s3_s:.2f} s, {mib / s3_s:.0f} MiB/s [{_joined(big.boto3_s)}]",
    )
    table.row(
        "1", "warm via hubgate / straight from S3", f"{s3_s / hub_s:.2f}x", ">= 0.9x", s3_s / hub_s >= 0.9
    )
    gib = big.size / (1 << 30) * ROUNDS
    table.note("via hubgate: " + cpu_per(big.hubgate_cpu, gib, "GiB") + "; " + cpu_line(big.hubgate_cpu))
    table.note("S3 direct:   " + cpu_per(big.boto3_cpu, gib, "GiB") + "; " + cpu_line(big.boto3_cpu))

    r = redirected
    added = statistics.median(r.redirect_ms) - statistics.median(r.head_ms)
    added_p95 = _percentile(r.redirect_ms, 0.95) - _percentile(r.head_ms, 0.95)
    added_get = statistics.median(r.redirect_ms) - statistics.median(r.get_ms)
    table.row("2", f"redirect mode: small warm GET -> 302 (n={len(r.redirect_ms)})", _latency(r.redirect_ms))
    table.row("2", "stream mode: HEAD of the same file", _latency(r.head_ms))
    table.row("2", "stream mode: GET of the same file (whole body)", _latency(r.get_ms))
    table.row(
        "2",
        "added by redirect vs stream HEAD (median, p95)",
        f"{added:+.2f} ms, {added_p95:+.2f} ms",
        "< 5 ms",
        added < 5,
    )
    table.row("2", "added by redirect vs stream GET (median)", f"{added_get:+.2f} ms")
    location = urlsplit(r.location)
    table.row(
        "2",
        "Location on S3; fetched with no Authorization",
        f"{location.netloc}/<bucket>/blobs/...: bytes "
        f"{'match' if r.location_ok else 'DIFFER'}; unsigned {r.unsigned_status}",
        "S3, bytes",
        r.location_ok,
    )
    if r.problems:
        table.note(f"problems: {sorted(set(r.problems))}")
    table.note(cpu_line(r.cpu))

    ok_ms, total = load.latencies_ms, args.clients * args.requests_per_client
    errors = load.errors.total()
    table.row(
        "3",
        f"{args.clients} clients x {args.requests_per_client} warm small GETs ({load.files} files)",
        f"{errors} errors of {total}",
        "0 errors",
        errors == 0,
    )
    if ok_ms:
        table.row(
            "3",
            "latency p50 / p95 / p99 (max)",
            f"{_percentile(ok_ms, 0.5):.0f} / {_percentile(ok_ms, 0.95):.0f} / "
            f"{_percentile(ok_ms, 0.99):.0f} ms ({max(ok_ms):.0f} ms)",
        )
        rate = len(ok_ms) / load.wall_s
        table.row("3", "throughput", f"{rate:.0f} requests/s over {load.wall_s:.1f} s")
        first = load.first_ms or [0.0]
        table.note(
            f"first request of each client (includes TCP connect): p50 {_percentile(first, 0.5):.0f} ms, "
            f"max {max(first):.0f} ms; listen-queue overflows {load.listen_overflows}; "
            f"hubgate CPU {load.cpu.get('hubgate', 0.0) / len(ok_ms) * 1000:.2f} ms/request; "
            f"clients / throughput = {args.clients / rate * 1000:.0f} ms"
        )
    if load.errors:
        table.note(f"errors: {dict(load.errors)}{' (time budget exhausted)' if load.timed_out else ''}")
    table.note(cpu_line(load.cpu))
    print("missed: " + ("; ".join(table.misses) if table.misses else "nothing"))


if __name__ == "__main__":
    main()
