"""Opcode handlers of the symbolic pickle machine, one per opcode, mirroring ``_pickle.c``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import pickle_ops as ops
from .limits import MalformedInput
from .pickle_ops import LargeData
from .pickle_values import CONTAINER_CAP, CallResult, Opaque, PersistentRef, SymDict, SymList, SymSet

if TYPE_CHECKING:
    from .pickle_vm import PickleMachine

DOTTED_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
STOP = object()  # returned by the STOP handler


# --- opcode handlers ----------------------------------------------------------------------------------
def _text_or_large(m: PickleMachine, data: bytes | LargeData) -> str | LargeData:
    if isinstance(data, LargeData):
        return data
    return ops.decode_unicode(data)


def op_mark(m: PickleMachine) -> None:
    m.push_mark()


def op_stop(m: PickleMachine) -> object:
    m.analysis.result = m.pop()
    return STOP


def op_pop(m: PickleMachine) -> None:
    if m.stack:
        m.stack.pop()
    elif m.metastack:
        m.pop_mark()
    else:
        raise MalformedInput("unpickling stack underflow on POP")


def op_pop_mark(m: PickleMachine) -> None:
    m.pop_mark()


def op_dup(m: PickleMachine) -> None:
    m.push(m.top())


def op_float(m: PickleMachine) -> None:
    m.push(ops.parse_float_line(m.stream.readline()))


def op_binfloat(m: PickleMachine) -> None:
    m.stream.read(8)
    m.push(0.0)


def op_int(m: PickleMachine) -> None:
    m.push(ops.parse_int_line(m.stream.readline()))


def op_binint(m: PickleMachine) -> None:
    m.push(m.stream.i32())


def op_binint1(m: PickleMachine) -> None:
    m.push(m.stream.u8())


def op_binint2(m: PickleMachine) -> None:
    m.push(m.stream.u16())


def op_long(m: PickleMachine) -> None:
    m.push(ops.parse_long_line(m.stream.readline()))


def op_long1(m: PickleMachine) -> None:
    m.push(ops.decode_long(m.stream.read(m.stream.u8())))


def op_long4(m: PickleMachine) -> None:
    n = m.stream.i32()
    if n < 0:
        raise MalformedInput("LONG pickle has negative byte count")
    if n > 4096:
        m.stream.skip(n)
        m.push(Opaque("huge integer"))
        return
    m.push(ops.decode_long(m.stream.read(n)))


def op_none(m: PickleMachine) -> None:
    m.push(None)


def op_newtrue(m: PickleMachine) -> None:
    m.push(True)


def op_newfalse(m: PickleMachine) -> None:
    m.push(False)


def op_string(m: PickleMachine) -> None:
    m.push(ops.parse_string_line(m.stream.readline()))


def op_binstring(m: PickleMachine) -> None:
    n = m.stream.i32()
    if n < 0:
        raise MalformedInput("BINSTRING pickle has negative byte count")
    m.push(_latin1(m.stream.read_sized(n, is_text=True)))


def op_short_binstring(m: PickleMachine) -> None:
    m.push(_latin1(m.stream.read_sized(m.stream.u8(), is_text=True)))


def _latin1(data: bytes | LargeData) -> str | LargeData:
    # Python 2 str: the unpickler decodes it with the caller's encoding; latin-1 never fails here.
    return data if isinstance(data, LargeData) else data.decode("latin-1")


def op_unicode(m: PickleMachine) -> None:
    m.push(ops.decode_raw_unicode_line(m.stream.readline()))


def op_binunicode(m: PickleMachine) -> None:
    m.push(_text_or_large(m, m.stream.read_sized(m.stream.u32(), is_text=True)))


def op_short_binunicode(m: PickleMachine) -> None:
    m.push(_text_or_large(m, m.stream.read_sized(m.stream.u8(), is_text=True)))


def op_binunicode8(m: PickleMachine) -> None:
    m.push(_text_or_large(m, m.stream.read_sized(m.stream.u64(), is_text=True)))


def op_binbytes(m: PickleMachine) -> None:
    m.push(m.stream.read_sized(m.stream.u32(), is_text=False))


def op_short_binbytes(m: PickleMachine) -> None:
    m.push(m.stream.read_sized(m.stream.u8(), is_text=False))


def op_binbytes8(m: PickleMachine) -> None:
    m.push(m.stream.read_sized(m.stream.u64(), is_text=False))


def op_bytearray8(m: PickleMachine) -> None:
    m.push(m.stream.read_sized(m.stream.u64(), is_text=False))


def op_next_buffer(m: PickleMachine) -> None:
    m.analysis.out_of_band_buffers += 1
    m.push(Opaque("out-of-band buffer"))


def op_readonly_buffer(m: PickleMachine) -> None:
    m.top()


def op_empty_tuple(m: PickleMachine) -> None:
    m.push(())


def op_tuple(m: PickleMachine) -> None:
    m.push(_tuple(m.pop_mark()))


def _tuple(items: list[Any]) -> Any:
    return tuple(items) if len(items) <= CONTAINER_CAP else Opaque(f"tuple of {len(items)} items")


def op_tuple1(m: PickleMachine) -> None:
    m.push((m.pop(),))


def op_tuple2(m: PickleMachine) -> None:
    b = m.pop()
    a = m.pop()
    m.push((a, b))


def op_tuple3(m: PickleMachine) -> None:
    c = m.pop()
    b = m.pop()
    a = m.pop()
    m.push((a, b, c))


def op_empty_list(m: PickleMachine) -> None:
    m.push(SymList())


def op_list(m: PickleMachine) -> None:
    items = m.pop_mark()
    lst = SymList()
    for item in items:
        lst.add(item)
    m.push(lst)


def op_empty_dict(m: PickleMachine) -> None:
    m.push(SymDict())


def op_dict(m: PickleMachine) -> None:
    items = m.pop_mark()
    if len(items) % 2:
        raise MalformedInput("odd number of items for DICT")
    d = SymDict()
    for i in range(0, len(items), 2):
        d.set(items[i], items[i + 1])
    m.push(d)


def op_empty_set(m: PickleMachine) -> None:
    m.push(SymSet())


def op_frozenset(m: PickleMachine) -> None:
    m.push(SymSet(m.pop_mark()[:CONTAINER_CAP]))


def op_append(m: PickleMachine) -> None:
    value = m.pop()
    target = m.top()
    if isinstance(target, SymList):
        target.add(value)


def op_appends(m: PickleMachine) -> None:
    items = m.pop_mark()
    target = m.top()
    if isinstance(target, SymList):
        for item in items:
            target.add(item)


def op_setitem(m: PickleMachine) -> None:
    value = m.pop()
    key = m.pop()
    target = m.top()
    if isinstance(target, SymDict):
        target.set(key, value)


def op_setitems(m: PickleMachine) -> None:
    items = m.pop_mark()
    if len(items) % 2:
        raise MalformedInput("odd number of items for SETITEMS")
    target = m.top()
    if isinstance(target, SymDict):
        for i in range(0, len(items), 2):
            target.set(items[i], items[i + 1])


def op_additems(m: PickleMachine) -> None:
    items = m.pop_mark()
    target = m.top()
    if isinstance(target, SymSet) and len(target.items) < CONTAINER_CAP:
        target.items.extend(items[: CONTAINER_CAP - len(target.items)])


def op_get(m: PickleMachine) -> None:
    m.push(m.memo_get(_int_arg(m.stream.readline())))


def op_binget(m: PickleMachine) -> None:
    m.push(m.memo_get(m.stream.u8()))


def op_long_binget(m: PickleMachine) -> None:
    m.push(m.memo_get(m.stream.u32()))


def op_put(m: PickleMachine) -> None:
    m.memo_put(_int_arg(m.stream.readline()), m.top())


def op_binput(m: PickleMachine) -> None:
    m.memo_put(m.stream.u8(), m.top())


def op_long_binput(m: PickleMachine) -> None:
    m.memo_put(m.stream.u32(), m.top())


def op_memoize(m: PickleMachine) -> None:
    m.memo_put(len(m.memo), m.top())


def _int_arg(line: bytes) -> int:
    try:
        return int(line.decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"bad memo key {line[:20]!r}") from exc


def _read_global_names(m: PickleMachine) -> tuple[str, str]:
    try:
        module = m.stream.readline().decode("utf-8")
        name = m.stream.readline().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"undecodable GLOBAL name at offset {m._op_offset}") from exc
    _require_importable(m, module, name)
    return module, name


def _require_importable(m: PickleMachine, module: str, name: str) -> None:
    """find_class fails on names that are not dotted identifiers, so the load stops there: nothing
    after it runs. Treating them as the end of the stream keeps text files from looking like pickles."""
    if not (DOTTED_IDENTIFIER.fullmatch(module) and DOTTED_IDENTIFIER.fullmatch(name)):
        raise MalformedInput(
            f"global {module[:60]!r} {name[:60]!r} at offset {m._op_offset} cannot be imported"
        )


def op_global(m: PickleMachine) -> None:
    module, name = _read_global_names(m)
    m.push(m.import_global(module, name, "GLOBAL"))


def op_stack_global(m: PickleMachine) -> None:
    name = m.pop()
    module = m.pop()
    if isinstance(module, str) and isinstance(name, str):
        _require_importable(m, module, name)
        m.push(m.import_global(module, name, "STACK_GLOBAL"))
        return
    # The real unpickler raises on non-str operands, but anything computed here is hostile by intent.
    m.record_dynamic_import(module, name)
    m.push(Opaque("dynamically imported global"))


def op_inst(m: PickleMachine) -> None:
    module, name = _read_global_names(m)
    ref = m.import_global(module, name, "INST")
    args = _tuple(m.pop_mark())
    m.push(m.call(ref, args, "INST"))


def op_obj(m: PickleMachine) -> None:
    items = m.pop_mark()
    if not items:
        raise MalformedInput("OBJ without a class")
    m.push(m.call(items[0], _tuple(items[1:]), "OBJ"))


def op_reduce(m: PickleMachine) -> None:
    args = m.pop()
    callee = m.pop()
    m.push(m.call(callee, args, "REDUCE"))


def op_newobj(m: PickleMachine) -> None:
    args = m.pop()
    cls = m.pop()
    m.push(m.call(cls, args, "NEWOBJ"))


def op_newobj_ex(m: PickleMachine) -> None:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    m.push(m.call(cls, (args, kwargs), "NEWOBJ_EX"))


def op_build(m: PickleMachine) -> None:
    state = m.pop()
    target = m.top()
    if isinstance(target, CallResult):
        target.state = state
        if m.build_hook is not None:
            m.build_hook(target, m.stream, m)


def op_persid(m: PickleMachine) -> None:
    pid = m.stream.readline()
    m.analysis.persistent_ids += 1
    m.push(PersistentRef(pid.decode("ascii", "replace")))


def op_binpersid(m: PickleMachine) -> None:
    m.analysis.persistent_ids += 1
    pid = m.pop()
    if len(m.analysis.persistent_pids) < m.limits.max_pickle_memo:
        m.analysis.persistent_pids.append(pid)
    m.push(PersistentRef(pid))


def _ext(m: PickleMachine, code: int) -> None:
    m.analysis.extension_codes.append((m._op_offset, code))
    m.push(Opaque(f"extension code {code}"))


def op_ext1(m: PickleMachine) -> None:
    _ext(m, m.stream.u8())


def op_ext2(m: PickleMachine) -> None:
    _ext(m, m.stream.u16())


def op_ext4(m: PickleMachine) -> None:
    _ext(m, m.stream.i32())


def op_proto(m: PickleMachine) -> None:
    proto = m.stream.u8()
    if proto > ops.HIGHEST_PROTOCOL:
        raise MalformedInput(f"unsupported pickle protocol: {proto}")
    m.analysis.protocol = proto


def op_frame(m: PickleMachine) -> None:
    size = m.stream.u64()
    if size > m.stream.remaining:
        raise MalformedInput(f"FRAME of {size} bytes exceeds the data at offset {m._op_offset}")
    m.analysis.frame_end = m.stream.pos + size


HANDLERS: dict[int, Callable[[PickleMachine], object]] = {
    ord(code): handler
    for code, handler in {
        "(": op_mark, ".": op_stop, "0": op_pop, "1": op_pop_mark, "2": op_dup,
        "F": op_float, "G": op_binfloat, "I": op_int, "J": op_binint, "K": op_binint1, "M": op_binint2,
        "L": op_long, "\x8a": op_long1, "\x8b": op_long4, "N": op_none, "\x88": op_newtrue,
        "\x89": op_newfalse, "S": op_string, "T": op_binstring, "U": op_short_binstring,
        "V": op_unicode, "X": op_binunicode, "\x8c": op_short_binunicode, "\x8d": op_binunicode8,
        "B": op_binbytes, "C": op_short_binbytes, "\x8e": op_binbytes8, "\x96": op_bytearray8,
        "\x97": op_next_buffer, "\x98": op_readonly_buffer, ")": op_empty_tuple, "t": op_tuple,
        "\x85": op_tuple1, "\x86": op_tuple2, "\x87": op_tuple3, "]": op_empty_list, "l": op_list,
        "}": op_empty_dict, "d": op_dict, "\x8f": op_empty_set, "\x91": op_frozenset,
        "a": op_append, "e": op_appends, "s": op_setitem, "u": op_setitems, "\x90": op_additems,
        "g": op_get, "h": op_binget, "j": op_long_binget, "p": op_put, "q": op_binput,
        "r": op_long_binput, "\x94": op_memoize, "c": op_global, "\x93": op_stack_global,
        "i": op_inst, "o": op_obj, "R": op_reduce, "\x81": op_newobj, "\x92": op_newobj_ex,
        "b": op_build, "P": op_persid, "Q": op_binpersid, "\x82": op_ext1, "\x83": op_ext2,
        "\x84": op_ext4, "\x80": op_proto, "\x95": op_frame,
    }.items()
}  # fmt: skip

PICKLE_OPCODE_BYTES = frozenset(HANDLERS)
