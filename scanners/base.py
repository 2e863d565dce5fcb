"""Value objects shared by every scanner: severities, statuses, findings and reports.

These are the seam between the scanners and their callers (the mirror stores reports as JSON), so they
are frozen dataclasses with explicit ``to_dict``/``from_dict`` round trips.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.Enum):
    """How bad a finding is. MEDIUM and above make a report FLAGGED; LOW and INFO are advisory."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def flags(self) -> bool:
        """True when a finding of this severity must stop the file (policy asks a human)."""
        return self.rank >= _SEVERITY_RANK[Severity.MEDIUM]


_SEVERITY_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class ScanStatus(enum.Enum):
    """The verdict of one engine on one file.

    UNSUPPORTED is for binary content no scanner could classify; policy quarantines it like a finding.
    """

    CLEAN = "clean"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    FLAGGED = "flagged"

    @property
    def rank(self) -> int:
        """Order used by :func:`worst_status`: a known-bad file outranks an unknown one."""
        return _STATUS_RANK[self]


_STATUS_RANK = {
    ScanStatus.CLEAN: 0,
    ScanStatus.UNSUPPORTED: 1,
    ScanStatus.ERROR: 2,
    ScanStatus.FLAGGED: 3,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a reviewer should know about, with a stable rule id.

    ``location`` says where (member path and byte offset), ``evidence`` what (the global, the template
    expression, the offending path), both as short human-readable strings.
    """

    rule_id: str
    severity: Severity
    message: str
    location: str = ""
    evidence: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
            "location": self.location,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            rule_id=str(data["rule_id"]),
            severity=Severity(data["severity"]),
            message=str(data["message"]),
            location=str(data.get("location", "")),
            evidence=str(data.get("evidence", "")),
        )


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one engine (``scanner``) concluded about one file.

    ``metadata`` carries structured facts a caller acts on, JSON-compatible. Keys so far:
    ``"onnx_external_data"``: the files an ONNX graph reads tensors from, a list of
    ``{"location", "tensor", "offset", "length"}`` (``length`` None: to the end of the file), with
    ``location`` relative to the model's folder exactly as written in the graph.
    """

    scanner: str
    status: ScanStatus
    format: str
    findings: tuple[Finding, ...] = field(default=())
    message: str = ""
    duration_s: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def worst_severity(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scanner": self.scanner,
            "status": self.status.value,
            "format": self.format,
            "findings": [f.to_dict() for f in self.findings],
            "message": self.message,
            "duration_s": self.duration_s,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanReport:
        return cls(
            scanner=str(data["scanner"]),
            status=ScanStatus(data["status"]),
            format=str(data["format"]),
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", ())),
            message=str(data.get("message", "")),
            duration_s=float(data.get("duration_s", 0.0)),
            metadata=dict(data.get("metadata") or {}),
        )


def status_for(
    findings: Iterable[Finding], *, errors: Iterable[str] = (), unsupported: bool = False
) -> ScanStatus:
    """Derive a report status: a flagging finding wins, then an error, then unsupported content."""
    if any(f.severity.flags for f in findings):
        return ScanStatus.FLAGGED
    if any(True for _ in errors):
        return ScanStatus.ERROR
    if unsupported:
        return ScanStatus.UNSUPPORTED
    return ScanStatus.CLEAN


def worst_status(reports: Iterable[ScanReport]) -> ScanStatus:
    """The verdict over several engines' reports: the worst one wins; no report at all is an ERROR."""
    statuses = [r.status for r in reports]
    if not statuses:
        return ScanStatus.ERROR
    return max(statuses, key=lambda s: s.rank)
