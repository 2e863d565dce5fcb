"""Bounded fuzzing of the parsers: random and mutated inputs never crash, hang or escape as exceptions.
(bench/fuzz_scanners.py runs the same properties for longer.)"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanners import ScanStatus
from scanners.limits import Limits
from scanners.runner import scan_primary
from tests.scanners import pickle_asm as asm

SEEDS = [
    asm.program(asm.call(asm.stack_global("os", "system"), asm.text("id"))),
    b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.",
    b'\x20\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\x00\x00\x00\x00',
    b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 40 + b"PK\x05\x06" + b"\x00" * 18,
    b"GGUF\x03\x00\x00\x00" + b"\x01" + b"\x00" * 7 + b"\x01" + b"\x00" * 7,
    b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + b" " * 60 + b"\n",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
    b'\x08\x07\x12\x04test:\x10\n\x0e\x12\x01x\x1a\x01y"\x04Relu',
    b"\x89HDF\r\n\x1a\n" + b'{"class_name": "Lambda", "config": {"function": ["x"]}}',
]
LIMITS = Limits(time_s=5.0, max_decompressed=16 << 20, max_spool_bytes=32 << 20)
ACCEPTED = {ScanStatus.CLEAN, ScanStatus.FLAGGED, ScanStatus.ERROR, ScanStatus.UNSUPPORTED}


def _scan(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.bin"
        path.write_bytes(data)
        report = scan_primary(path, limits=LIMITS)
    assert report.status in ACCEPTED
    assert report.duration_s < 10


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _scan(data)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8),
    st.integers(0, 200),
)
def test_mutated_seeds(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(seed)
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    _scan(bytes(data[: max(1, len(data) - cut)]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            sorted(b"(.0123FGIJKLMNPQRSTUVXabcdeghijlopqrstu}])\x80\x81\x85\x86\x87\x88\x89\x8c\x93\x94\x95")
        ),
        max_size=300,
    )
)
def test_opcode_soup(opcodes: list[int]) -> None:
    _scan(b"\x80\x04" + bytes(opcodes) + b".")
