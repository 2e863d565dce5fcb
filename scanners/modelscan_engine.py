"""ProtectAI's modelscan as a second opinion. It decides by file extension, while hubgate stores blobs
by digest, so it is shown the file through a symlink named with the extension our sniffing found.
Its issues become findings under their own rule id; its errors and refusals are an ERROR report."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from .base import Finding, ScanReport, ScanStatus, Severity, status_for
from .rules import MODELSCAN_ISSUE

ENGINE = "modelscan"

# Our format names (as reported by the primary engine) -> the extension modelscan dispatches on.
_EXTENSION_FOR_FORMAT = {
    "pickle": ".pkl",
    "pytorch-legacy": ".pt",
    "pytorch-zip": ".pt",
    "torchscript": ".pt",
    "npy": ".npy",
    "npy-object": ".npy",
    "npz": ".npz",
    "keras": ".keras",
    "keras-h5": ".h5",
}
_SEVERITY = {
    "LOW": Severity.LOW,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}


def supports(fmt: str) -> bool:
    """Formats modelscan can read. Joblib streams are left out: their raw array bytes between
    opcodes make its pickletools parser fail on every benign file. Its .keras scanner needs
    TensorFlow, and its NumPy scanner calls a private NumPy function that NumPy 2.3 removed, so
    those formats go to it only where their dependency works."""
    if fmt not in _EXTENSION_FOR_FORMAT:
        return False
    if fmt == "keras":
        return importlib.util.find_spec("tensorflow") is not None  # its .keras scanner needs TensorFlow
    if fmt == "keras-h5":
        return importlib.util.find_spec("h5py") is not None
    return not fmt.startswith(("npy", "npz")) or _numpy_scanner_works()


@cache
def _numpy_scanner_works() -> bool:
    try:
        from numpy.lib import format as npy_format  # noqa: PLC0415
    except ImportError:
        return False
    return hasattr(npy_format, "_check_version")


def scan(path: Path, fmt: str) -> ScanReport:
    """Run modelscan on ``path`` as the format ``fmt``; raises whatever modelscan raises."""
    # Imported by name: it is heavy (only loaded when used) and ships no type information.
    engine = importlib.import_module("modelscan.modelscan")
    settings = importlib.import_module("modelscan.settings")

    with tempfile.TemporaryDirectory(prefix="hubgate-modelscan-") as tmp:
        alias = Path(tmp) / f"model{_EXTENSION_FOR_FORMAT[fmt]}"
        os.symlink(path.resolve(), alias)
        result: dict[str, Any] = engine.ModelScan(settings=copy.deepcopy(settings.DEFAULT_SETTINGS)).scan(
            alias
        )
    return _to_report(result, fmt, alias.name, label=path.name)


def _to_report(result: dict[str, Any], fmt: str, alias: str, *, label: str) -> ScanReport:
    findings = tuple(_finding(issue, alias=alias, label=label) for issue in result.get("issues", []))
    errors = [f"{e.get('category', 'error')}: {e.get('description', '')}" for e in result.get("errors", [])]
    skipped = result.get("summary", {}).get("skipped", {}).get("skipped_files", [])
    refused = [s for s in skipped if s.get("source") == alias]
    errors += [f"modelscan skipped the file: {s.get('description', '')}" for s in refused]
    status = status_for(findings, errors=errors)
    if status is ScanStatus.CLEAN and not result.get("summary", {}).get("scanned", {}).get("total_scanned"):
        status, errors = ScanStatus.ERROR, [*errors, "modelscan scanned nothing"]
    return ScanReport(
        scanner=ENGINE,
        status=status,
        format=fmt,
        findings=findings,
        message="; ".join(errors)[:2000],
    )


def _finding(issue: dict[str, Any], *, alias: str, label: str) -> Finding:
    module, operator = issue.get("module", ""), issue.get("operator", "")
    return MODELSCAN_ISSUE.finding(
        str(issue.get("description", "unsafe operator")),
        location=str(issue.get("source", "")).replace(alias, label, 1),
        evidence=f"{module}.{operator}".strip("."),
        severity=_SEVERITY.get(str(issue.get("severity", "")).upper(), Severity.HIGH),
    )
