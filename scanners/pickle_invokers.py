"""Pickle callables that call a callable they are handed, and the loaders whose bytes must be scanned.

An allowlisted reconstruction helper that calls one of its arguments is a doorway to any callable, and
the allowlisted ``torch.storage._load_from_bytes`` runs ``torch.load(weights_only=False)`` on bytes the
pickle supplies. The symbolic machine therefore records the call such a helper makes as a call of its
own: the inner callable is judged as called (not merely referenced) and bytes that reach a loader this
way are scanned like any nested payload. Public write-ups of the class:

- nested pickles handed to a loader: picklescan GHSA-84r2-jw7c-4r5q; modelscan issue #267 (a
  ``pickle.loads`` payload not flagged); ModelAudit PR #153 and #1583 (nested payloads, and failing
  closed at the nesting-depth limit);
- ``functools.partial`` wrapping a blocked callable: fickling PR #210 ("functools.partial wrapper
  bypass"); ``operator.attrgetter``/``methodcaller``: picklescan GHSA-m273-6v24-x4m4 and
  GHSA-955r-x9j8-7rhh; string-to-callable resolvers: picklescan GHSA-vvpj-8cmc-gx39;
- copyreg's extension registry (EXT1/2/4 name a callable by number): ModelAudit PR #623.
The torch and NumPy helpers below are listed from their own source (torch/_tensor.py,
numpy/random/_pickle.py), which calls ``func(*args)`` and ``bit_generator_ctor(name)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .pickle_values import CallResult, GlobalRef


@dataclass(frozen=True, slots=True)
class InnerCall:
    callee: Any
    args: Any
    deferred: bool  # the call happens later, when the application uses the object (functools.partial)


def _positional(args: Any) -> tuple[Any, ...] | None:
    return args if isinstance(args, tuple) else None


def _from_type(args: tuple[Any, ...]) -> InnerCall | None:
    # _rebuild_from_type(_v2)(func, new_type, args, state): ret = func(*args)
    if len(args) < 3:
        return None
    return InnerCall(args[0], args[2], deferred=False)


def _is_bit_generator(value: Any) -> bool:
    """An already built NumPy bit generator: the ctor helpers use it as it is and call nothing."""
    return (
        isinstance(value, CallResult)
        and isinstance(value.callee, GlobalRef)
        and value.callee.module.startswith("numpy.random")
    )


def _numpy_ctor(args: tuple[Any, ...]) -> InnerCall | None:
    # __randomstate_ctor / __generator_ctor(bit_generator_name, bit_generator_ctor): ctor(name)
    if len(args) < 2 or _is_bit_generator(args[0]):
        return None
    return InnerCall(args[1], (args[0],), deferred=False)


def _bit_generator_ctor(args: tuple[Any, ...]) -> InnerCall | None:
    # __bit_generator_ctor(bit_generator): a class is instantiated, a name is looked up
    if not args or not isinstance(args[0], GlobalRef):
        return None
    return InnerCall(args[0], (), deferred=False)


def _reconstructor(args: tuple[Any, ...]) -> InnerCall | None:
    # copyreg._reconstructor(cls, base, state): base.__new__(cls, state) and base.__init__(obj, state)
    if len(args) < 3:
        return None
    return InnerCall(args[1], (args[2],), deferred=False)


def _newobj(args: tuple[Any, ...]) -> InnerCall | None:
    # copyreg.__newobj__(cls, *args): cls.__new__(cls, *args)
    return InnerCall(args[0], args[1:], deferred=False) if args else None


def _newobj_ex(args: tuple[Any, ...]) -> InnerCall | None:
    # copyreg.__newobj_ex__(cls, args, kwargs): cls.__new__(cls, *args, **kwargs)
    return InnerCall(args[0], args[1], deferred=False) if len(args) >= 2 else None


def _partial(args: tuple[Any, ...]) -> InnerCall | None:
    # functools.partial(func, *args): func(*args) when the application calls the result
    return InnerCall(args[0], args[1:], deferred=True) if args else None


_INVOKERS: dict[str, Callable[[tuple[Any, ...]], InnerCall | None]] = {
    "torch._tensor._rebuild_from_type": _from_type,
    "torch._tensor._rebuild_from_type_v2": _from_type,
    "torch._utils._rebuild_from_type": _from_type,
    "torch._utils._rebuild_from_type_v2": _from_type,
    "numpy.random._pickle.__randomstate_ctor": _numpy_ctor,
    "numpy.random._pickle.__generator_ctor": _numpy_ctor,
    "numpy.random._pickle.__bit_generator_ctor": _bit_generator_ctor,
    "copyreg._reconstructor": _reconstructor,
    "copy_reg._reconstructor": _reconstructor,
    "copyreg.__newobj__": _newobj,
    "copy_reg.__newobj__": _newobj,
    "copyreg.__newobj_ex__": _newobj_ex,
    "functools.partial": _partial,
    "_functools.partial": _partial,
}


def inner_call(callee: Any, args: Any) -> InnerCall | None:
    """The call ``callee(*args)`` makes of one of its own arguments, if ``callee`` is such a helper."""
    if not isinstance(callee, GlobalRef):
        return None
    invoker = _INVOKERS.get(f"{callee.module}.{callee.name}")
    positional = _positional(args)
    if invoker is None or positional is None:
        return None
    return invoker(positional)
