"""The public API: shapes, serialisation, trees, crash containment, import purity."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import scanners
from scanners import Finding, ScanReport, ScanStatus, Severity, scan_file, scan_tree, worst_status
from scanners.runner import guarded

ROOT = Path(scanners.__file__).parent


def test_report_round_trips_through_json_types() -> None:
    report = ScanReport(
        "hubgate",
        ScanStatus.FLAGGED,
        "pickle",
        (Finding("pickle.dangerous-global", Severity.CRITICAL, "m", "x@1", "os.system('id')"),),
        "",
        0.5,
    )
    assert ScanReport.from_dict(report.to_dict()) == report


def test_worst_status_orders_verdicts() -> None:
    def make(status: ScanStatus) -> ScanReport:
        return ScanReport("x", status, "f")

    assert worst_status([make(ScanStatus.CLEAN), make(ScanStatus.ERROR)]) is ScanStatus.ERROR
    assert worst_status([make(ScanStatus.ERROR), make(ScanStatus.FLAGGED)]) is ScanStatus.FLAGGED
    assert worst_status([make(ScanStatus.CLEAN), make(ScanStatus.UNSUPPORTED)]) is ScanStatus.UNSUPPORTED
    assert worst_status([]) is ScanStatus.ERROR


def test_versions_are_exposed() -> None:
    assert scanners.RULESET_VERSION in scanners.SCANNER_VERSION


def test_missing_file_is_an_error_report(tmp_path: Path) -> None:
    (report,) = scan_file(tmp_path / "absent")
    assert report.status is ScanStatus.ERROR
    assert "FileNotFoundError" in report.message


def test_a_crash_becomes_an_error_report() -> None:
    def explode() -> ScanReport:
        raise ZeroDivisionError("boom")

    report = guarded("hubgate", explode)
    assert report.status is ScanStatus.ERROR
    assert "boom" in report.message


def test_scan_tree_uses_relative_names_and_does_not_follow_links(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "config.json").write_text('{"auto_map": {"AutoModel": "m.M"}}')
    (tmp_path / "README.md").write_text("# hi")
    os.symlink("/etc/passwd", tmp_path / "link.txt")
    results = scan_tree(tmp_path)
    verdicts = {path.name: worst_status(reports) for path, reports in results.items()}
    assert verdicts == {
        "README.md": ScanStatus.CLEAN,
        "config.json": ScanStatus.FLAGGED,
        "link.txt": ScanStatus.FLAGGED,
    }


def test_scanners_import_nothing_from_the_mirror_or_storage() -> None:
    for source in ROOT.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"mirror", "storage", "torch", "tensorflow", "keras"}, (
                    source,
                    name,
                )
