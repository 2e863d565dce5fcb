"""Run hubgate and the public scanners (each in its own throwaway virtualenv) on the generated samples and
print a technique x tool table. Not a test: ``python -m tests.scanners.compare_tools SAMPLES_DIR``.

Cells: D = flagged/detected, E = the tool failed or refused (a fail-closed gate would quarantine),
. = reported clean. For benign samples, anything but '.' is a false positive.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from scanners import ScanStatus, scan_file, worst_status
from tests.scanners import make_benign, make_malicious

Runner = Callable[[Path], str]


def _run(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # Each tool runs in a throwaway working directory: `fickling --check-safety` writes safety_results.json
    # into its current directory, and one such file once ended up committed at the top of the checkout.
    with tempfile.TemporaryDirectory(prefix="hubgate-compare-") as scratch:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=scratch
        )


def picklescan(venv: Path) -> Runner:
    def run(path: Path) -> str:
        result = _run([str(venv / "bin/picklescan"), "-p", str(path)])
        if result.returncode == 1:
            return "D"
        return "E" if result.returncode != 0 or "ERROR" in result.stdout + result.stderr else "."

    return run


def modelscan(venv: Path) -> Runner:
    def run(path: Path) -> str:
        result = _run([str(venv / "bin/modelscan"), "-p", str(path)])
        return {0: ".", 1: "D"}.get(result.returncode, "E")

    return run


def modelaudit(venv: Path) -> Runner:
    def run(path: Path) -> str:
        result = _run([str(venv / "bin/modelaudit"), "scan", "--no-cache", "-q", str(path)])
        return {0: ".", 1: "D"}.get(result.returncode, "E")

    return run


def fickling(venv: Path) -> Runner:
    def run(path: Path) -> str:
        result = _run([str(venv / "bin/fickling"), "--check-safety", str(path)])
        return {0: ".", 1: "D"}.get(result.returncode, "E")

    return run


def hubgate(path: Path) -> str:
    verdict = worst_status(scan_file(path, name_hint=path.name))
    return {ScanStatus.CLEAN: ".", ScanStatus.FLAGGED: "D"}.get(verdict, "E")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--venvs", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    # The tools run elsewhere (see _run), so every path handed to them must be absolute.
    args.out, args.venvs = args.out.resolve(), args.venvs.resolve()
    tools: dict[str, Runner] = {"hubgate": hubgate}
    for name, factory in (
        ("picklescan", picklescan),
        ("modelscan", modelscan),
        ("modelaudit", modelaudit),
        ("fickling", fickling),
    ):
        venv = args.venvs / f"venv-{name}"
        if venv.exists():
            tools[name] = factory(venv)
    with tempfile.TemporaryDirectory() as markers:
        malicious = make_malicious.build_all(args.out / "malicious", Path(markers))
        benign = make_benign.build_all(args.out / "benign")
        rows = []
        for kind, samples in (("malicious", malicious), ("benign", benign)):
            for sample in samples:
                cells = {tool: runner(sample.path) for tool, runner in tools.items()}
                reference = getattr(sample, "reference", getattr(sample, "description", ""))
                rows.append({"kind": kind, "name": sample.name, "reference": reference, **cells})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        fired = list(Path(markers).iterdir())
    (args.out / "comparison.json").write_text(json.dumps(rows, indent=1))
    names = list(tools)
    print("| kind | sample | reference | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for row in rows:
        print(
            f"| {row['kind']} | {row['name']} | {row['reference']} | "
            + " | ".join(row[n] for n in names)
            + " |"
        )
    for kind, good in (("malicious", "D"), ("benign", ".")):
        subset = [r for r in rows if r["kind"] == kind]
        summary = ", ".join(f"{n} {sum(r[n] == good for r in subset)}/{len(subset)}" for n in names)
        print(f"\n{kind}: correct verdicts: {summary}")
    print(f"\npayload markers created during the run: {len(fired)}")
    shutil.rmtree(args.out / "malicious", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
