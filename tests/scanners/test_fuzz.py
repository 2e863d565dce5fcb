"""Bounded fuzzing of the engine against the promises in fuzz_oracle: random and mutated inputs get a
verdict (never an exception) in bounded time and memory, and a CLEAN verdict is one the reference
parsers agree with. (bench/fuzz_scanners.py runs the same properties for longer.)"""

from __future__ import annotations

import gzip
import io
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scanners import ScanStatus
from scanners.limits import Limits
from scanners.runner import guarded, scan_primary
from tests.scanners import pickle_asm as asm
from tests.scanners.fuzz_oracle import pickle_imports, violation

EVIL = asm.program(asm.call(asm.stack_global("os", "system"), asm.text("id")))


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


SEEDS = [
    EVIL,
    asm.glob("posix", "system") + asm.MARK + asm.string0("id") + b"tR.",
    b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.",
    _zip("archive/data.pkl", EVIL),
    gzip.compress(EVIL),
    b'\x20\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\x00\x00\x00\x00',
    b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 40 + b"PK\x05\x06" + b"\x00" * 18,
    b"GGUF\x03\x00\x00\x00" + b"\x01" + b"\x00" * 7 + b"\x01" + b"\x00" * 7,
    b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }" + b" " * 57 + b"\n"
    b"\x00\x00\x80\x3f",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
    b'\x08\x07\x12\x04test:\x10\n\x0e\x12\x01x\x1a\x01y"\x04Relu',
    b'{"auto_map": {"AutoModel": "m.M"}, "chat_template": "{{ x }}"}',
]
LIMITS = Limits(
    time_s=5.0,
    max_decompressed=16 << 20,
    max_spool_bytes=32 << 20,
    max_scan_inflated=32 << 20,
    max_decoder_memory=32 << 20,
)
MAX_SECONDS = LIMITS.time_s + 5  # the deadline plus the time to unwind and report
MAX_TRACED_BYTES = 96 << 20


def _check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.bin"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            report = guarded("hubgate", lambda: scan_primary(path, limits=LIMITS))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert report.status is not ScanStatus.ERROR or not report.message.startswith(
        ("AttributeError", "TypeError", "KeyError", "IndexError", "AssertionError", "UnboundLocalError")
    ), f"the engine crashed: {report.message}"
    assert report.duration_s < MAX_SECONDS, report
    assert peak < MAX_TRACED_BYTES, f"{peak >> 20} MiB traced"
    problem = violation(data, report)
    assert problem is None, (problem, report)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
@example(b"\xc2")  # found by this property: an incomplete UTF-8 sequence was passed as text
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8),
    st.integers(0, 200),
    st.binary(max_size=16),
)
@example(SEEDS[1], [(14, 1)], 0, b"")  # found by this property: posix.system imported, then a broken opcode
def test_mutated_seeds(seed: bytes, flips: list[tuple[int, int]], cut: int, inserted: bytes) -> None:
    data = bytearray(seed)
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    if inserted and data:
        at = flips[0][0] % len(data) if flips else 0
        data[at:at] = inserted
    _check(bytes(data[: max(1, len(data) - cut)]))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            sorted(b"(.0123FGIJKLMNPQRSTUVXabcdeghijlopqrstu}])\x80\x81\x85\x86\x87\x88\x89\x8c\x93\x94\x95")
        ),
        max_size=300,
    ),
    st.sampled_from([b"", asm.stack_global("os", "system"), asm.glob("os", "system")]),
)
def test_opcode_soup(opcodes: list[int], payload: bytes) -> None:
    _check(b"\x80\x04" + payload + bytes(opcodes) + b".")


def test_the_oracle_sees_the_payload_the_engine_must_flag() -> None:
    # The properties have teeth: the reference unpickler reports the import a CLEAN verdict would hide.
    (site,) = pickle_imports(EVIL)
    assert (site.module, site.name, site.called) == ("os", "system", True)
    assert pickle_imports(b"\x80\x04K\x01.") == []
