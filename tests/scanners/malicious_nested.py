"""Malicious pickles that hand bytes to a loader through allowlisted or indirect callables (issue #11).

``torch.storage._load_from_bytes(b)`` is ``torch.load(io.BytesIO(b), weights_only=False)``: whatever
pickle ``b`` holds runs (the legacy reader unpickles the magic number first). It is allowlisted because
``pickle.dumps`` of any tensor writes it, so the bytes themselves must be judged. The advisories of the
class are listed in ``scanners/pickle_invokers.py``. Payloads only create a marker file.
"""

from __future__ import annotations

from pathlib import Path

from tests.scanners import pickle_asm as asm
from tests.scanners.malicious_registry import DANGEROUS, system_pickle, technique

NESTED = "pickle.nested-payload"
LOAD_FROM_BYTES = asm.stack_global("torch.storage", "_load_from_bytes")


def bytes_from_ints(data: bytes) -> bytes:
    """``builtins.bytes([..ints..])``: bytes built at load time, so no bytes opcode holds the payload."""
    ints = b"".join(b"K" + bytes([value]) for value in data)
    return asm.call(asm.stack_global("builtins", "bytes"), b"]" + asm.MARK + ints + b"e")


@technique(
    "nested_load_from_bytes",
    "storage.pkl",
    "torch.storage._load_from_bytes(pickle bytes)",
    "GHSA-84r2-jw7c-4r5q class; torch/storage.py _load_from_bytes",
    NESTED,
    DANGEROUS,
)
def _load_from_bytes(out: Path, marker: Path) -> None:
    out.write_bytes(asm.program(asm.call(LOAD_FROM_BYTES, asm.binbytes(system_pickle(marker)))))


@technique(
    "nested_rebuild_from_type_v2",
    "subclass.pkl",
    "torch._tensor._rebuild_from_type_v2(_load_from_bytes, Tensor, (payload,), {}) calls func(*args)",
    "torch/_tensor.py _rebuild_from_type_v2; issue #11",
    NESTED,
    DANGEROUS,
)
def _rebuild_from_type(out: Path, marker: Path) -> None:
    args = asm.MARK + asm.binbytes(system_pickle(marker)) + asm.TUPLE
    out.write_bytes(
        asm.program(
            asm.call(
                asm.stack_global("torch._tensor", "_rebuild_from_type_v2"),
                LOAD_FROM_BYTES,
                asm.stack_global("torch", "Tensor"),
                args,
                asm.EMPTY_DICT,
            )
        )
    )


@technique(
    "nested_randomstate_ctor",
    "rng.pkl",
    "numpy.random._pickle.__randomstate_ctor(payload, _load_from_bytes) calls ctor(name)",
    "numpy/random/_pickle.py __randomstate_ctor; issue #11",
    NESTED,
    DANGEROUS,
)
def _randomstate(out: Path, marker: Path) -> None:
    ctor = asm.stack_global("numpy.random._pickle", "__randomstate_ctor")
    out.write_bytes(asm.program(asm.call(ctor, asm.binbytes(system_pickle(marker)), LOAD_FROM_BYTES)))


@technique(
    "nested_partial_built_bytes",
    "hooks.pkl",
    "functools.partial(_load_from_bytes, bytes([...])) kept as a hook the application calls later",
    "fickling PR #210 (functools.partial wrapper); issue #11",
    NESTED,
    DANGEROUS,
)
def _partial(out: Path, marker: Path) -> None:
    hook = asm.call(
        asm.stack_global("functools", "partial"), LOAD_FROM_BYTES, bytes_from_ints(system_pickle(marker))
    )
    out.write_bytes(asm.program(asm.EMPTY_DICT + asm.text("on_load") + hook + b"s"))


@technique(
    "nested_after_scalar_flood",
    "scalars.pkl",
    "100 NumPy scalars (calls with bytes, as every sklearn model has) before _load_from_bytes(payload)",
    "issue #11 (a scanner that keeps the first 64 byte-carrying calls never sees the loader)",
    NESTED,
    DANGEROUS,
)
def _flood(out: Path, marker: Path) -> None:
    scalar = asm.stack_global("numpy._core.multiarray", "scalar") + asm.MEMOIZE + asm.POP  # memo 0
    dtype = asm.call(asm.stack_global("numpy", "dtype"), asm.text("f8")) + asm.MEMOIZE + asm.POP  # memo 1
    one = asm.binget(0) + asm.binget(1) + asm.binbytes(b"\x00" * 8) + asm.TUPLE2 + asm.REDUCE
    loader = asm.call(LOAD_FROM_BYTES, asm.binbytes(system_pickle(marker)))
    out.write_bytes(asm.program(scalar + dtype + b"]" + asm.MARK + one * 100 + loader + b"e"))


@technique(
    "nested_payload_not_sniffable",
    "padded.pkl",
    "_load_from_bytes of a pickle that starts by pushing a 2 MiB string (no pickle signature up front)",
    "ReversingLabs nullifAI (2025) class; issue #11",
    NESTED,
    DANGEROUS,
)
def _padded(out: Path, marker: Path) -> None:
    padding = asm.text("#" * (2 << 20)) + asm.POP
    payload = padding + asm.call(asm.glob("posix", "system"), asm.text(f"touch {marker}")) + asm.STOP
    out.write_bytes(asm.program(asm.call(LOAD_FROM_BYTES, asm.binbytes(payload))))


@technique(
    "nested_depth_chain",
    "chain.pkl",
    "eight _load_from_bytes layers around the payload",
    "ModelAudit PR #1583 (fail closed at the nesting-depth limit)",
    NESTED,
    "limit.exceeded",
    DANGEROUS,
)
def _chain(out: Path, marker: Path) -> None:
    data = system_pickle(marker)
    for _ in range(8):
        data = asm.program(asm.call(LOAD_FROM_BYTES, asm.binbytes(data)))
    out.write_bytes(data)


# --- reached through indirection: already flagged before issue #11 by the imports alone; kept as
# regression samples because each was a bypass of a public scanner -------------------------------------
@technique(
    "nested_getattr_load_from_bytes",
    "getattr_storage.pkl",
    "getattr(torch.storage, '_load_from_bytes')(payload)",
    "picklescan GHSA-vvpj-8cmc-gx39 class (attribute resolution)",
    DANGEROUS,
    NESTED,
)
def _getattr(out: Path, marker: Path) -> None:
    loader = asm.call(
        asm.stack_global("builtins", "getattr"), asm.glob("torch", "storage"), asm.text("_load_from_bytes")
    )
    out.write_bytes(asm.program(asm.call(loader, asm.binbytes(system_pickle(marker)))))


@technique(
    "nested_methodcaller_load",
    "methodcaller_load.pkl",
    "operator.methodcaller('_load_from_bytes', payload)(torch.storage)",
    "picklescan GHSA-955r-x9j8-7rhh",
    DANGEROUS,
)
def _methodcaller(out: Path, marker: Path) -> None:
    caller = asm.call(
        asm.stack_global("_operator", "methodcaller"),
        asm.text("_load_from_bytes"),
        asm.binbytes(system_pickle(marker)),
    )
    out.write_bytes(asm.program(asm.call(caller, asm.glob("torch", "storage"))))


@technique(
    "nested_attrgetter_load",
    "attrgetter_load.pkl",
    "operator.attrgetter('_load_from_bytes')(torch.storage)(payload)",
    "picklescan GHSA-m273-6v24-x4m4",
    DANGEROUS,
)
def _attrgetter(out: Path, marker: Path) -> None:
    getter = asm.call(asm.stack_global("operator", "attrgetter"), asm.text("_load_from_bytes"))
    loader = asm.call(getter, asm.glob("torch", "storage"))
    out.write_bytes(asm.program(asm.call(loader, asm.binbytes(system_pickle(marker)))))


@technique(
    "nested_extension_registry_loader",
    "ext.pkl",
    "EXT1 names a loader registered with copyreg.add_extension, called with a payload",
    "ModelAudit PR #623 (EXT opcode bypass)",
    "pickle.indirect-call",
    "pickle.extension-registry",
)
def _extension(out: Path, marker: Path) -> None:
    out.write_bytes(asm.program(asm.call(b"\x82\x01", asm.binbytes(system_pickle(marker)))))


@technique(
    "nested_reconstructor_partial",
    "reconstructor.pkl",
    "copyreg._reconstructor(partial, partial, _load_from_bytes)(payload): a partial built by copyreg",
    "copyreg._reconstructor calls base.__new__(cls, state); issue #11",
    DANGEROUS,
)
def _reconstructor(out: Path, marker: Path) -> None:
    partial = asm.stack_global("functools", "partial")
    loader = asm.call(asm.stack_global("copyreg", "_reconstructor"), partial, partial, LOAD_FROM_BYTES)
    out.write_bytes(asm.program(asm.call(loader, asm.binbytes(system_pickle(marker)))))
