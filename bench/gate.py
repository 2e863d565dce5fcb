"""The gate's costs, in one run: cold downloads through the gate vs straight from the fake Hub, and the
review API's page latency over many reviews.

    python -m bench.gate [--size-mib 1024] [--reviews 10000] [--rounds 3]

1. A `model.safetensors` of `--size-mib` MiB fetched cold (fresh data dir) through hubgate, which
   streams it while downloading once the header passed the scanner, vs the same file straight from the
   fake Hub (its 302 to the CDN followed by the same client). Target: >= 0.6x, time to first byte < 1 s.
2. A PyTorch zip checkpoint (`torch.save` output, ~`--size-mib` MiB; pickle-based, so hubgate serves it
   only after download, verification and scan) fetched cold through hubgate vs a plain download of it
   plus the sha256 of the file. Target: within 1.3x.
3. `--reviews` reviews in a fresh SQLite database, paged through GET /api/hubgate/v1/reviews
   (limit=100, after=N), all of them and with state=QUARANTINED. Target: p95 per page < 50 ms.

Every download is measured with three clients: the real huggingface_hub client (`hf_hub_download` into
an empty cache: what users run; the targets are judged on it), and a raw http.client GET read in 1 MiB
chunks, written to a new file (as `curl -o` would) or thrown away (the harshest comparison: the direct
client then never touches a disk and hashes nothing, while hubgate spools and hashes every byte).
The time to first byte runs from sending the request to the first body bytes. Each direct download is
preceded by an untimed one, so every measurement reads the fake Hub's file from a warm page cache.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from huggingface_hub import hf_hub_download
from sqlalchemy import create_engine, insert

import scanners
from bench.cpu import CpuMeter
from bench.fakehub_extra import TORCH_FILE_PATH, TORCH_MODEL_ID, build_torch_zip
from bench.harness import ROOT, fakehub_process, hubgate_process
from mirror.policy.file import load_policy
from storage.queries import utcnow
from storage.tables import ReviewRow

BIG_REPO = "acme/big-model"
BIG_FILE = "model.safetensors"
WARMUP_PATH = "/acme/tiny-model/resolve/main/config.json"
CHUNK = 1 << 20
REVIEWS_PATH = "/api/hubgate/v1/reviews"
PAGE = 100
_REDIRECTS = (301, 302, 303, 307, 308)
# One review in _QUARANTINED_EVERY is QUARANTINED; the rest cycle through the other states.
_QUARANTINED_EVERY = 4
_OTHER_STATES = ("APPROVED", "APPROVED", "BLOCKED", "REVOKED", "PENDING")


@dataclass(frozen=True)
class Download:
    ttfb_s: float
    total_s: float
    size: int


@dataclass(frozen=True)
class Pages:
    count: int
    items: int
    p50_ms: float
    p95_ms: float
    max_ms: float


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.startswith("127."):
        raise RuntimeError(f"refusing to leave the loopback network: {url}")
    return http.client.HTTPConnection(host, parts.port, timeout=900)


def download(url: str, store_in: Path | None = None) -> Download:
    """GET `url` (following redirects on fresh connections), reading the body in 1 MiB chunks: thrown
    away, or, with `store_in`, written to a new file there (as `hf download` or `curl -o` would), which
    is deleted afterwards."""
    started = time.perf_counter()
    for _ in range(5):
        connection = _connection(url)
        parts = urlsplit(url)
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = connection.getresponse()
        if response.status not in _REDIRECTS:
            break
        response.read()
        connection.close()
        url = urljoin(url, response.getheader("Location", ""))
    else:
        raise RuntimeError(f"{url}: too many redirects")
    if response.status != 200:
        body = response.read(2000)
        raise RuntimeError(f"{url}: HTTP {response.status} {response.getheader('X-Error-Code')} {body!r}")
    first = response.read1(CHUNK)
    ttfb = time.perf_counter() - started
    total = len(first)
    buffer = memoryview(bytearray(CHUNK))
    sink = None if store_in is None else (store_in / "client-download").open("xb", buffering=0)
    try:
        if sink is not None:
            sink.write(first)
        while count := response.readinto(buffer):
            total += count
            if sink is not None:
                sink.write(buffer[:count])
        elapsed = time.perf_counter() - started
    finally:
        if sink is not None:
            sink.close()
            Path(sink.name).unlink()
    connection.close()
    expected = response.getheader("Content-Length")
    if expected is not None and int(expected) != total:
        raise RuntimeError(f"{url}: got {total} of {expected} bytes")
    return Download(ttfb_s=ttfb, total_s=elapsed, size=total)


def sha256_seconds(path: Path) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return time.perf_counter() - started


def fresh_write_seconds(directory: Path, size: int) -> float:
    """Writing `size` bytes to a new file (no fsync), as hubgate's spool does: a floor for its cold path."""
    path = directory / "write-probe"
    block = bytes(4 << 20)
    started = time.perf_counter()
    with path.open("xb", buffering=0) as handle:
        for offset in range(0, size, len(block)):
            handle.write(block[: size - offset])
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


Client = Callable[[str], Download]  # fetches a full URL and reports its timing


def raw_client(store_in: Path | None) -> Client:
    return lambda url: download(url, store_in)


def hf_client(cache_root: Path) -> Client:
    """The real huggingface_hub client (`hf_hub_download` into an empty cache, removed afterwards)."""

    def fetch(url: str) -> Download:
        parts = urlsplit(url)
        org, name, _resolve, revision, filename = parts.path.lstrip("/").split("/", 4)
        cache = cache_root / "hf-cache"
        started = time.perf_counter()
        try:
            path = hf_hub_download(
                f"{org}/{name}",
                filename,
                revision=revision,
                cache_dir=cache,
                endpoint=f"{parts.scheme}://{parts.netloc}",
            )
            elapsed = time.perf_counter() - started
            size = Path(path).stat().st_size
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        return Download(ttfb_s=math.nan, total_s=elapsed, size=size)

    return fetch


def median_download(
    url: str,
    rounds: int,
    client: Client,
    *,
    meter: CpuMeter | None = None,
    cpu: dict[str, float] | None = None,
) -> Download:
    """`meter` and `cpu`: the CPU seconds of the timed runs are added to `cpu`, by role."""
    download(url)  # untimed: warms the page cache of the fake Hub's file
    with meter.phase(cpu) if meter is not None and cpu is not None else contextlib.nullcontext():
        runs = [client(url) for _ in range(rounds)]
    return Download(
        ttfb_s=statistics.median(r.ttfb_s for r in runs),
        total_s=statistics.median(r.total_s for r in runs),
        size=runs[0].size,
    )


@dataclass(frozen=True)
class Cold:
    run: Download  # the cold file, fetched by a hubgate that has already served another file
    first_fetch_s: float  # that other file: the first file a freshly started hubgate fetches


def cold_through_gate(
    upstream: str,
    work: Path,
    url_path: str,
    rounds: int,
    client: Client,
    *,
    roles: Mapping[int, str] | None = None,
    cpu: dict[str, float] | None = None,
) -> Cold:
    """Median of `rounds` cold downloads, each by a fresh hubgate on an empty data dir.

    With `roles` (pid -> role) and `cpu`, the CPU seconds of the timed downloads are added to `cpu`: by
    role, and "hubgate" for each fresh hubgate and its scanner processes.

    Each hubgate first fetches a small file of another repo (untimed here, reported as `first_fetch_s`):
    the first fetch of a new process also pays one-off start-up costs (the scan workers' fork server and
    its imports) that a running server has behind it. The measured file and its repo stay cold.
    """
    runs = []
    first = []
    for index in range(rounds):
        data_dir = work / f"cold-{index}"
        try:
            with hubgate_process(upstream, data_dir) as gate:
                first.append(download(gate.url + WARMUP_PATH).total_s)
                meter = CpuMeter({**(roles or {}), gate.popen.pid: "hubgate"})
                with meter.phase(cpu) if cpu is not None else contextlib.nullcontext():
                    runs.append(client(gate.url + url_path))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    run = Download(
        ttfb_s=statistics.median(r.ttfb_s for r in runs),
        total_s=statistics.median(r.total_s for r in runs),
        size=runs[0].size,
    )
    return Cold(run=run, first_fetch_s=statistics.median(first))


# -- reviews ------------------------------------------------------------------------------------------


def _hubgate_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mirror.cli", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def _review_rows(count: int) -> Iterator[dict[str, object]]:
    """Reviews as the gate leaves them, decided under today's policy and scanner versions: with other
    versions hubgate's background re-evaluation would start working through them during the listing."""
    now = utcnow()
    policy_version = load_policy(None).fingerprint
    for index in range(count):
        quarantined = index % _QUARANTINED_EVERY == 0
        state = "QUARANTINED" if quarantined else _OTHER_STATES[index % len(_OTHER_STATES)]
        reasons = (
            [
                {
                    "rule_id": "pickle.unsafe-global",
                    "message": "pickle imports os.system",
                    "severity": "critical",
                }
            ]
            if quarantined or state == "BLOCKED"
            else []
        )
        waived = state == "APPROVED" and index % 3 == 0
        created = now - timedelta(minutes=count - index)
        yield {
            "subject_kind": "blob",
            "subject": hashlib.sha256(f"bench-blob-{index}".encode()).hexdigest(),
            "state": state,
            "severity": "critical" if reasons else "",
            "reasons": json.dumps(reasons),
            "repo_type": "model",
            "repo_id": f"bench-org/model-{index % 250}",
            "commit": hashlib.sha1(f"commit-{index // 4}".encode()).hexdigest(),
            "path": f"checkpoints/step-{index}/pytorch_model.bin",
            "size": 1_000_000 + index,
            "policy_version": policy_version,
            "scanner_version": scanners.SCANNER_VERSION,
            "waiver_by": "security-lead" if waived else None,
            "waiver_reason": "false positive, checked by hand" if waived else None,
            "waiver_expires_at": now + timedelta(days=30) if waived else None,
            "waived_rules": json.dumps(["pickle.unsafe-global"]) if waived else None,
            "requested_by": "dev" if waived else None,
            "request_justification": "needed for the eval" if waived else None,
            "created_at": created,
            "updated_at": created,
        }


def seed_reviews(data_dir: Path, count: int) -> tuple[str, int]:
    """Migrate a fresh database, insert `count` reviews, create a viewer token.

    Returns the token and how many of the reviews are QUARANTINED.
    """
    _hubgate_cli("migrate", "--data-dir", str(data_dir))
    engine = create_engine(f"sqlite:///{(data_dir / 'hubgate.db').absolute()}")
    with engine.begin() as connection:
        connection.execute(insert(ReviewRow), list(_review_rows(count)))
    engine.dispose()
    token = _hubgate_cli(
        "token", "create", "--name", "bench", "--role", "viewer", "--data-dir", str(data_dir)
    )
    return token.splitlines()[0].strip(), math.ceil(count / _QUARANTINED_EVERY)


def page_through(base: str, token: str, state: str | None) -> Pages:
    """Every page of the listing on one keep-alive connection; latency from request to parsed JSON."""
    connection = _connection(base)
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    items = 0
    after = 0
    while True:
        query = {"limit": str(PAGE), "after": str(after)} | ({"state": state} if state else {})
        started = time.perf_counter()
        connection.request("GET", f"{REVIEWS_PATH}?{urlencode(query)}", headers=headers)
        response = connection.getresponse()
        body = json.loads(response.read())
        samples.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"reviews: HTTP {response.status} {body}")
        items += len(body["items"])
        if body["next"] is None:
            break
        after = body["items"][-1]["id"]
    connection.close()
    samples.sort()
    return Pages(
        count=len(samples),
        items=items,
        p50_ms=statistics.median(samples),
        p95_ms=samples[math.ceil(len(samples) * 0.95) - 1],
        max_ms=samples[-1],
    )


def bench_reviews(upstream: str, data_dir: Path, count: int) -> tuple[Pages, Pages, int]:
    token, quarantined = seed_reviews(data_dir, count)
    with hubgate_process(upstream, data_dir) as gate:
        page_through(gate.url, token, None)  # untimed: the first pass opens the database and warms it
        everything = page_through(gate.url, token, None)
        only_quarantined = page_through(gate.url, token, "QUARANTINED")
    if everything.items != count or only_quarantined.items != quarantined:
        raise RuntimeError(f"listed {everything.items}/{count}, {only_quarantined.items}/{quarantined}")
    return everything, only_quarantined, quarantined


# -- main ---------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _download_line(name: str, run: Download, ratio: float, target: str) -> str:
    mib = run.size / (1 << 20)
    ttfb = "      -" if math.isnan(run.ttfb_s) else f"{run.ttfb_s * 1000:7.1f}"
    return (
        f"  {name:<28} {run.total_s:6.2f} s {mib / run.total_s:7.0f} MiB/s  TTFB {ttfb} ms"
        f"  {ratio:5.2f}x  {target}"
    )


@dataclass(frozen=True)
class ClientRuns:
    """One client behaviour's measurements: direct from the fake Hub and cold through hubgate."""

    st_direct: Download
    st_cold: Cold
    pt_direct: Download
    pt_cold: Cold


def report(
    args: argparse.Namespace,
    *,
    runs: dict[str, ClientRuns],
    pt_sha256: float,
    write_s: float,
    verdicts: str,
    reviews: tuple[Pages, Pages, int],
) -> None:
    print(
        f"client: http.client GET in 1 MiB reads; medians of {args.rounds} rounds; cold: fresh hubgate + "
        "empty data dir (its first fetch, of another repo's file, untimed)"
    )
    print(
        f"machine: writing {args.size_mib} MiB to a new file in the data dir's filesystem: {write_s:.2f} s "
        f"({args.size_mib / write_s:.0f} MiB/s); hubgate spools every byte it fetches"
    )
    print(f"PyTorch zip scan: {verdicts}; sha256 of the file: {pt_sha256:.2f} s")
    for mode, measured in runs.items():
        judged = mode == HF
        print(f"-- {mode}{' (what users run: the targets are judged here)' if judged else ''}")
        st_ratio = measured.st_direct.total_s / measured.st_cold.run.total_s
        # The real client gives no first-byte time; the raw clients below measure it for the same path.
        ttfb_ok = all(
            m.st_cold.run.ttfb_s < 1.0 for m in runs.values() if not math.isnan(m.st_cold.run.ttfb_s)
        )
        st_ok = st_ratio >= 0.6 and ttfb_ok
        print(f"safetensors, {measured.st_direct.size / (1 << 20):.0f} MiB:")
        print(_download_line("direct (302 + fake CDN)", measured.st_direct, 1.0, ""))
        print(
            _download_line(
                "hubgate cold, streamed", measured.st_cold.run, st_ratio, "target >= 0.60x, TTFB < 1 s: "
            )
            + (_verdict(st_ok) if judged else "")
        )
        pt_baseline = measured.pt_direct.total_s + pt_sha256
        within = measured.pt_cold.run.total_s / pt_baseline
        print(f"PyTorch zip (torch.save), {measured.pt_direct.size / (1 << 20):.0f} MiB:")
        print(f"  {'baseline = direct + sha256':<28} {pt_baseline:6.2f} s")
        print(
            _download_line(
                "hubgate cold, after scan",
                measured.pt_cold.run,
                pt_baseline / measured.pt_cold.run.total_s,
                "",
            )
            + f"= baseline x {within:.2f}  target <= 1.30"
            + (f": {_verdict(within <= 1.3)}" if judged else "")
        )
        first = max(measured.st_cold.first_fetch_s, measured.pt_cold.first_fetch_s)
        print(f"  (first fetch of a freshly started hubgate, a small file: up to {first:.2f} s)")
    everything, only_quarantined, quarantined = reviews
    print(f"review API, {args.reviews} reviews on SQLite, GET .../reviews?limit={PAGE}&after=<last id>:")
    for name, pages in (("all", everything), (f"state=QUARANTINED ({quarantined})", only_quarantined)):
        print(
            f"  {name:<28} {pages.count:4d} pages  p50 {pages.p50_ms:6.2f} ms  p95 {pages.p95_ms:6.2f} ms"
            f"  max {pages.max_ms:6.2f} ms  target p95 < 50 ms: {_verdict(pages.p95_ms < 50)}"
        )


HF = "huggingface_hub client (hf_hub_download)"
STORES = "raw client, stores the file"
DISCARDS = "raw client, discards the bytes"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--reviews", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3, help="timed downloads per measurement (median)")
    args = parser.parse_args()
    size = args.size_mib << 20
    checkpoint = build_torch_zip(size)  # before the fake Hub starts, so its start-up only reads digests
    assert checkpoint.path is not None
    reports = scanners.scan_file(checkpoint.path, name_hint=TORCH_FILE_PATH)
    verdicts = ", ".join(f"{r.scanner} {r.status.value} {r.format}" for r in reports)
    if any(r.status.value != "clean" or r.format != "pytorch-zip" for r in reports):
        raise RuntimeError(f"the checkpoint does not scan clean: {reports}")

    st_path = f"/{BIG_REPO}/resolve/main/{BIG_FILE}"
    pt_path = f"/{TORCH_MODEL_ID}/resolve/main/{TORCH_FILE_PATH}"
    work = Path(tempfile.mkdtemp(prefix="hubgate-bench-gate-"))
    started = time.monotonic()
    try:
        with fakehub_process(
            big_file_size=size, module="bench.fakehub_extra", extra_args=["--torch-zip-size", str(size)]
        ) as hub:
            write_s = fresh_write_seconds(work, size)
            pt_sha256 = statistics.median(sha256_seconds(checkpoint.path) for _ in range(args.rounds))
            runs: dict[str, ClientRuns] = {}
            clients = {HF: hf_client(work), STORES: raw_client(work), DISCARDS: raw_client(None)}
            for mode, client in clients.items():
                runs[mode] = ClientRuns(
                    st_direct=median_download(hub.url + st_path, args.rounds, client),
                    st_cold=cold_through_gate(hub.url, work, st_path, args.rounds, client),
                    pt_direct=median_download(hub.url + pt_path, args.rounds, client),
                    pt_cold=cold_through_gate(hub.url, work, pt_path, args.rounds, client),
                )
            reviews = bench_reviews(hub.url, work / "reviews", args.reviews)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report(args, runs=runs, pt_sha256=pt_sha256, write_s=write_s, verdicts=verdicts, reviews=reviews)
    print(f"total bench time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
