"""A symbolic pickle machine: it runs the opcodes on stand-in values and records what would be imported
and called, without importing or calling anything.

Following the data (memo, STACK_GLOBAL operands, call arguments) rather than matching opcode patterns is
what defeats the memo-confusion, computed-name and protocol-0 tricks that broke pattern-based scanners.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .limits import Deadline, LimitExceeded, Limits, MalformedInput
from .pickle_invokers import inner_call
from .pickle_opcodes import HANDLERS, STOP
from .pickle_ops import LargeData, OpcodeStream
from .pickle_policy import LOADER_GLOBALS
from .pickle_values import (
    CallResult,
    GlobalRef,
    render,
)

CALL_SAMPLES = 4  # call sites remembered per imported global
PAYLOAD_SAMPLES = 64  # calls with bytes arguments kept for nested scanning (loaders are always kept)
MAX_LOADER_CALLS = 4096
INVOKER_DEPTH = 4  # helpers handed to helpers that call them


@dataclass(slots=True)
class ImportSite:
    module: str
    name: str
    offset: int
    opcode: str
    count: int = 0
    called: bool = False
    calls: list[CallResult] = field(default_factory=list)


@dataclass(slots=True)
class PickleAnalysis:
    """Everything one pickle stream would import and call, plus how the stream ended."""

    start: int
    end: int = 0
    protocol: int = 0
    opcodes: int = 0
    stopped: bool = False
    result: Any = None
    error: str | None = None
    imports: dict[tuple[str, str], ImportSite] = field(default_factory=dict)
    dynamic_imports: list[tuple[int, str]] = field(default_factory=list)
    indirect_calls: list[CallResult] = field(default_factory=list)
    extension_codes: list[tuple[int, int]] = field(default_factory=list)
    persistent_ids: int = 0
    persistent_pids: list[Any] = field(default_factory=list)
    out_of_band_buffers: int = 0
    payload_candidates: list[tuple[int, CallResult]] = field(default_factory=list)
    external_files: list[tuple[int, str]] = field(default_factory=list)
    side_streams: list[PickleAnalysis] = field(default_factory=list)
    frame_end: int = 0  # end of the last FRAME; a STOP before it leaves the loader's file there

    @property
    def executes(self) -> bool:
        """True when the stream imports or calls anything (a broken tail then matters)."""
        return bool(self.imports or self.dynamic_imports or self.indirect_calls)


BuildHook = Callable[[CallResult, "OpcodeStream", "PickleMachine"], None]


class PickleMachine:
    """Runs one pickle stream (up to and including STOP) symbolically."""

    def __init__(
        self,
        stream: OpcodeStream,
        *,
        limits: Limits,
        deadline: Deadline,
        build_hook: BuildHook | None = None,
    ) -> None:
        self.stream = stream
        self.limits = limits
        self.deadline = deadline
        self.build_hook = build_hook
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.analysis = PickleAnalysis(start=stream.pos)
        self._op_offset = stream.pos
        self.buried = 0  # items held below MARKs, counted against the stack limit

    # --- driver -------------------------------------------------------------------------------------
    def run(self) -> PickleAnalysis:
        """Execute symbolically up to STOP; a malformed stream ends the run with ``error`` set (what
        came before it still counts: a real loader has executed it by then)."""
        try:
            self._loop()
        except MalformedInput as exc:
            self.analysis.error = str(exc)
        self.analysis.end = self.stream.pos
        return self.analysis

    def _loop(self) -> None:
        # The hot loop of every scan: locals instead of attribute lookups, budgets checked every 4096 ops.
        stream, analysis, handlers = self.stream, self.analysis, HANDLERS
        next_opcode = stream.opcode
        count = analysis.opcodes
        try:
            while True:
                self._op_offset = stream.pos
                code = next_opcode()
                count += 1
                if not count & 0xFFF:
                    analysis.opcodes = count
                    self._check_budget()
                handler = handlers.get(code)
                if handler is None:
                    _invalid_opcode(code, self._op_offset)
                elif handler(self) is STOP:
                    analysis.stopped = True
                    return
        finally:
            analysis.opcodes = count

    def _check_budget(self) -> None:
        self.deadline.check()
        if self.analysis.opcodes > self.limits.max_pickle_ops:
            raise LimitExceeded("max_pickle_ops", f"more than {self.limits.max_pickle_ops} opcodes")
        if len(self.stack) + self.buried + len(self.metastack) > self.limits.max_pickle_stack:
            raise LimitExceeded("max_pickle_stack", f"more than {self.limits.max_pickle_stack} items")

    # --- stack helpers ------------------------------------------------------------------------------
    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise MalformedInput(f"unpickling stack underflow at offset {self._op_offset}")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise MalformedInput(f"unpickling stack underflow at offset {self._op_offset}")
        return self.stack[-1]

    def push_mark(self) -> None:
        self.metastack.append(self.stack)
        self.buried += len(self.stack)
        self.stack = []

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise MalformedInput(f"could not find MARK at offset {self._op_offset}")
        items = self.stack
        self.stack = self.metastack.pop()
        self.buried -= len(self.stack)
        return items

    def memo_put(self, index: int, value: Any) -> None:
        if index < 0:
            raise MalformedInput("negative PUT argument")
        if index not in self.memo and len(self.memo) >= self.limits.max_pickle_memo:
            raise LimitExceeded("max_pickle_memo", f"more than {self.limits.max_pickle_memo} memo entries")
        self.memo[index] = value

    def memo_get(self, index: int) -> Any:
        try:
            return self.memo[index]
        except KeyError:
            raise MalformedInput(f"memo key {index} not found at offset {self._op_offset}") from None

    # --- recording ----------------------------------------------------------------------------------
    def import_global(self, module: str, name: str, opcode: str) -> GlobalRef:
        ref = GlobalRef(module, name, self._op_offset)
        site = self.analysis.imports.get((module, name))
        if site is None:
            site = ImportSite(module, name, self._op_offset, opcode)
            self.analysis.imports[(module, name)] = site
        site.count += 1
        return ref

    def call(
        self, callee: Any, args: Any, kind: str, *, deferred: bool = False, depth: int = 0
    ) -> CallResult:
        """Record ``callee(*args)``; a helper that calls one of its arguments records that call too."""
        result = CallResult(callee, args, self._op_offset, kind)
        analysis = self.analysis
        if isinstance(callee, GlobalRef):
            site = analysis.imports[(callee.module, callee.name)]
            site.called = site.called or not deferred
            if len(site.calls) < CALL_SAMPLES:
                site.calls.append(result)
        elif not deferred and len(analysis.indirect_calls) < CALL_SAMPLES * 4:
            analysis.indirect_calls.append(result)
        if _is_loader(callee):
            # Always kept: a flood of ordinary calls with bytes (NumPy scalars) must not push it out.
            if len(analysis.payload_candidates) >= MAX_LOADER_CALLS:
                raise LimitExceeded("max_loader_calls", f"more than {MAX_LOADER_CALLS} loader calls")
            analysis.payload_candidates.append((self._op_offset, result))
        elif _carries_payload(args) and len(analysis.payload_candidates) < PAYLOAD_SAMPLES:
            analysis.payload_candidates.append((self._op_offset, result))
        inner = inner_call(callee, args)
        if inner is not None and depth < INVOKER_DEPTH:
            self.call(
                inner.callee,
                inner.args,
                f"{kind} via {render(callee)}",
                deferred=deferred or inner.deferred,
                depth=depth + 1,
            )
        return result

    def record_dynamic_import(self, module: Any, name: Any) -> None:
        self.analysis.dynamic_imports.append((self._op_offset, f"{render(module)} . {render(name)}"))


def _is_loader(callee: Any) -> bool:
    return isinstance(callee, GlobalRef) and f"{callee.module}.{callee.name}" in LOADER_GLOBALS


def _carries_payload(args: Any) -> bool:
    """Bytes or long strings among the arguments could be a serialized payload handed to a loader."""
    values = args if isinstance(args, tuple) else (args,)
    for value in values:
        if isinstance(value, LargeData):
            return True
        if isinstance(value, bytes | bytearray) and len(value) >= 8:
            return True
        if isinstance(value, str) and len(value) >= 16:
            return True
    return False


def _invalid_opcode(code: int, offset: int) -> None:
    raise MalformedInput(f"invalid pickle opcode 0x{code:02x} at offset {offset}")
