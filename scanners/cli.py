"""``python -m scanners PATH...`` (and ``hubgate scan``): exit 0 when every file is clean, 1 when
something is flagged or unrecognised, 2 when a scan failed (and nothing was flagged) or on bad usage."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from . import SCANNER_VERSION
from .base import ScanReport, ScanStatus, worst_status
from .limits import DEFAULT_LIMITS, Limits
from .output import render_human, render_json, render_sarif
from .runner import iter_tree, scan_file, scan_tree

EXIT_CLEAN, EXIT_FLAGGED, EXIT_ERROR = 0, 1, 2
_PROGRESS_THRESHOLD = 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scanners",
        description="Scan model files and folders for code-execution payloads and unsafe content.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to scan")
    parser.add_argument("--format", choices=("human", "json", "sarif"), default="human", dest="output")
    parser.add_argument("--verbose", "-v", action="store_true", help="also list clean files and advisories")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_LIMITS.time_s, help="seconds per file")
    parser.add_argument("--version", action="version", version=SCANNER_VERSION)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # modelscan logs its own parse errors at ERROR level; we report them in its ScanReport instead.
    logging.getLogger("modelscan").setLevel(logging.CRITICAL)
    limits = Limits(time_s=args.time_limit)
    results: dict[Path, tuple[ScanReport, ...]] = {}
    missing = [p for p in args.paths if not p.exists() and not p.is_symlink()]
    for path in missing:
        print(f"error: {path}: no such file or folder", file=sys.stderr)
    progress = _Progress(sys.stderr, enabled=args.output == "human" and sys.stderr.isatty())
    for path in args.paths:
        if path in missing:
            continue
        if path.is_dir() and not path.is_symlink():
            progress.start(sum(1 for _ in iter_tree(path)))
            results.update(scan_tree(path, limits=limits, on_file=progress.step))
            progress.finish()
        else:
            results[path] = scan_file(path, limits=limits, name_hint=path.name)
    if args.output == "json":
        print(render_json(results, scanner_version=SCANNER_VERSION))
    elif args.output == "sarif":
        print(render_sarif(results, scanner_version=SCANNER_VERSION))
    else:
        print(render_human(results, verbose=args.verbose))
    return exit_code(results.values(), usage_error=bool(missing))


def exit_code(all_reports: object, *, usage_error: bool = False) -> int:
    verdicts = {worst_status(reports) for reports in all_reports}  # type: ignore[attr-defined]
    if ScanStatus.FLAGGED in verdicts:
        return EXIT_FLAGGED
    if ScanStatus.ERROR in verdicts or usage_error:
        return EXIT_ERROR
    if ScanStatus.UNSUPPORTED in verdicts:
        return EXIT_FLAGGED
    return EXIT_CLEAN


class _Progress:
    """A one-line progress bar on a terminal, for folders with many files."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._total = 0
        self._done = 0

    def start(self, total: int) -> None:
        self._total, self._done = total, 0
        self._active = self._enabled and total >= _PROGRESS_THRESHOLD

    def step(self, path: Path) -> None:
        self._done += 1
        if not getattr(self, "_active", False):
            return
        width = 30
        filled = width * self._done // max(self._total, 1)
        name = str(path)[-50:]
        self._stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self._done}/{self._total} {name:<50}"
        )
        self._stream.flush()

    def finish(self) -> None:
        if getattr(self, "_active", False):
            self._stream.write("\r" + " " * 100 + "\r")
            self._stream.flush()
