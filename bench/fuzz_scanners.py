"""A longer fuzz run of the primary engine than the test suite's bounded one.

    python bench/fuzz_scanners.py [--seconds 600] [--seed 1]

Seeds are the generated benign and malicious samples; each round mutates one (bit flips, truncation,
splicing, byte insertion) and scans it. The properties are those of tests/scanners/test_fuzz.py (see
tests/scanners/fuzz_oracle.py): a verdict for every input, within the time limit, within a memory budget
(traced for one case in TRACE_EVERY, and the process's peak RSS), and no CLEAN verdict the reference
parsers disagree with (a loadable dangerous pickle, not-text as text, a safetensors or npy header the
reference library rejects). The first failing input is saved next to the work folder.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scanners.limits import Limits
from scanners.runner import guarded, scan_primary
from tests.scanners.fuzz_oracle import violation

LIMITS = Limits(
    time_s=10.0,
    max_decompressed=64 << 20,
    max_spool_bytes=128 << 20,
    max_scan_inflated=128 << 20,
    max_decoder_memory=64 << 20,
)
MAX_SEED_BYTES = 2 << 20
MEMORY_BUDGET_MIB = 300
TRACED_BUDGET_MIB = 128
TRACE_EVERY = 20


def seeds(workdir: Path) -> list[bytes]:
    """Generate the sample sets in a child process, so torch and friends do not count in our RSS."""
    root = Path(__file__).resolve().parents[1]
    for module, extra in (("make_benign", []), ("make_malicious", [str(workdir / "markers")])):
        subprocess.run(
            [sys.executable, "-W", "ignore", "-m", f"tests.scanners.{module}", str(workdir / module), *extra],
            cwd=root,
            check=True,
            capture_output=True,
        )
    found = [p for p in workdir.rglob("*") if p.is_file() and "markers" not in p.parts]
    return [p.read_bytes() for p in found if p.stat().st_size <= MAX_SEED_BYTES]


def mutate(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        choice = rng.random()
        if not buffer:
            buffer.extend(rng.randbytes(16))
        elif choice < 0.4:
            buffer[rng.randrange(len(buffer))] = rng.randrange(256)
        elif choice < 0.55:
            del buffer[rng.randrange(len(buffer)) :]
        elif choice < 0.7:
            position = rng.randrange(len(buffer))
            buffer[position:position] = rng.randbytes(rng.randint(1, 64))
        elif choice < 0.85:
            other = rng.choice(corpus)
            cut = rng.randrange(len(buffer))
            buffer[cut:] = other[rng.randrange(max(1, len(other))) :]
        else:
            position = rng.randrange(len(buffer))
            buffer[position : position + 8] = rng.choice(
                [b"\xff" * 8, b"\x00" * 8, b"\x7f\xff\xff\xff\xff\xff\xff\xff"]
            )
    return bytes(buffer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    statuses: Counter[str] = Counter()
    slowest = 0.0
    peak_traced = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        corpus = seeds(workdir)
        target = workdir / "case.bin"
        deadline = time.monotonic() + args.seconds
        rounds = 0
        while time.monotonic() < deadline:
            data = mutate(rng.choice(corpus), rng, corpus)
            target.write_bytes(data)
            traced = rounds % TRACE_EVERY == 0
            if traced:
                tracemalloc.start()
            report = guarded("hubgate", lambda: scan_primary(target, limits=LIMITS))
            traced_mib = tracemalloc.get_traced_memory()[1] / (1 << 20) if traced else 0.0
            if traced:
                tracemalloc.stop()
            statuses[report.status.value] += 1
            slowest = max(slowest, report.duration_s)
            peak_traced = max(peak_traced, traced_mib)
            rounds += 1
            problem = violation(data, report)
            if report.duration_s > LIMITS.time_s + 5:
                problem = f"scan took {report.duration_s:.1f} s"
            elif traced_mib > TRACED_BUDGET_MIB:
                problem = f"scan traced {traced_mib:.0f} MiB"
            if problem is not None:
                (workdir.parent / "hubgate-fuzz-failure.bin").write_bytes(data)
                print(f"FAIL: {problem} ({report.format}, {report.status.value})", file=sys.stderr)
                return 1
        if any((workdir / "markers").iterdir()):
            print("FAIL: a payload ran", file=sys.stderr)
            return 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rounds} cases in {args.seconds:.0f} s, statuses {dict(statuses)}")
    print(f"slowest scan {slowest:.2f} s, peak traced {peak_traced:.0f} MiB, peak RSS {peak:.0f} MiB")
    return 0 if peak < MEMORY_BUDGET_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
