"""The stand-in values the symbolic pickle machine puts on its stack, and their rendering as evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .pickle_ops import LargeData

CONTAINER_CAP = 256  # items of a list/dict/tuple kept for analysis; the rest are only counted


class Mark:
    __slots__ = ()


MARK = Mark()


@dataclass(eq=False, slots=True)
class GlobalRef:
    """What GLOBAL, STACK_GLOBAL or INST resolved (``module``, ``name`` exactly as find_class sees them)."""

    module: str
    name: str
    offset: int


@dataclass(eq=False, slots=True)
class CallResult:
    """The object a REDUCE/INST/OBJ/NEWOBJ would produce; BUILD records ``state`` on it."""

    callee: Any
    args: Any
    offset: int
    kind: str
    state: Any = None


@dataclass(eq=False, slots=True)
class PersistentRef:
    pid: Any


@dataclass(eq=False, slots=True)
class Opaque:
    """A value the machine cannot know (out-of-band buffer, extension code, oversized container)."""

    reason: str


@dataclass(eq=False, slots=True)
class SymList:
    items: list[Any] = field(default_factory=list)
    dropped: int = 0

    def add(self, value: Any) -> None:
        if len(self.items) < CONTAINER_CAP:
            self.items.append(value)
        else:
            self.dropped += 1


@dataclass(eq=False, slots=True)
class SymDict:
    items: list[tuple[Any, Any]] = field(default_factory=list)
    dropped: int = 0

    def set(self, key: Any, value: Any) -> None:
        if len(self.items) < CONTAINER_CAP:
            self.items.append((key, value))
        else:
            self.dropped += 1

    def get(self, key: str) -> Any:
        for k, v in reversed(self.items):
            if k == key:
                return v
        return None


@dataclass(eq=False, slots=True)
class SymSet:
    items: list[Any] = field(default_factory=list)


# --- rendering for evidence ---------------------------------------------------------------------------
def render(value: Any, depth: int = 0) -> str:
    """A short, human-readable rendering of a symbolic value for evidence strings."""
    if depth > 3:
        return "…"
    if isinstance(value, GlobalRef):
        return f"{value.module}.{value.name}"
    if isinstance(value, CallResult):
        args = value.args
        inner = ", ".join(render(a, depth + 1) for a in args[:6]) if isinstance(args, tuple) else render(args)
        return f"{render(value.callee, depth + 1)}({inner})"
    if isinstance(value, str):
        return repr(value[:120] + ("…" if len(value) > 120 else ""))
    if isinstance(value, bytes | bytearray):
        return repr(bytes(value[:48])) + (f"…({len(value)} bytes)" if len(value) > 48 else "")
    if isinstance(value, LargeData):
        return f"<{value.length} bytes starting {value.head[:24]!r}>"
    if isinstance(value, tuple):
        return "(" + ", ".join(render(v, depth + 1) for v in value[:6]) + (", …)" if len(value) > 6 else ")")
    if isinstance(value, SymList):
        return "[" + ", ".join(render(v, depth + 1) for v in value.items[:6]) + "]"
    if isinstance(value, SymDict):
        return (
            "{"
            + ", ".join(f"{render(k, depth + 1)}: {render(v, depth + 1)}" for k, v in value.items[:6])
            + "}"
        )
    if isinstance(value, PersistentRef):
        return f"persistent_id({render(value.pid, depth + 1)})"
    if isinstance(value, Opaque):
        return f"<{value.reason}>"
    return repr(value)[:80]
