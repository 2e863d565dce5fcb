"""The primary engine: sniff a blob, dispatch it to its format scanner, recurse into what it contains.

A :class:`ScanContext` (scanners/context.py) carries the limits, the deadline and the findings of one
``scan_file`` call.
Scanners raise ``MalformedInput`` and ``LimitExceeded``; this module turns them into an error message
or a finding, so one broken member never hides the findings of the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from .blobs import Blob
from .context import ScanContext
from .formats import FileFormat, sniff
from .limits import LimitExceeded, MalformedInput
from .registry import scanner_for
from .rules import LIMIT_EXCEEDED


@dataclass
class EngineContext(ScanContext):
    """The context scan_file uses: content found inside other content goes back through scan_blob."""

    def scan_nested(self, blob: Blob, *, name_hint: str | None) -> str:
        return scan_blob(self, blob, name_hint=name_hint)


def scan_blob(ctx: ScanContext, blob: Blob, *, name_hint: str | None) -> str:
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
    fmt, detail = sniff(blob, name_hint, ctx.limits)
    scanner = scanner_for(fmt)
    ctx.depth += 1
    try:
        refined = scanner.scan(blob, ctx, name_hint=name_hint)
    except LimitExceeded as exc:
        ctx.add(LIMIT_EXCEEDED.finding(str(exc), location=blob.label, evidence=exc.limit))
        refined = None
    except MalformedInput as exc:
        ctx.error(blob.label, str(exc))
        refined = None
    except RecursionError:
        ctx.add(LIMIT_EXCEEDED.finding("structure nests too deeply to analyse", location=blob.label))
        refined = None
    finally:
        ctx.depth -= 1
    if refined:
        return refined
    return f"{fmt.value}:{detail}" if detail and fmt in _DETAILED else fmt.value


_DETAILED = frozenset({FileFormat.PASSIVE_DATA, FileFormat.UNSCANNABLE_CONTAINER})
