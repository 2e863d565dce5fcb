"""``scan_file`` and ``scan_tree``: run the primary engine and modelscan on a file and report both.

This module holds the only ``except Exception`` of the package: whatever a scanner raises on hostile
input becomes an ERROR report, never a crash of the caller and never a clean verdict.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import modelscan_engine
from .base import ScanReport, ScanStatus, status_for
from .blobs import FileSource, file_blob
from .engine import EngineContext, scan_blob
from .external_data import OnnxExternalData, check_external_data
from .limits import DEFAULT_LIMITS, Deadline, Limits
from .rules import ARCHIVE_LINK

ENGINE = "hubgate"


def scan_file(
    path: Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    name_hint: str | None = None,
    external_data: OnnxExternalData | None = None,
) -> tuple[ScanReport, ...]:
    """Scan one file with every engine. ``name_hint`` is the file's repository path (blobs are stored
    under their digest, so the name is only a hint for formats that have no magic). ``external_data``
    declares the file to be the tensor data of an ONNX graph (see :mod:`scanners.external_data`); the
    verdict then holds for that declaration only."""
    path = Path(path)
    primary = guarded(
        ENGINE, lambda: scan_primary(path, limits=limits, name_hint=name_hint, external_data=external_data)
    )
    reports = [primary]
    if modelscan_engine.supports(primary.format):
        reports.append(guarded(modelscan_engine.ENGINE, lambda: modelscan_engine.scan(path, primary.format)))
    return tuple(reports)


def scan_primary(
    path: Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    name_hint: str | None = None,
    external_data: OnnxExternalData | None = None,
) -> ScanReport:
    """The primary engine alone; raises on I/O errors (``guarded`` turns that into ERROR)."""
    started = time.monotonic()
    ctx = EngineContext(limits=limits, deadline=Deadline(limits.time_s))
    label = name_hint or path.name
    source = FileSource(path)
    ctx.sources.append(source)
    try:
        blob = file_blob(source, label)
        ctx.source_size = blob.size
        if external_data is not None:
            fmt = check_external_data(blob, external_data, ctx)
        else:
            fmt = scan_blob(ctx, blob, name_hint=name_hint or path.name)
    finally:
        for opened in ctx.sources:
            opened.close()
    findings = tuple(sorted(ctx.findings, key=lambda f: -f.severity.rank))
    status = status_for(findings, errors=ctx.errors, unsupported=bool(ctx.unsupported))
    message = "; ".join(ctx.errors)[:2000]
    if status is ScanStatus.UNSUPPORTED:
        message = f"unrecognised binary content: {', '.join(ctx.unsupported)[:500]}"
    return ScanReport(ENGINE, status, fmt, findings, message, time.monotonic() - started, ctx.metadata)


def guarded(engine: str, run: Callable[[], ScanReport]) -> ScanReport:
    started = time.monotonic()
    try:
        report = run()
    except Exception as exc:  # noqa: BLE001 - the one place a scanner crash becomes an ERROR report
        return ScanReport(
            engine,
            ScanStatus.ERROR,
            "unknown",
            (),
            f"{type(exc).__name__}: {exc}"[:2000],
            time.monotonic() - started,
        )
    if report.duration_s == 0.0:
        report = ScanReport(
            report.scanner,
            report.status,
            report.format,
            report.findings,
            report.message,
            time.monotonic() - started,
            report.metadata,
        )
    return report


def iter_tree(root: Path) -> Iterator[Path]:
    """Every file under ``root`` (symlinks included, not followed), in a stable order."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name
        for name in dirs:
            candidate = Path(folder) / name
            if candidate.is_symlink():
                yield candidate


def scan_tree(
    root: Path,
    *,
    limits: Limits = DEFAULT_LIMITS,
    on_file: Callable[[Path], None] | None = None,
) -> dict[Path, tuple[ScanReport, ...]]:
    """Scan every file under ``root``; the name hint is the path relative to ``root``."""
    root = Path(root)
    results: dict[Path, tuple[ScanReport, ...]] = {}
    for path in iter_tree(root):
        if on_file is not None:
            on_file(path)
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            results[path] = (_symlink_report(path, relative),)
            continue
        results[path] = scan_file(path, limits=limits, name_hint=relative)
    return results


def _symlink_report(path: Path, relative: str) -> ScanReport:
    target = ""
    with contextlib.suppress(OSError):
        target = os.readlink(path)
    finding = ARCHIVE_LINK.finding(
        "symbolic link in the tree (not followed)", location=relative, evidence=target
    )
    return ScanReport(ENGINE, status_for((finding,)), "symlink", (finding,), "")
