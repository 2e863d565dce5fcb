"""A cold PyTorch zip checkpoint through hubgate, streamed while it downloads, vs raw direct, in one run.

    python -m bench.checkpoint_stream [--size-mib 1024] [--rounds 3]

The checkpoint is real `torch.save` output (bench/fakehub_extra.py: `archive/data.pkl`, the records, a
big float16 storage of random bytes). Raw direct is a plain GET from the fake Hub (its 302 followed to
the fake CDN) whose bytes are thrown away: no disk, no hashing. Through hubgate the file is cold (a fresh
hubgate on an empty data dir per round, which has already served one small file of another repo), and
the same raw client reads it; the real huggingface_hub client is measured too. hubgate spools, hashes
(sha256 and the git sha1), walks the local headers, scans data.pkl before it lets the rest flow, scans
the whole file, stores it, and only then hands out the last MiB. Target (issue #14): hubgate cold >= 0.5x
raw direct.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.cpu import CpuMeter, cpu_bound_ratio, cpu_per, work_s
from bench.fakehub_extra import TORCH_FILE_PATH, TORCH_MODEL_ID, build_torch_zip
from bench.gate import Download, cold_through_gate, hf_client, median_download, raw_client
from bench.harness import fakehub_process

SAFETENSORS = "/acme/big-model/resolve/main/model.safetensors"


def _line(name: str, run: Download, ratio: float) -> str:
    mib = run.size / (1 << 20)
    ttfb = "      -" if run.ttfb_s != run.ttfb_s else f"{run.ttfb_s * 1000:7.1f}"  # NaN: no first-byte time
    return f"  {name:<34} {run.total_s:6.2f} s {mib / run.total_s:7.0f} MiB/s  TTFB {ttfb} ms  {ratio:5.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="timed downloads per measurement (median)")
    args = parser.parse_args()
    size = args.size_mib << 20
    build_torch_zip(size)  # before the fake Hub starts, so its start-up only reads digests
    path = f"/{TORCH_MODEL_ID}/resolve/main/{TORCH_FILE_PATH}"
    work = Path(tempfile.mkdtemp(prefix="hubgate-bench-checkpoint-"))
    cpu: dict[str, dict[str, float]] = {name: {} for name in ("direct", "cold", "st direct", "st cold")}
    started = time.monotonic()
    try:
        with fakehub_process(
            big_file_size=size, module="bench.fakehub_extra", extra_args=["--torch-zip-size", str(size)]
        ) as hub:
            discard = raw_client(None)
            roles = {hub.popen.pid: "fake Hub", os.getpid(): "clients"}
            meter = CpuMeter(roles)
            direct = median_download(hub.url + path, args.rounds, discard, meter=meter, cpu=cpu["direct"])
            cold = cold_through_gate(hub.url, work, path, args.rounds, discard, roles=roles, cpu=cpu["cold"])
            cold_hf = cold_through_gate(hub.url, work, path, args.rounds, hf_client(work))
            st_direct = median_download(
                hub.url + SAFETENSORS, args.rounds, discard, meter=meter, cpu=cpu["st direct"]
            )
            st_cold = cold_through_gate(
                hub.url, work, SAFETENSORS, args.rounds, discard, roles=roles, cpu=cpu["st cold"]
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = direct.total_s / cold.run.total_s
    print(f"PyTorch zip checkpoint (torch.save), {direct.size / (1 << 20):.0f} MiB, medians of {args.rounds}")
    print(_line("raw direct (302 + fake CDN, discarded)", direct, 1.0))
    print(_line("hubgate cold, streamed (raw, discarded)", cold.run, ratio))
    print(_line("hubgate cold, hf_hub_download", cold_hf.run, direct.total_s / cold_hf.run.total_s))
    print(f"  target: hubgate cold >= 0.50x raw direct: {'ok' if ratio >= 0.5 else 'MISSED'}")
    print("for reference, a safetensors file of the same size in the same run (streamed since issue #2):")
    print(_line("raw direct (302 + fake CDN, discarded)", st_direct, 1.0))
    print(
        _line("hubgate cold, streamed (raw, discarded)", st_cold.run, st_direct.total_s / st_cold.run.total_s)
    )
    cores = os.cpu_count() or 1
    gib = direct.size / (1 << 30)
    print(f"CPU-s per GiB by process, and the CPU-bound ceiling (the best ratio {cores} cores allow for it):")
    for name, rows, base in (("checkpoint cold", "cold", direct), ("safetensors cold", "st cold", st_direct)):
        spent = cpu[rows]
        ceiling = cpu_bound_ratio(base.total_s, work_s(spent) / args.rounds, cores)
        ceiling_text = "-" if ceiling is None else f"{ceiling:.2f}x"
        print(f"  {name:<17} {cpu_per(spent, gib * args.rounds, 'GiB')}; ceiling {ceiling_text}")
    print(f"  raw direct        {cpu_per(cpu['direct'], gib * args.rounds, 'GiB')}")
    print(f"total bench time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
