"""Download throughput through hubgate vs straight from the fake Hub, in one run.

    python -m bench.throughput [--size-mib 1024] [--clients 8]

Prints: direct, cold (upstream fetch + verify + store) and warm (from the store) rates of the real
huggingface_hub client for one big LFS file, as ratios of the direct rate; the median and p95 time to
first byte of a warm HEAD + GET of a small file; hubgate's peak RSS while serving the big file cold
and warm to N clients at once. Targets (issue #2): warm >= 0.8x, cold >= 0.6x, TTFB median < 5 ms,
peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import hf_hub_download

from bench.harness import fakehub_process, hubgate_process

BIG_REPO = "acme/big-model"
BIG_FILE = "model.safetensors"
SMALL_REPO = "acme/tiny-model"
SMALL_FILE = "config.json"


def _timed_download(endpoint: str, cache: Path) -> float:
    started = time.perf_counter()
    hf_hub_download(BIG_REPO, BIG_FILE, cache_dir=cache, endpoint=endpoint)
    elapsed = time.perf_counter() - started
    shutil.rmtree(cache)
    return elapsed


def _stream_to_nowhere(url: str) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=600)
    connection.request("GET", parts.path)
    response = connection.getresponse()
    total = 0
    while chunk := response.read(1 << 20):
        total += len(chunk)
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{url}: {response.status}")
    return total


def _ttfb_ms(base: str, rounds: int) -> tuple[float, float]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    path = f"/{SMALL_REPO}/resolve/main/{SMALL_FILE}"
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        connection.request("HEAD", path)
        connection.getresponse().read()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read(1)
        samples.append((time.perf_counter() - started) * 1000)
        response.read()
    connection.close()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--ttfb-rounds", type=int, default=300)
    args = parser.parse_args()
    size = args.size_mib << 20
    work = Path(tempfile.mkdtemp(prefix="hubgate-bench-"))
    try:
        with fakehub_process(big_file_size=size) as hub:
            direct = _timed_download(hub.url, work / "direct")
            with hubgate_process(hub.url, work / "hubgate-a") as gate:
                cold = _timed_download(gate.url, work / "cold")
                warm = _timed_download(gate.url, work / "warm")
                _ttfb_ms(gate.url, 20)  # warm the small file into the store
                ttfb_median, ttfb_p95 = _ttfb_ms(gate.url, args.ttfb_rounds)
            url_path = f"/{BIG_REPO}/resolve/main/{BIG_FILE}"
            with hubgate_process(hub.url, work / "hubgate-b") as gate:
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(_stream_to_nowhere, [gate.url + url_path] * args.clients))
                rss_cold = gate.peak_rss_mb()
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(_stream_to_nowhere, [gate.url + url_path] * args.clients))
                rss_after_warm = gate.peak_rss_mb()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mib = size / (1 << 20)
    print(f"file: {mib:.0f} MiB LFS; client: huggingface_hub hf_hub_download; 2-core loopback")
    print(f"direct from fake Hub : {direct:6.2f} s  {mib / direct:7.1f} MiB/s  1.00x")
    for name, seconds, target in (("hubgate cold", cold, 0.6), ("hubgate warm", warm, 0.8)):
        rate = f"{mib / seconds:7.1f} MiB/s"
        print(f"{name:<21}: {seconds:6.2f} s  {rate}  {direct / seconds:.2f}x  (target >= {target}x)")
    print(
        f"warm HEAD+GET TTFB   : median {ttfb_median:.2f} ms, p95 {ttfb_p95:.2f} ms  (target median < 5 ms)"
    )
    print(f"peak RSS, {args.clients} clients cold : {rss_cold:.0f} MB  (target < 200 MB)")
    print(f"peak RSS, then warm   : {rss_after_warm:.0f} MB  (target < 200 MB)")


if __name__ == "__main__":
    main()
