"""joblib's array persistence: the bytes of each NumPy array are written raw into the pickle stream right
after its NumpyArrayWrapper (object arrays as a nested pickle), and read back when the unpickler BUILDs
the wrapper. The scanner must skip or parse them exactly as joblib does to stay in step."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from .limits import LimitExceeded, MalformedInput
from .pickle_ops import OpcodeStream
from .pickle_values import CallResult, GlobalRef, SymDict
from .pickle_vm import PickleMachine

if TYPE_CHECKING:
    from .context import ScanContext

_JOBLIB_WRAPPERS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
}
_JOBLIB_FILE_WRAPPERS = {
    ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
    ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NDArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "ZNDArrayWrapper"),
}
_MAX_JOBLIB_NESTING = 16


class JoblibHook:
    """joblib's NumpyArrayWrapper is followed in the stream by the array bytes (or, for object arrays,
    by a nested pickle); the unpickler reads them when it BUILDs the wrapper, so must we."""

    def __init__(self, ctx: ScanContext) -> None:
        self._ctx = ctx
        self._nesting = 0
        self.arrays = 0

    def __call__(self, obj: CallResult, stream: OpcodeStream, machine: PickleMachine) -> None:
        callee = obj.callee
        if not isinstance(callee, GlobalRef):
            return
        key = (callee.module, callee.name)
        if key in _JOBLIB_FILE_WRAPPERS:
            filename = obj.state.get("filename") if isinstance(obj.state, SymDict) else None
            if isinstance(filename, str):
                machine.analysis.external_files.append((obj.offset, filename))
            return
        if key not in _JOBLIB_WRAPPERS:
            return
        self.arrays += 1
        state = obj.state
        if not isinstance(state, SymDict):
            raise MalformedInput(f"joblib array wrapper at offset {obj.offset} has no state")
        itemsize, has_object = dtype_layout(state.get("dtype"))
        if has_object:
            self._nested_pickle(stream, machine)
            return
        count = _element_count(state.get("shape"))
        if (
            any(k == "numpy_array_alignment_bytes" for k, _ in state.items)
            and state.get("numpy_array_alignment_bytes") is not None
        ):
            stream.skip(stream.u8())
        stream.skip(count * itemsize)

    def _nested_pickle(self, stream: OpcodeStream, machine: PickleMachine) -> None:
        if self._nesting >= _MAX_JOBLIB_NESTING:
            raise LimitExceeded("max_depth", "joblib object arrays nest too deeply")
        self._nesting += 1
        try:
            inner = PickleMachine(stream, limits=machine.limits, deadline=machine.deadline, build_hook=self)
            analysis = inner.run()
        finally:
            self._nesting -= 1
        machine.analysis.side_streams.append(analysis)
        if analysis.error is not None:
            raise MalformedInput(f"joblib object array pickle: {analysis.error}")


_DTYPE_DESCR = re.compile(r"[<>|=]?([?bBhHiIlLqQpPefdgFDGSaUVOMmcbiufc])(\d*)(\[\w+\])?")
_KIND_SIZES = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
               "p": 8, "P": 8, "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "O": 8,
               "M": 8, "m": 8}  # fmt: skip


def dtype_layout(dtype: Any) -> tuple[int, bool]:
    """(itemsize, has_object) of a pickled ``numpy.dtype(descr, align, copy)`` with its BUILD state."""
    if not (
        isinstance(dtype, CallResult) and isinstance(dtype.callee, GlobalRef) and dtype.callee.name == "dtype"
    ):
        raise MalformedInput("joblib array wrapper without a numpy dtype")
    args = dtype.args
    descr = args[0] if isinstance(args, tuple) and args else None
    if not isinstance(descr, str):
        raise MalformedInput("joblib array dtype has no descriptor")
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    elsize = state[5] if len(state) >= 8 and isinstance(state[5], int) else -1
    flags = state[-1] if state and isinstance(state[-1], int) else 0
    match = _DTYPE_DESCR.fullmatch(descr)
    if match is None:
        raise MalformedInput(f"unsupported joblib dtype {descr!r}")
    kind, digits = match.group(1), match.group(2)
    has_object = kind == "O" or bool(flags & 1)  # NPY_ITEM_REFCOUNT: the dtype holds Python objects
    if elsize > 0:
        itemsize = elsize
    elif digits and kind not in "SUV":
        itemsize = int(digits)
    elif digits:
        itemsize = int(digits) * (4 if kind == "U" else 1)
    else:
        itemsize = _KIND_SIZES.get(kind, 0)
    if itemsize <= 0 and not has_object:
        raise MalformedInput(f"cannot size joblib dtype {descr!r}")
    return itemsize, has_object


def _element_count(shape: Any) -> int:
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise MalformedInput("joblib array shape is not a tuple of sizes")
    return math.prod(shape)
