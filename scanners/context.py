"""What a format scanner is (the Scanner protocol) and what it is handed (the ScanContext: the limits, the
deadline and the findings of one ``scan_file`` call)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .base import Finding
from .blobs import Blob, ByteSource, TempSource, spool
from .limits import Deadline, LimitExceeded, Limits

if TYPE_CHECKING:
    from .formats import FileFormat


@dataclass
class ScanContext:
    limits: Limits
    deadline: Deadline
    sources: list[ByteSource] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    depth: int = 0
    source_size: int = 0  # bytes of the scanned file; the scan-wide inflation ratio is measured on it
    inflated: int = 0  # bytes inflated so far in this scan, every stream and level together
    metadata: dict[str, Any] = field(default_factory=dict)  # becomes ScanReport.metadata
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

    def release(self, blob: Blob | None) -> None:
        """Close the temporary file behind ``blob`` once it has been scanned, so the scratch space a scan
        holds is one chain of nested members, never every member of an archive at once."""
        if blob is not None and isinstance(blob.source, TempSource):
            for index, source in enumerate(self.sources):
                if source is blob.source:
                    del self.sources[index]
                    source.close()
                    return

    def account_inflated(self, nbytes: int, *, what: str) -> None:
        """Count freshly inflated bytes against the scan-wide budget; raises ``LimitExceeded`` (a finding)
        as soon as a bound is crossed, mid-stream."""
        self.inflated += nbytes
        limits = self.limits
        if self.inflated > limits.max_scan_inflated:
            raise LimitExceeded(
                "max_scan_inflated", f"{what}: this scan inflated more than {limits.max_scan_inflated} bytes"
            )
        allowed = limits.max_ratio * self.source_size + limits.ratio_floor
        if self.inflated > allowed:
            raise LimitExceeded(
                "max_ratio",
                f"{what}: nested content inflates beyond {limits.max_ratio:g}x the file's "
                f"{self.source_size} bytes (+{limits.ratio_floor})",
            )

    def scan_nested(self, blob: Blob, *, name_hint: str | None, as_format: FileFormat | None = None) -> str:
        """Scan content found inside other content (archive member, decompressed stream, payload);
        ``as_format`` is for content a consumer reads as that format whatever it sniffs as.

        The engine's EngineContext does it; a format scanner sees only this class, which keeps the
        scanners from importing the engine that imports them (through the registry)."""
        raise NotImplementedError


class Scanner(Protocol):
    """A format scanner. It records findings and errors on ``ctx`` and may return a more precise format
    name (a zip that turns out to be a PyTorch checkpoint says so). It raises only ``ScanError``s."""

    name: str

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None: ...
