"""The pickle scanner: every pickle in a stream (stacked, legacy PyTorch, joblib-interleaved), judged by
what it imports and calls, with nested payloads unwrapped and scanned too."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import pickle_policy as policy
from .base import Severity
from .blobs import Blob, bytes_blob
from .formats import FileFormat
from .joblib_arrays import JoblibHook
from .limits import LimitExceeded, MalformedInput
from .payloads import unwrap_payloads
from .pickle_ops import LargeData, OpcodeStream
from .pickle_values import CallResult, GlobalRef, PersistentRef, SymList, render
from .pickle_vm import PickleAnalysis, PickleMachine
from .rules import (
    JOBLIB_EXTERNAL_FILE,
    PICKLE_ATTRIBUTE_PATH,
    PICKLE_BROKEN,
    PICKLE_CODEC_ABUSE,
    PICKLE_DYNAMIC_IMPORT,
    PICKLE_EXTENSION,
    PICKLE_INDIRECT_CALL,
    PICKLE_NESTED,
    PICKLE_NON_ALLOWLISTED,
    PICKLE_PERSISTENT,
    PICKLE_STACKED,
    PICKLE_TRAILING,
)

if TYPE_CHECKING:
    from .context import ScanContext

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PICKLES = 5  # magic, protocol version, sys_info, the object, storage keys
_MAX_FRAME_BRANCHES = 16
_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "latin"}


class PickleScanner:
    name = "pickle"

    def scan(self, blob: Blob, ctx: ScanContext, *, name_hint: str | None) -> str | None:
        analyses, kind = read_pickles(blob, ctx)
        for analysis in analyses:
            report_analysis(analysis, blob, ctx)
        return kind


def read_pickles(blob: Blob, ctx: ScanContext, *, start: int = 0) -> tuple[list[PickleAnalysis], str]:
    """Parse every pickle in ``blob`` from ``start``: several may follow each other, and the legacy
    PyTorch format is exactly five of them followed by raw storage bytes. Returns the analyses and the
    stream's kind: "pickle", "pytorch-legacy" or "joblib" (array bytes between the opcodes).

    Where a pickle stops inside a FRAME, the next load starts either right after the STOP (the C
    unpickler on a buffered file) or at the end of the frame (on BytesIO, and the Python unpickler):
    both continuations are read."""
    hook = JoblibHook(ctx)
    chain = _read_chain(blob, ctx, start, hook, continuation=False)
    analyses, legacy, branches = chain.analyses, chain.legacy, chain.branches
    followed = 0
    while branches:
        if followed >= _MAX_FRAME_BRANCHES:
            raise LimitExceeded("max_frame_branches", "too many pickles stop inside a frame")
        followed += 1
        branch = _read_chain(blob, ctx, branches.pop(0), hook, continuation=True)
        analyses.extend(branch.analyses)
        branches.extend(branch.branches)
    if len(analyses) > 1 and not legacy:
        ctx.add(
            PICKLE_STACKED.finding(
                f"{len(analyses)} pickles follow each other; loaders that read several execute them all",
                location=blob.label,
            )
        )
    kind = "pytorch-legacy" if legacy else "joblib" if hook.arrays else "pickle"
    return analyses, kind


@dataclass
class _Chain:
    analyses: list[PickleAnalysis] = field(default_factory=list)
    legacy: bool = False
    branches: list[int] = field(default_factory=list)  # frame ends where a load may also resume


def _read_chain(blob: Blob, ctx: ScanContext, start: int, hook: JoblibHook, *, continuation: bool) -> _Chain:
    """Pickles read one after another from ``start``; a ``continuation`` starts after another pickle."""
    chain = _Chain()
    with blob.open() as raw:
        raw.seek(start)
        stream = OpcodeStream(raw, size=blob.size, start=start, inline_limit=ctx.limits.max_inline_bytes)
        while stream.remaining > 0 or (not chain.analyses and not continuation):
            machine = PickleMachine(stream, limits=ctx.limits, deadline=ctx.deadline, build_hook=hook)
            analysis = machine.run()
            first = not chain.analyses and not continuation
            if not first and analysis.error is not None and not analysis.executes:
                # Not another pickle: data a loader never reads as opcodes.
                ctx.add(
                    PICKLE_TRAILING.finding(
                        "bytes follow the last pickle", location=_at(blob, analysis.start)
                    )
                )
                break
            chain.analyses.append(analysis)
            if analysis.error is not None:
                break
            if analysis.frame_end > stream.pos:
                chain.branches.append(analysis.frame_end)
            if first and analysis.result == TORCH_LEGACY_MAGIC:
                chain.legacy = True
            if chain.legacy and len(chain.analyses) == _LEGACY_PICKLES:
                break  # raw storage data follows; torch.load never unpickles it
            if len(chain.analyses) >= ctx.limits.max_stacked_pickles:
                raise LimitExceeded(
                    "max_stacked_pickles", f"more than {len(chain.analyses)} pickles in one stream"
                )
    return chain


def read_one(stream: OpcodeStream, ctx: ScanContext, blob: Blob) -> PickleAnalysis:
    """Run exactly one pickle from ``stream`` and report it; a broken one raises MalformedInput."""
    machine = PickleMachine(stream, limits=ctx.limits, deadline=ctx.deadline, build_hook=JoblibHook(ctx))
    analysis = machine.run()
    report_analysis(analysis, blob, ctx, record_error=False)
    if analysis.error is not None:
        raise MalformedInput(analysis.error)
    return analysis


def report_analysis(
    analysis: PickleAnalysis, blob: Blob, ctx: ScanContext, *, record_error: bool = True
) -> None:
    """Turn one stream's analysis into findings (and its nested payloads into nested scans)."""
    _report_imports(analysis, blob, ctx)
    for offset, operands in analysis.dynamic_imports:
        ctx.add(
            PICKLE_DYNAMIC_IMPORT.finding(
                "STACK_GLOBAL imports a name that is not a string constant",
                location=_at(blob, offset),
                evidence=operands,
            )
        )
    for call in analysis.indirect_calls:
        _report_indirect_call(call, blob, ctx)
    for offset, code in analysis.extension_codes:
        ctx.add(PICKLE_EXTENSION.finding(f"EXT opcode with code {code}", location=_at(blob, offset)))
    for offset, filename in analysis.external_files:
        ctx.add(_external_file_finding(filename, _at(blob, offset)))
    if analysis.persistent_ids and not _is_torch_member(blob):
        ctx.add(
            PICKLE_PERSISTENT.finding(
                f"{analysis.persistent_ids} persistent ids are resolved by the loading application",
                location=blob.label,
            )
        )
    _scan_payloads(analysis, blob, ctx)
    for side in analysis.side_streams:
        report_analysis(side, blob, ctx)
    if analysis.error is not None:
        if analysis.executes:
            ctx.add(
                PICKLE_BROKEN.finding(
                    "the stream breaks after opcodes that import or call; a loader runs them before failing",
                    location=_at(blob, analysis.end),
                    evidence=analysis.error,
                )
            )
        if record_error:
            ctx.error(blob.label, f"malformed pickle: {analysis.error}")


def _report_imports(analysis: PickleAnalysis, blob: Blob, ctx: ScanContext) -> None:
    for (module, name), site in analysis.imports.items():
        full = f"{module}.{name}"
        if full in policy.GETATTR_GLOBALS and site.called and _getattr_is_benign(site.calls):
            ctx.add(
                PICKLE_ATTRIBUTE_PATH.finding(
                    "getattr reads a public attribute of a class (enum-style)",
                    location=_at(blob, site.offset),
                    evidence="; ".join(render(c) for c in site.calls),
                    severity=Severity.LOW,
                )
            )
            continue
        if full in policy.BINDING_WRAPPERS and site.called and _wraps_harmless_globals(site.calls):
            ctx.add(
                PICKLE_NON_ALLOWLISTED.finding(
                    "functools.partial binds an allowlisted or ordinary callable (fastai-style)",
                    location=_at(blob, site.offset),
                    evidence="; ".join(render(c) for c in site.calls),
                    severity=Severity.LOW,
                )
            )
            continue
        if full in policy.BENIGN_WHEN_PAYLOAD_CLEAN and site.called:
            continue  # judged by scanning the payload it loads (see _scan_payloads)
        if full == "_codecs.encode":
            _check_codec_calls(site.calls, blob, ctx)
            continue
        verdict = policy.classify(module, name, called=site.called)
        if verdict is None:
            continue
        evidence = render(site.calls[0]) if site.calls else full
        ctx.add(
            verdict.rule.finding(
                f"{verdict.reason}: {full} ({site.opcode}, {'called' if site.called else 'referenced'})",
                location=_at(blob, site.offset),
                evidence=evidence,
                severity=verdict.severity,
            )
        )


def _getattr_is_benign(calls: list[CallResult]) -> bool:
    """getattr(SomeClass, "PUBLIC_NAME") is how some enums pickle; anything else is an attribute walk."""
    for call in calls:
        args = call.args
        if not (isinstance(args, tuple) and len(args) == 2):
            return False
        target, attribute = args
        if not (isinstance(target, GlobalRef) and isinstance(attribute, str)):
            return False
        if (
            attribute.startswith("_")
            or attribute in policy.DANGEROUS_ATTRIBUTES
            or not attribute.isidentifier()
        ):
            return False
        verdict = policy.classify(target.module, f"{target.name}.{attribute}", called=False)
        if verdict is not None and verdict.severity.flags:
            return False
        if not target.name[:1].isupper():
            return False
    return True


def _wraps_harmless_globals(calls: list[CallResult]) -> bool:
    """partial(f, ...) is as dangerous as f; f must be an imported global that flags nothing by itself
    (its own import is judged separately, so a dangerous f is still reported)."""
    for call in calls:
        args = call.args
        target = args[0] if isinstance(args, tuple) and args else None
        if not isinstance(target, GlobalRef):
            return False
        # The bound callable runs later (in training or inference), so judge it as a reference.
        verdict = policy.classify(target.module, target.name, called=False)
        if verdict is not None and verdict.severity.flags:
            return False
    return True


def _check_codec_calls(calls: list[CallResult], blob: Blob, ctx: ScanContext) -> None:
    # Protocol 2 pickles encode bytes as _codecs.encode(text, "latin1"); other codecs (rot13, hex...)
    # compute strings at load time, which only obfuscation needs.
    for call in calls:
        args = call.args
        encoding = args[1] if isinstance(args, tuple) and len(args) >= 2 else "utf-8"
        if not isinstance(encoding, str) or encoding.lower() not in _LATIN1:
            ctx.add(
                PICKLE_CODEC_ABUSE.finding(
                    "_codecs.encode with an unusual codec computes data at load time",
                    location=_at(blob, call.offset),
                    evidence=render(call),
                )
            )


def _report_indirect_call(call: CallResult, blob: Blob, ctx: ScanContext) -> None:
    callee = call.callee
    if isinstance(callee, str | int | float | bytes | type(None)):
        severity = Severity.LOW  # calling a constant only makes the load fail
    elif isinstance(callee, PersistentRef):
        severity = Severity.HIGH
    else:
        severity = Severity.HIGH
    ctx.add(
        PICKLE_INDIRECT_CALL.finding(
            f"{call.kind} calls a value that is not an imported global",
            location=_at(blob, call.offset),
            evidence=render(call),
            severity=severity,
        )
    )


def _external_file_finding(filename: str, location: str) -> Any:
    hostile = filename.startswith(("/", "\\")) or ".." in re.split(r"[\\/]", filename) or ":" in filename
    return JOBLIB_EXTERNAL_FILE.finding(
        "joblib loads an array (with pickles allowed) from a file the pickle names",
        location=location,
        evidence=filename,
        severity=Severity.HIGH if hostile else Severity.MEDIUM,
    )


def _scan_payloads(analysis: PickleAnalysis, blob: Blob, ctx: ScanContext) -> None:
    for offset, call in analysis.payload_candidates:
        callee = call.callee
        full = f"{callee.module}.{callee.name}" if isinstance(callee, GlobalRef) else ""
        allowlisted = (
            isinstance(callee, GlobalRef) and policy.classify(callee.module, callee.name, called=True) is None
        )
        if allowlisted and full not in policy.LOADER_GLOBALS:
            continue  # allowlisted callables that take bytes (numpy scalars, codecs.encode)
        args = call.args if isinstance(call.args, tuple) else (call.args,)
        for arg in args:
            nested = _payload_blob(arg, blob, offset)
            if nested is None:
                if full in policy.BENIGN_WHEN_PAYLOAD_CLEAN:
                    ctx.add(
                        PICKLE_NESTED.finding(
                            f"{full} loads a payload the scanner could not extract",
                            location=_at(blob, offset),
                            evidence=render(call),
                            severity=Severity.HIGH,
                        )
                    )
                continue
            _scan_one_payload(nested, full, call, ctx)


def _scan_one_payload(nested: Blob, full: str, call: CallResult, ctx: ScanContext) -> None:
    before = len(ctx.findings)
    recognised = False
    for data in unwrap_payloads(nested, ctx.limits):
        recognised = True
        ctx.scan_nested(data, name_hint=None)
    if not recognised and full in policy.PICKLE_LOADERS:
        ctx.scan_nested(nested, name_hint=None, as_format=FileFormat.PICKLE)
    flagged = any(f.severity.flags for f in ctx.findings[before:])
    if flagged:
        ctx.add(
            PICKLE_NESTED.finding(
                "a payload passed to a loader carries flagged content (see findings inside it)",
                location=nested.label,
                evidence=render(call),
            )
        )


def _payload_blob(arg: Any, blob: Blob, offset: int) -> Blob | None:
    label = f"{blob.label}@{offset}:payload"
    if isinstance(arg, LargeData):
        if arg.offset + arg.length > blob.size:
            return None
        return blob.slice(arg.offset, arg.length, label)
    if isinstance(arg, bytes | bytearray) and len(arg) >= 8:
        return bytes_blob(bytes(arg), label)
    if isinstance(arg, str) and len(arg) >= 16:
        return bytes_blob(arg.encode("utf-8", "surrogatepass"), label)
    if isinstance(arg, CallResult):
        data = _computed_bytes(arg)
        if data is not None:
            return bytes_blob(data, label)
    return None


def _computed_bytes(call: CallResult) -> bytes | None:
    """Bytes a pickle computes with an allowlisted call: _codecs.encode(text, "latin1") (how protocol 2
    spells bytes) and bytes([...]) / bytearray([...]) of small integers."""
    callee, inner = call.callee, call.args
    if not (isinstance(callee, GlobalRef) and isinstance(inner, tuple) and inner):
        return None
    if callee.name == "encode" and isinstance(inner[0], str):
        return inner[0].encode("latin-1", "replace")
    if callee.name in ("bytes", "bytearray") and isinstance(inner[0], SymList) and not inner[0].dropped:
        items = inner[0].items
        if all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 256 for i in items):
            return bytes(items)
    return None


def _is_torch_member(blob: Blob) -> bool:
    return blob.label.endswith(("data.pkl", "constants.pkl")) or "torch" in blob.label


def _at(blob: Blob, offset: int) -> str:
    return f"{blob.label}@{offset}"
