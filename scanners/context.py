"""What a format scanner is (the Scanner protocol) and what it is handed (the ScanContext: the limits, the
deadline and the findings of one ``scan_file`` call)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .base import Finding
from .blobs import Blob, ByteSource, spool
from .limits import Deadline, Limits


@dataclass
class ScanContext:
    limits: Limits
    deadline: Deadline
    sources: list[ByteSource] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    depth: int = 0
    _seen: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, finding: Finding) -> None:
        key = (finding.rule_id, finding.location, finding.evidence)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(finding)

    def error(self, label: str, message: str) -> None:
        self.errors.append(f"{label}: {message}" if label else message)

    def spool(self, chunks: Iterator[bytes], *, label: str) -> Blob:
        return spool(chunks, label=label, max_bytes=self.limits.max_spool_bytes, sources=self.sources)

    def scan_nested(self, blob: Blob, *, name_hint: str | None) -> str:
        """Scan content found inside other content (archive member, decompressed stream, payload).

        The engine's EngineContext does it; a format scanner sees only this class, which keeps the
        scanners from importing the engine that imports them (through the registry)."""
        raise NotImplementedError


class Scanner(Protocol):
    """A format scanner. It records findings and errors on ``ctx`` and may return a more precise format
    name (a zip that turns out to be a PyTorch checkpoint says so). It raises only ``ScanError``s."""

    name: str

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None: ...
