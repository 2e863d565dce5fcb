"""The primary engine: sniff a blob, dispatch it to its format scanner, recurse into what it contains.

A :class:`ScanContext` carries the limits, the deadline and the findings of one ``scan_file`` call.
Scanners raise ``MalformedInput`` and ``LimitExceeded``; this module turns them into an error message
or a finding, so one broken member never hides the findings of the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .base import Finding, Scanner
from .blobs import Blob, ByteSource, TempSource, spool
from .formats import FileFormat, has_zip_end, sniff
from .limits import Deadline, LimitExceeded, Limits, MalformedInput
from .registry import scanner_for
from .rules import ARCHIVE_BOMB, ARCHIVE_POLYGLOT, LIMIT_EXCEEDED

# Limits on inflation: hitting one is reported as a decompression bomb.
_INFLATION_LIMITS = frozenset(
    {"max_ratio", "max_decompressed", "max_scan_inflated", "max_spool_bytes", "max_decoder_memory"}
)


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
        ``as_format`` is for content a consumer reads as that format whatever it sniffs as."""
        return scan_blob(self, blob, name_hint=name_hint, as_format=as_format)


def scan_blob(
    ctx: ScanContext, blob: Blob, *, name_hint: str | None, as_format: FileFormat | None = None
) -> str:
    """Sniff and scan one blob; returns the format name to report."""
    ctx.deadline.check()
    if ctx.depth > ctx.limits.max_depth:
        ctx.add(
            LIMIT_EXCEEDED.finding(
                f"content nested deeper than {ctx.limits.max_depth} levels was not scanned",
                location=blob.label,
                evidence="max_depth",
            )
        )
        return "nested"
    fmt, detail = (as_format, "") if as_format is not None else sniff(blob, name_hint, ctx.limits)
    refined = _run(scanner_for(fmt), blob, ctx, name_hint)
    if fmt not in (FileFormat.ZIP, FileFormat.EMPTY) and has_zip_end(blob):
        # A file that starts as one format and ends as a zip: zipfile-based loaders (Keras, npz
        # readers) find the archive from its end, whatever precedes it.
        ctx.add(
            ARCHIVE_POLYGLOT.finding(
                f"{fmt.value} content that is also a zip archive; its members are scanned too",
                location=blob.label,
                evidence=fmt.value,
            )
        )
        _run(scanner_for(FileFormat.ZIP), blob, ctx, name_hint)
    if refined:
        return refined
    return f"{fmt.value}:{detail}" if detail and fmt in _DETAILED else fmt.value


def _run(scanner: Scanner, blob: Blob, ctx: ScanContext, name_hint: str | None) -> str | None:
    """One scanner on one blob; its limit and format errors become findings and error messages."""
    ctx.depth += 1
    try:
        return scanner.scan(blob, ctx, name_hint=name_hint)
    except LimitExceeded as exc:
        rule = ARCHIVE_BOMB if exc.limit in _INFLATION_LIMITS else LIMIT_EXCEEDED
        ctx.add(rule.finding(str(exc), location=blob.label, evidence=exc.limit))
    except MalformedInput as exc:
        ctx.error(blob.label, str(exc))
    except RecursionError:
        ctx.add(LIMIT_EXCEEDED.finding("structure nests too deeply to analyse", location=blob.label))
    finally:
        ctx.depth -= 1
    return None


_DETAILED = frozenset({FileFormat.PASSIVE_DATA, FileFormat.UNSCANNABLE_CONTAINER})
