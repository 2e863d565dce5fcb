"""Download throughput through hubgate vs straight from the fake Hub, and vs olah, in one run.

    python -m bench.throughput [--size-mib 1024] [--rounds 3] [--clients 16] [--shards 20] [--olah PATH]

One fake Hub (a 1 GiB safetensors file and a 20-shard repository), and per round, interleaved so that
all see the same background load, fresh processes of:
- raw direct: `curl` from the fake Hub to /dev/null (the floor any proxy can reach), and the real
  client direct (`huggingface_hub.hf_hub_download`, which is itself slower);
- hubgate cold (fetch + verify + scan + store + serve, a fresh data directory) and warm (from the disk
  store), each with curl and with the real client;
- olah 0.5.4 cold and warm with curl, when installed (see bench.harness.olah_executable), else
  "olah: not available" is printed.
Rates are the best of the rounds. Ratios are against raw direct; the real-client ratio (hubgate via the
client / direct via the client) is printed beside it, never instead. Also printed: cold time to first
byte, hubgate's CPU seconds per GiB, a cold `snapshot_download` of the sharded repository through
hubgate vs direct, hubgate's peak RSS serving the big file cold and then warm to N clients at once,
the load average and how fast the data directory's disk took a 1 GiB write before and after.

Targets (issue #14): cold >= 0.6x raw direct with TTFB < 300 ms; warm >= 1.2x; sharded snapshot
within 1.3x of direct (ratio >= 0.77); peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

from bench.cpu import CpuMeter, work_s
from bench.fakehub_shards import SHARDED_MODEL_ID
from bench.harness import ROOT, Process, fakehub_process, hubgate_process, olah_executable, olah_process

BIG_REPO = "acme/big-model"
BIG_FILE = "model.safetensors"
BIG_PATH = f"/{BIG_REPO}/resolve/main/{BIG_FILE}"
MiB = 1 << 20


@dataclass(frozen=True)
class Transfer:
    seconds: float
    ttfb_s: float
    size: int


def curl(url: str) -> Transfer:
    """GET `url` to /dev/null with curl (following redirects, as the Hub's CDN needs)."""
    done = subprocess.run(
        ["curl", "-sS", "-L", "-o", "/dev/null", "-w", "%{http_code} %{time_starttransfer} %{time_total} "
         "%{size_download}", url],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 4 or fields[0] != "200":
        raise RuntimeError(f"curl {url}: exit {done.returncode}, {done.stdout!r} {done.stderr!r}")
    return Transfer(seconds=float(fields[2]), ttfb_s=float(fields[1]), size=int(fields[3]))


def client_download(endpoint: str, cache: Path) -> Transfer:
    started = time.perf_counter()
    hf_hub_download(BIG_REPO, BIG_FILE, cache_dir=cache, endpoint=endpoint)
    elapsed = time.perf_counter() - started
    shutil.rmtree(cache)
    return Transfer(seconds=elapsed, ttfb_s=float("nan"), size=0)


def client_snapshot(endpoint: str, cache: Path) -> float:
    started = time.perf_counter()
    snapshot_download(SHARDED_MODEL_ID, cache_dir=cache, endpoint=endpoint)
    elapsed = time.perf_counter() - started
    shutil.rmtree(cache)
    return elapsed


def disk_write_mib_s(directory: Path, piece: int, size: int = 1 << 30) -> float:
    """How fast the data directory's disk takes `size` bytes in unbuffered writes of `piece` bytes (the
    file is deleted after). The spool writes 64 KiB pieces: see mirror/blobs/spool.py for why both are
    printed."""
    directory.mkdir(parents=True, exist_ok=True)
    block = memoryview(os.urandom(piece))
    path = directory / "disk-probe"
    started = time.perf_counter()
    with path.open("xb", buffering=0) as handle:
        for _ in range(size // piece):
            handle.write(block)
    elapsed = time.perf_counter() - started
    path.unlink()
    return size / MiB / elapsed


def disk_report(directory: Path) -> str:
    small = disk_write_mib_s(directory, 64 << 10)
    large = disk_write_mib_s(directory, 4 * MiB)
    return f"{small:.0f} MiB/s in 64 KiB writes, {large:.0f} MiB/s in 4 MiB writes"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Row:
    name: str
    seconds: list[float] = field(default_factory=list)
    ttfb_s: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, transfer: Transfer) -> None:
        self.seconds.append(transfer.seconds)
        self.ttfb_s.append(transfer.ttfb_s)

    @property
    def best(self) -> float:
        return min(self.seconds)


@dataclass
class Results:
    rows: dict[str, Row] = field(default_factory=dict)
    rss_cold_mb: float = float("nan")
    rss_warm_mb: float = float("nan")
    baseline_rss: tuple[float, float] | None = None

    def row(self, name: str) -> Row:
        return self.rows.setdefault(name, Row(name))


@contextlib.contextmanager
def metered(meter: CpuMeter, row: Row) -> Iterator[None]:
    with meter.phase(row.cpu):
        yield


def measure_round(
    hub: Process,
    work: Path,
    results: Results,
    olah: str | None,
    meter_for: Callable[..., CpuMeter],
    baseline: Path | None,
) -> None:
    """One interleaved round of every subject, each in fresh processes where it matters (cold)."""
    r = results.row
    direct_meter = meter_for(None)
    with metered(direct_meter, r("raw direct")):
        r("raw direct").add(curl(hub.url + BIG_PATH))
    r("client direct").add(client_download(hub.url, work / "cache"))
    if baseline is not None:
        with hubgate_process(hub.url, work / "gate-baseline", source_tree=baseline) as gate:
            meter = meter_for(gate)
            with metered(meter, r("baseline cold")):
                r("baseline cold").add(curl(gate.url + BIG_PATH))
            with metered(meter, r("baseline warm")):
                r("baseline warm").add(curl(gate.url + BIG_PATH))
        shutil.rmtree(work / "gate-baseline")
    with hubgate_process(hub.url, work / "gate-raw") as gate:
        meter = meter_for(gate)
        with metered(meter, r("hubgate cold")):
            r("hubgate cold").add(curl(gate.url + BIG_PATH))
        with metered(meter, r("hubgate warm")):
            r("hubgate warm").add(curl(gate.url + BIG_PATH))
        r("hubgate warm client").add(client_download(gate.url, work / "cache"))
    shutil.rmtree(work / "gate-raw")
    with hubgate_process(hub.url, work / "gate-client") as gate:
        r("hubgate cold client").add(client_download(gate.url, work / "cache"))
    shutil.rmtree(work / "gate-client")
    if olah is not None:
        with olah_process(olah, hub.url, work / "olah") as mirror:
            r("olah cold").add(curl(mirror.url + BIG_PATH))
            r("olah warm").add(curl(mirror.url + BIG_PATH))
        shutil.rmtree(work / "olah")
    with metered(direct_meter, r("snapshot direct")):
        r("snapshot direct").seconds.append(client_snapshot(hub.url, work / "cache"))
    cold_snapshot = r("snapshot hubgate cold")
    with hubgate_process(hub.url, work / "gate-snapshot") as gate, metered(meter_for(gate), cold_snapshot):
        cold_snapshot.seconds.append(client_snapshot(gate.url, work / "cache"))
    shutil.rmtree(work / "gate-snapshot")
    if baseline is not None:
        with hubgate_process(hub.url, work / "gate-snapshot", source_tree=baseline) as gate:
            r("snapshot baseline cold").seconds.append(client_snapshot(gate.url, work / "cache"))
        shutil.rmtree(work / "gate-snapshot")


def measure_memory(
    hub: Process, work: Path, clients: int, source_tree: Path | None = None
) -> tuple[float, float]:
    """Peak RSS (MB) of one hubgate serving the big file to `clients` curls at once, cold and then warm."""
    tree = source_tree or ROOT
    with (
        hubgate_process(hub.url, work / "gate-memory", source_tree=tree) as gate,
        ThreadPoolExecutor(clients) as pool,
    ):
        list(pool.map(curl, [gate.url + BIG_PATH] * clients))
        cold = gate.peak_rss_mb()
        list(pool.map(curl, [gate.url + BIG_PATH] * clients))
        warm = gate.peak_rss_mb()
    shutil.rmtree(work / "gate-memory")
    return cold, warm


def _cpu_roles_per_gib(row: Row, gib: float) -> str:
    roles = [role for role in row.cpu if role != "wall"]
    return ", ".join(f"{role} {_cpu_per_gib(row, role, gib)}" for role in roles)


def _cpu_per_gib(row: Row, role: str, gib: float) -> str:
    seconds = row.cpu.get(role)
    return f"{seconds / gib / len(row.seconds):.2f}" if seconds is not None and row.seconds else "-"


def cpu_work_s(row: Row) -> float | None:
    """CPU seconds one transfer of `row` cost everything taking part in it (hubgate, the fake Hub and the
    client), averaged over the rounds; None when not measured."""
    spent = work_s(row.cpu)
    return spent / len(row.seconds) if spent and row.seconds else None


def cpu_floor_s(row: Row, cores: int) -> float | None:
    """The shortest time this machine allows for `row`'s CPU work: all of it spread over every core.

    On a 2-core loopback bench the raw direct download already keeps about one core busy (the fake Hub is
    a Python server), so whatever a proxy adds is paid from the same two cores: a ratio beyond this
    floor's is out of reach however well the proxy overlaps its work."""
    work = cpu_work_s(row)
    return None if work is None else work / cores


def report(
    results: Results, *, size: int, rounds: int, olah: str | None, shards: int, shard_size: int
) -> None:
    rows = results.rows
    mib = size / MiB
    gib = size / (1 << 30)
    raw = rows["raw direct"].best
    client = rows["client direct"].best
    print(f"file: {mib:.0f} MiB safetensors; best of {rounds} interleaved rounds; 127.0.0.1 loopback")
    print("ratios: raw = against curl straight from the fake Hub; client = huggingface_hub through the")
    print("subject against huggingface_hub straight from the fake Hub")
    cores = os.cpu_count() or 1
    print(f"{'':<26}{'MB/s':>8}{'raw':>7}{'client':>8}{'TTFB':>10}{'server CPU-s/GiB':>18}{'CPU-bound':>11}"
          "  target")  # fmt: skip

    def line(name: str, label: str, *, client_row: str | None = None, target: str = "") -> None:
        row = rows.get(name)
        if row is None:
            return
        rate = size / row.best / 1e6
        ratio_client = f"{client / rows[client_row].best:.2f}" if client_row and client_row in rows else ""
        ttfb = min(row.ttfb_s) if row.ttfb_s else float("nan")
        ttfb_text = f"{ttfb * 1000:.0f} ms" if ttfb == ttfb else ""
        cpu = _cpu_per_gib(row, "hubgate", gib)
        cpu_text = cpu if cpu != "-" else ""
        ratio = raw / row.best
        floor = cpu_floor_s(row, cores)
        ceiling = "" if floor is None else f"{raw / floor:.2f}"
        print(f"{label:<26}{rate:8.0f}{ratio:7.2f}{ratio_client:>8}{ttfb_text:>10}{cpu_text:>18}{ceiling:>11}"
              f"  {target}")  # fmt: skip

    line("raw direct", "direct (curl)")
    line("baseline cold", "baseline hubgate cold")
    line("baseline warm", "baseline hubgate warm")
    line("client direct", "direct (huggingface_hub)")
    line("hubgate cold", "hubgate cold", client_row="hubgate cold client", target=">= 0.6x, TTFB < 300 ms")
    line("hubgate warm", "hubgate warm (disk)", client_row="hubgate warm client", target=">= 1.2x")
    if olah is None:
        print("olah: not available (install it apart and pass --olah: see bench/harness.py olah_executable)")
    else:
        line("olah cold", "olah 0.5.4 cold")
        line("olah warm", "olah 0.5.4 warm")
    print(f"CPU-bound: the best raw ratio this machine's {cores} cores allow for the CPU work measured")
    print("  (all of it spread over every core; see cpu_floor_s). CPU-s per GiB by process:")
    for name in ("raw direct", "hubgate cold", "hubgate warm"):
        if name in rows and rows[name].cpu:
            print(f"  {name:<14} {_cpu_roles_per_gib(rows[name], gib)}")
    direct = rows["snapshot direct"].best
    through = rows["snapshot hubgate cold"].best
    print(
        f"snapshot_download {shards} x {shard_size / MiB:.0f} MiB shards: direct {direct:.2f} s, "
        f"hubgate cold {through:.2f} s = {through / direct:.2f}x the direct time  (target <= 1.3x)"
    )
    snapshot_gib = shards * shard_size / (1 << 30)
    floor = cpu_floor_s(rows["snapshot hubgate cold"], cores)
    if floor is not None:
        print(
            f"  CPU-bound: the cold snapshot's CPU work takes at least {floor:.2f} s on {cores} cores = "
            f"{max(floor, direct) / direct:.2f}x the direct time; CPU-s per GiB:"
        )
        for name in ("snapshot direct", "snapshot hubgate cold"):
            print(f"    {name:<22} {_cpu_roles_per_gib(rows[name], snapshot_gib)}")
    if "snapshot baseline cold" in rows:
        baseline = rows["snapshot baseline cold"].best
        print(f"  baseline hubgate cold {baseline:.2f} s = {baseline / direct:.2f}x")
    print(f"peak RSS serving to N clients at once, cold: {results.rss_cold_mb:.0f} MB, then warm: "
          f"{results.rss_warm_mb:.0f} MB  (target < 200 MB)")  # fmt: skip
    if results.baseline_rss is not None:
        print(
            f"  baseline hubgate: cold {results.baseline_rss[0]:.0f} MB, "
            f"warm {results.baseline_rss[1]:.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--shard-mib", type=int, default=50)
    parser.add_argument("--olah", default=None, help="olah-cli (default: $HUBGATE_BENCH_OLAH, PATH)")
    parser.add_argument("--work-dir", type=Path, default=None, help="data directories (default: TMPDIR)")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another hubgate source tree (e.g. `git archive` of an older commit) measured in the same run",
    )
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("bench.throughput needs curl (the raw client every subject is measured with)")
    size = args.size_mib * MiB
    shard_size = args.shard_mib * MiB
    olah = olah_executable(args.olah)
    work = Path(tempfile.mkdtemp(prefix="hubgate-bench-", dir=args.work_dir))
    results = Results()
    print(f"machine: {os.cpu_count()} cores; load average before: {load_average()}", flush=True)
    disk_before = disk_report(work)
    extra = ["--shards", str(args.shards), "--shard-size", str(shard_size)]
    try:
        with fakehub_process(big_file_size=size, module="bench.fakehub_shards", extra_args=extra) as hub:

            def meter_for(gate: Process | None) -> CpuMeter:
                roles = {hub.popen.pid: "fake Hub", os.getpid(): "clients"}
                if gate is not None:
                    roles[gate.popen.pid] = "hubgate"
                return CpuMeter(roles)

            for number in range(args.rounds):
                measure_round(hub, work, results, olah, meter_for, args.baseline)
                print(f"round {number + 1}/{args.rounds} done; load average {load_average()}", flush=True)
            try:
                results.rss_cold_mb, results.rss_warm_mb = measure_memory(hub, work, args.clients)
                if args.baseline is not None:
                    results.baseline_rss = measure_memory(hub, work, args.clients, args.baseline)
            except Exception as exc:  # the figures of the rounds are still worth printing
                print(f"memory phase failed: {type(exc).__name__}: {exc}", flush=True)
        disk_after = disk_report(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, size=size, rounds=args.rounds, olah=olah, shards=args.shards, shard_size=shard_size)
    print(f"load average after: {load_average()}")
    print(f"1 GiB written to the data directory's disk before the run: {disk_before}; after: {disk_after}")


if __name__ == "__main__":
    main()
