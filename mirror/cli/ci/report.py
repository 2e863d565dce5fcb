"""`hubgate check`'s result as a table (people), JSON (scripts), SARIF 2.1.0 (GitHub code scanning) and
JUnit XML (GitLab, Jenkins and most CI test reports)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from importlib import metadata
from typing import Any

from mirror.cli.ci.findings import CheckResult, EntryResult, Location, Rule
from mirror.cli.ci.lockfile import GateFacts
from mirror.hub.pathtext import visible

FORMATS = ("table", "json", "sarif", "junit")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# XML 1.0 allows tab, newline, carriage return and these ranges; anything else is replaced.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render(result: CheckResult, output: str) -> str:
    if output == "json":
        return json.dumps(as_json(result), indent=2) + "\n"
    if output == "sarif":
        return json.dumps(as_sarif(result), indent=2) + "\n"
    if output == "junit":
        return as_junit(result)
    return as_table(result)


def _version() -> str:
    try:
        return metadata.version("hubgate")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0"


def _where(locations: tuple[Location, ...]) -> str:
    return ", ".join(f"{location.file}:{location.line}" for location in locations) or "-"


def _gate_summary(gate: GateFacts) -> str:
    licence = gate.licence or "unrecorded"
    verdict = f" ({gate.licence_bucket}, {gate.licence_verdict})" if gate.licence_verdict else ""
    review = f"review {gate.review_id} {gate.review}" if gate.review_id else f"review {gate.review or '-'}"
    return (
        f"licence {licence}{verdict}; origin {gate.origin or '-'}; {review}; "
        f"signature {gate.signature or '-'}"
    )


def _sign_off(gate: GateFacts) -> str:
    sign_off = gate.sign_off
    if sign_off is None:
        return ""
    until = f", until {sign_off.expires_at}" if sign_off.expires_at else ""
    when = f" on {sign_off.at}" if sign_off.at else ""
    rules = f" [{', '.join(sign_off.rules)}]" if sign_off.rules else ""
    kind = f"{sign_off.kind} " if sign_off.kind else ""
    return f"{kind}sign-off by {sign_off.by}{when}{until}{rules}: {sign_off.reason}"


# -- table ----------------------------------------------------------------------------------------------


def as_table(result: CheckResult) -> str:
    failed = sum(not entry.passed for entry in result.entries)
    lines = [
        f"hubgate check {result.source} against {result.hubgate}: "
        f"{len(result.entries) - failed} passed, {failed} failed"
    ]
    for entry in result.entries:
        status = "PASS" if entry.passed else "FAIL"
        commit = entry.entry.commit[:12] if entry.entry.commit.strip("0") else "-"
        lines.append(f"{status}  {entry.entry.name}  {commit}  {_gate_summary(entry.gate)}")
        lines.append(f"      used at {_where(entry.locations)}")
        sign_off = _sign_off(entry.gate)
        if sign_off:
            lines.append(f"      {sign_off}")
        lines.extend(f"      {finding.rule}: {finding.message}" for finding in entry.findings)
    # A terminal or CI log must not interpret what upstream wrote (escape sequences, bidi overrides).
    return "\n".join(visible(line) for line in lines) + "\n"


# -- JSON -----------------------------------------------------------------------------------------------


def as_json(result: CheckResult) -> dict[str, Any]:
    return {
        "ok": result.passed,
        "hubgate": result.hubgate,
        "source": result.source,
        "entries": [_entry_json(entry) for entry in result.entries],
    }


def _entry_json(entry: EntryResult) -> dict[str, Any]:
    return {
        "repo": entry.entry.repo,
        "repo_type": entry.entry.repo_type,
        "revision": entry.entry.revision,
        "commit": entry.entry.commit,
        "commit_now": entry.commit_now,
        "passed": entry.passed,
        "locations": [{"file": loc.file, "line": loc.line} for loc in entry.locations],
        "gate": entry.gate.model_dump(mode="json"),
        "needs": list(entry.entry.needs),
        "findings": [
            {"rule": str(finding.rule), "message": finding.message, "path": finding.path}
            for finding in entry.findings
        ],
    }


# -- SARIF 2.1.0 ----------------------------------------------------------------------------------------


def as_sarif(result: CheckResult) -> dict[str, Any]:
    """One result per finding and place the code names the model, so that each line gets its annotation."""
    rules = list(Rule)
    results: list[dict[str, Any]] = []
    for entry in result.entries:
        for finding in entry.findings:
            for location in entry.locations or (Location(result.source, 1),):
                results.append(
                    {
                        "ruleId": str(finding.rule),
                        "ruleIndex": rules.index(finding.rule),
                        "level": "error",
                        "message": {"text": f"{entry.entry.name}: {finding.message}"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": location.file, "uriBaseId": "%SRCROOT%"},
                                    "region": {"startLine": location.line},
                                }
                            }
                        ],
                        "partialFingerprints": {
                            "hubgateFinding/v1": f"{finding.rule}:{entry.entry.name}:{finding.path}"
                        },
                        "properties": {
                            "repo": entry.entry.repo,
                            "repoType": entry.entry.repo_type,
                            "revision": entry.entry.revision,
                            "commit": entry.entry.commit,
                            "path": finding.path,
                            "gate": _gate_summary(entry.gate),
                            "signOff": _sign_off(entry.gate),
                        },
                    }
                )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "hubgate",
                        "semanticVersion": _version(),
                        "rules": [
                            {
                                "id": str(rule),
                                "shortDescription": {"text": rule.description},
                                "defaultConfiguration": {"level": "error"},
                                "properties": {"tags": ["security", "supply-chain", "ml-models"]},
                            }
                            for rule in rules
                        ],
                    }
                },
                "automationDetails": {"id": "hubgate-check/"},
                "results": results,
            }
        ],
    }


# -- JUnit XML ------------------------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def as_junit(result: CheckResult) -> str:
    """One testcase per model; a failing one carries one <failure> (the first finding's rule as its type)
    with every finding in its text, which is what GitLab and Jenkins show."""
    failed = sum(not entry.passed for entry in result.entries)
    counts = {"tests": str(len(result.entries)), "failures": str(failed), "errors": "0", "skipped": "0"}
    suites = ET.Element("testsuites", {"name": "hubgate check", **counts})
    suite = ET.SubElement(
        suites, "testsuite", {"name": _xml_text(f"hubgate check {result.source}"), **counts, "time": "0"}
    )
    for entry in result.entries:
        first = entry.locations[0] if entry.locations else Location(result.source, 1)
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"hubgate.{entry.entry.repo_type}",
                "name": _xml_text(entry.entry.name),
                "file": _xml_text(first.file),
                "line": str(first.line),
                "time": "0",
            },
        )
        details = [f"used at {_where(entry.locations)}", _gate_summary(entry.gate)]
        if entry.gate.sign_off is not None:
            details.append(_sign_off(entry.gate))
        if entry.findings:
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "type": str(entry.findings[0].rule),
                    "message": _xml_text(
                        "; ".join(f"{finding.rule}: {finding.message}" for finding in entry.findings)
                    ),
                },
            )
            failure.text = _xml_text(
                "\n".join([*(f"{finding.rule}: {finding.message}" for finding in entry.findings), *details])
            )
        output = ET.SubElement(case, "system-out")
        output.text = _xml_text("\n".join(details))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
