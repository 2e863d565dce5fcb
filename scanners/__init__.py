"""hubgate's model-file detection engine: a pure, synchronous library (no network, no framework
imports, never executes scanned content).

    reports = scanners.scan_file(path, name_hint="pytorch_model.bin")
    verdict = scanners.worst_status(reports)
"""

from __future__ import annotations

from .base import Finding, ScanReport, ScanStatus, Severity, worst_status
from .context import Scanner
from .external_data import OnnxExternalData, TensorRange
from .limits import DEFAULT_LIMITS, Limits
from .names import interpretation, representative_name
from .rules import RULESET_VERSION
from .runner import scan_file, scan_tree

__version__ = "0.1.0"
SCANNER_VERSION = f"hubgate-scanners/{__version__}+rules.{RULESET_VERSION}"

__all__ = [
    "DEFAULT_LIMITS",
    "RULESET_VERSION",
    "SCANNER_VERSION",
    "Finding",
    "Limits",
    "OnnxExternalData",
    "ScanReport",
    "ScanStatus",
    "Scanner",
    "Severity",
    "TensorRange",
    "interpretation",
    "representative_name",
    "scan_file",
    "scan_tree",
    "worst_status",
]
