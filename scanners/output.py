"""Rendering scan results for people (text) and machines (JSON, SARIF 2.1.0)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import rules
from .base import ScanReport, ScanStatus, Severity, worst_status

Results = Mapping[Path, tuple[ScanReport, ...]]

_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SCAN_ERROR_RULE = "scan.error"
UNSUPPORTED_RULE = "scan.unsupported-content"


def render_human(results: Results, *, verbose: bool = False) -> str:
    lines: list[str] = []
    counts = dict.fromkeys(ScanStatus, 0)
    for path, reports in results.items():
        verdict = worst_status(reports)
        counts[verdict] += 1
        formats = sorted({r.format for r in reports if r.format != "unknown"})
        if verdict is ScanStatus.CLEAN and not verbose:
            continue
        lines.append(f"{verdict.value.upper():<11} {path}  [{', '.join(formats)}]")
        for report in reports:
            if report.message and report.status is not ScanStatus.CLEAN:
                lines.append(f"    {report.scanner}: {report.status.value}: {report.message}")
            for finding in report.findings:
                if not verbose and not finding.severity.flags:
                    continue
                where = f" @ {finding.location}" if finding.location else ""
                evidence = f"\n        evidence: {finding.evidence}" if finding.evidence else ""
                lines.append(
                    f"    {finding.severity.value:<8} {finding.rule_id} ({report.scanner}){where}\n"
                    f"        {finding.message}{evidence}"
                )
    summary = ", ".join(f"{n} {status.value}" for status, n in counts.items() if n)
    lines.append(f"{len(results)} file(s) scanned: {summary or 'nothing'}")
    return "\n".join(lines)


def render_json(results: Results, *, scanner_version: str) -> str:
    files = [
        {
            "path": str(path),
            "verdict": worst_status(reports).value,
            "reports": [r.to_dict() for r in reports],
        }
        for path, reports in results.items()
    ]
    return json.dumps({"scanner_version": scanner_version, "files": files}, indent=2)


def render_sarif(results: Results, *, scanner_version: str) -> str:
    catalogue = _rule_catalogue()
    sarif_rules = [
        {
            "id": rule.id,
            "shortDescription": {"text": rule.title},
            "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        }
        for rule in catalogue
    ] + [
        {"id": SCAN_ERROR_RULE, "shortDescription": {"text": "The file could not be scanned completely"}},
        {"id": UNSUPPORTED_RULE, "shortDescription": {"text": "Binary content no scanner recognises"}},
    ]
    sarif_results: list[dict[str, Any]] = []
    for path, reports in results.items():
        uri = Path(path).as_posix()
        for report in reports:
            for finding in report.findings:
                sarif_results.append(
                    _result(finding.rule_id, _SARIF_LEVEL[finding.severity], finding.message, uri, finding)
                )
            if report.status is ScanStatus.ERROR:
                sarif_results.append(_result(SCAN_ERROR_RULE, "error", report.message or "scan error", uri))
            if report.status is ScanStatus.UNSUPPORTED:
                sarif_results.append(_result(UNSUPPORTED_RULE, "warning", report.message, uri))
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "hubgate-scanners",
                        "version": scanner_version,
                        "informationUri": "https://github.com/",
                        "rules": sarif_rules,
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(document, indent=2)


def _result(rule_id: str, level: str, message: str, uri: str, finding: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "level": level,
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
    }
    if finding is not None:
        if finding.location:
            result["locations"][0]["logicalLocations"] = [{"fullyQualifiedName": finding.location}]
        if finding.evidence:
            result["properties"] = {"evidence": finding.evidence, "severity": finding.severity.value}
    return result


def _rule_catalogue() -> list[rules.Rule]:
    return sorted(
        (value for value in vars(rules).values() if isinstance(value, rules.Rule)), key=lambda rule: rule.id
    )
