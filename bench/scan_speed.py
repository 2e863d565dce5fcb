"""Scan speed and memory on ~1 GiB checkpoints, as ratios against sha256 of the same file (the floor for
reading it) and against picklescan, modelscan and modelaudit measured in the same run.

    python bench/scan_speed.py [--workdir /tmp/hubgate-bench] [--size-gib 1] [--venvs /tmp]

Every scanner runs in its own fresh interpreter (the public tools from their throwaway virtualenvs,
``/tmp/venv-<tool>``): the library is imported first, then only the scan call is timed, and the
child reports its own peak RSS. Files are built by a child process too, so no parent memory is
inherited, and are read once before timing so every measurement sees a warm page cache. hubgate is
timed twice in one process: "cold" includes the lazy imports of its format scanners, "warm" is what a
long-lived scan worker pays. Wall-clock times of each command line are reported as well.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BUILD = """
import sys, torch
from safetensors.torch import save_file
tensors, zip_path, legacy_path, st_path = int(sys.argv[1]), *sys.argv[2:]
generator = torch.Generator().manual_seed(0)
state = {f"layers.{i}.weight": torch.randn(4096, 1024, generator=generator) for i in range(tensors)}
torch.save(state, zip_path)
torch.save(state, legacy_path, _use_new_zipfile_serialization=False)
save_file(state, st_path)
"""

_TIMER = """
import json, resource, sys, time
{setup}
path = sys.argv[1]
times = []
for _ in range({repeat}):
    started = time.perf_counter()
    result = {call}
    times.append(time.perf_counter() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
summary = {{"cold": times[0], "warm": min(times[1:] or times), "peak_mib": peak, "result": {verdict}}}
print(json.dumps(summary))
"""

SCANNERS = {
    "hubgate": (
        "from pathlib import Path\nfrom scanners.runner import scan_primary",
        "scan_primary(Path(path))",
        "result.status.value",
    ),
    "picklescan": (
        "from picklescan.scanner import scan_file_path",
        "scan_file_path(path)",
        "f'{result.issues_count} issues, scan_err={result.scan_err}'",
    ),
    "modelscan": (
        "from modelscan.modelscan import ModelScan",
        "ModelScan().scan(path)",
        "f\"{result['summary']['total_issues']} issues, {len(result['errors'])} errors\"",
    ),
    "modelaudit": (
        "from modelaudit.core import scan_model_directory_or_file",
        "scan_model_directory_or_file(path)",
        "'done'",
    ),
}
CLI = {
    "picklescan": ["venv-picklescan/bin/picklescan", "-p"],
    "modelscan": ["venv-modelscan/bin/modelscan", "-p"],
    "modelaudit": ["venv-modelaudit/bin/modelaudit", "scan", "--no-cache", "-q"],
}


def make_files(workdir: Path, size_gib: float) -> dict[str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {
        "pytorch-zip": workdir / "model_zip.pt",
        "pytorch-legacy": workdir / "model_legacy.bin",
        "safetensors": workdir / "model.safetensors",
    }
    if not all(p.exists() for p in paths.values()):
        tensors = max(1, int(size_gib * 64))  # 16 MiB fp32 tensors
        command = [sys.executable, "-c", _BUILD, str(tensors), *(str(p) for p in paths.values())]
        subprocess.run(command, check=True)
    return paths


def sha256_seconds(path: Path) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return time.perf_counter() - started


def in_process(python: str, scanner: str, path: Path) -> dict[str, object]:
    setup, call, verdict = SCANNERS[scanner]
    repeat = 3 if scanner == "hubgate" else 2
    code = _TIMER.format(setup=setup, call=call, verdict=verdict, repeat=repeat)
    result = subprocess.run(
        [python, "-c", code, str(path)], capture_output=True, text=True, check=False, cwd=ROOT
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        return {"error": (result.stderr or result.stdout).strip().splitlines()[-1:]}
    parsed: dict[str, object] = json.loads(lines[-1])
    return parsed


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
    return time.perf_counter() - started


def _markdown_row(row: dict[str, object]) -> str:
    ours = row["hubgate"]
    assert isinstance(ours, dict)
    cells = []
    for name in ("picklescan", "modelscan", "modelaudit"):
        other = row[name]
        assert isinstance(other, dict)
        cells.append(f"{other['warm']:.3g} s" if "warm" in other else "error")
    sha = float(str(row["sha256_s"]))
    warm, cold, peak = float(ours["warm"]), float(ours["cold"]), float(ours["peak_mib"])
    return (
        f"| {row['file']} ({row['size_mib']} MiB) | {sha} s | {warm:.4f} s ({cold:.3f} s) | {warm / sha:.2%} "
        f"| {peak:.0f} MiB | " + " | ".join(cells) + " |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/hubgate-bench"))
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--venvs", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    paths = make_files(args.workdir, args.size_gib)
    pythons = {"hubgate": sys.executable}
    pythons |= {
        name: str(args.venvs / f"venv-{name}/bin/python")
        for name in ("picklescan", "modelscan", "modelaudit")
    }
    table = []
    for kind, path in paths.items():
        sha256_seconds(path)  # warm the page cache
        floor = min(sha256_seconds(path) for _ in range(2))
        row: dict[str, object] = {
            "file": kind,
            "size_mib": round(path.stat().st_size / 2**20),
            "sha256_s": round(floor, 3),
        }
        for name, python in pythons.items():
            row[name] = in_process(python, name, path)
        for name, command in CLI.items():
            row[f"{name}_cli_s"] = round(wall([str(args.venvs / command[0]), *command[1:], str(path)]), 2)
        row["hubgate_cli_primary_and_modelscan_s"] = round(
            wall([sys.executable, "-m", "scanners", str(path)]), 2
        )
        table.append(row)
        print(json.dumps(row), flush=True)
    columns = [
        "file",
        "sha256",
        "hubgate warm (cold)",
        "% of sha256",
        "peak RSS",
        "picklescan",
        "modelscan",
        "modelaudit",
    ]
    print("\n| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for row in table:
        print(_markdown_row(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
