"""The primary engine: sniff a blob, dispatch it to its format scanner, recurse into what it contains.

A :class:`ScanContext` (scanners/context.py) carries the limits, the deadline and the findings of one
``scan_file`` call.
Scanners raise ``MalformedInput`` and ``LimitExceeded``; this module turns them into an error message
or a finding, so one broken member never hides the findings of the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from .blobs import Blob
from .context import ScanContext, Scanner
from .formats import FileFormat, has_zip_end, sniff
from .limits import LimitExceeded, MalformedInput
from .registry import scanner_for
from .rules import ARCHIVE_BOMB, ARCHIVE_POLYGLOT, LIMIT_EXCEEDED

# Limits on inflation: hitting one is reported as a decompression bomb.
_INFLATION_LIMITS = frozenset(
    {"max_ratio", "max_decompressed", "max_scan_inflated", "max_spool_bytes", "max_decoder_memory"}
)


@dataclass
class EngineContext(ScanContext):
    """The context scan_file uses: content found inside other content goes back through scan_blob."""

    def scan_nested(self, blob: Blob, *, name_hint: str | None, as_format: FileFormat | None = None) -> str:
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
