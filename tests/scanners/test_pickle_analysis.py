"""The symbolic pickle machine and the policy, on hand-assembled streams."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from scanners import ScanStatus, Severity
from scanners.blobs import bytes_blob
from scanners.engine import EngineContext, scan_blob
from scanners.joblib_arrays import dtype_layout
from scanners.limits import DEFAULT_LIMITS, Deadline, Limits
from scanners.pickle_ops import OpcodeStream
from scanners.pickle_policy import classify
from scanners.pickle_values import GlobalRef
from scanners.pickle_vm import PickleMachine
from scanners.runner import scan_primary
from tests.scanners import pickle_asm as asm


def _run(data: bytes) -> PickleMachine:
    blob = bytes_blob(data, "test")
    machine = PickleMachine(
        OpcodeStream(blob.open(), size=blob.size, inline_limit=1024),
        limits=DEFAULT_LIMITS,
        deadline=Deadline(10),
    )
    machine.run()
    return machine


def _scan(data: bytes, tmp_path: Path, name: str = "x.bin") -> tuple[ScanStatus, set[str]]:
    path = tmp_path / name
    path.write_bytes(data)
    report = scan_primary(path)
    return report.status, {f.rule_id for f in report.findings}


def test_memoize_indexes_follow_the_memo_length() -> None:
    data = asm.program(
        asm.text("os") + asm.binput(1) + asm.text("system") + asm.binput(0) + asm.POP + asm.POP
        + asm.text("ignored") + asm.MEMOIZE + asm.POP + asm.binget(1) + asm.binget(0) + asm.STACK_GLOBAL
    )  # fmt: skip
    machine = _run(data)
    assert ("os", "system") in machine.analysis.imports
    assert machine.memo[2] == "ignored"


def test_inst_counts_as_a_call() -> None:
    machine = _run(asm.MARK + asm.string0("x") + b"ibuiltins\nexec\n.")
    site = machine.analysis.imports[("builtins", "exec")]
    assert site.called
    assert site.opcode == "INST"


def test_stack_global_with_computed_operands_is_dynamic() -> None:
    machine = _run(
        asm.program(
            asm.call(asm.stack_global("_codecs", "encode"), asm.text("bf"), asm.text("rot13"))
            + asm.text("x")
            + asm.STACK_GLOBAL
        )
    )
    assert machine.analysis.dynamic_imports


def test_broken_stream_keeps_what_ran_before(tmp_path: Path) -> None:
    data = asm.proto(2) + asm.call(asm.glob("os", "system"), asm.text("id")) + b"\xff"
    status, rules = _scan(data, tmp_path)
    assert status is ScanStatus.FLAGGED
    assert {"pickle.dangerous-global", "pickle.broken-stream"} <= rules


def test_text_starting_like_a_global_is_text(tmp_path: Path) -> None:
    status, rules = _scan(b"cat\ndog\nbird\n", tmp_path, "words.txt")
    assert status is ScanStatus.CLEAN
    assert not rules


def test_plain_data_pickle_is_clean(tmp_path: Path) -> None:
    status, rules = _scan(pickle.dumps({"a": [1, 2.5, "x", b"y", None, True]}, protocol=0), tmp_path)
    assert status is ScanStatus.CLEAN
    assert not rules


def test_trailing_bytes_are_only_informational(tmp_path: Path) -> None:
    status, rules = _scan(pickle.dumps([1, 2]) + b"\x00\x01\x02 not a pickle", tmp_path)
    assert status is ScanStatus.CLEAN
    assert rules == {"pickle.trailing-data"}


def test_enum_style_getattr_is_low(tmp_path: Path) -> None:
    data = asm.program(
        asm.call(
            asm.stack_global("builtins", "getattr"), asm.stack_global("mypkg.enums", "Color"), asm.text("RED")
        )
    )
    status, rules = _scan(data, tmp_path)
    assert status is ScanStatus.CLEAN
    assert "pickle.attribute-path" in rules


def test_getattr_on_a_module_is_critical(tmp_path: Path) -> None:
    module = asm.call(asm.stack_global("builtins", "__import__"), asm.text("os"))
    status, rules = _scan(
        asm.program(asm.call(asm.stack_global("builtins", "getattr"), module, asm.text("system"))), tmp_path
    )
    assert status is ScanStatus.FLAGGED
    assert "pickle.dangerous-global" in rules


@pytest.mark.parametrize(
    ("module", "name", "called", "expected"),
    [
        ("collections", "OrderedDict", True, None),
        ("torch._utils", "_rebuild_tensor_v2", True, None),
        ("__builtin__", "set", True, None),
        ("os", "system", False, Severity.CRITICAL),
        ("torch", "serialization.os.system", True, Severity.CRITICAL),
        ("copy_reg", "_reconstructor", True, None),
        ("datetime", "datetime", True, None),
        ("ctypes", "CDLL", True, Severity.CRITICAL),
        ("textwrap", "dedent", True, Severity.HIGH),
        ("torch.nn.modules.linear", "Linear", True, None),
        ("sklearn.tree._classes", "DecisionTreeClassifier", True, None),
        ("sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss", True, None),
        ("torch", "some_new_function", True, Severity.HIGH),
        ("mypkg.models", "Net", True, Severity.LOW),
        ("mypkg.models", "build_net", True, Severity.MEDIUM),
        ("mypkg.models", "build_net", False, Severity.LOW),
        ("__torch__.torch.nn.modules.linear", "Linear", True, None),
    ],
)
def test_policy_grades(module: str, name: str, called: bool, expected: Severity | None) -> None:
    verdict = classify(module, name, called=called)
    assert (verdict.severity if verdict else None) is expected


def test_python2_names_are_mapped_before_judging() -> None:
    verdict = classify("__builtin__", "eval", called=True)
    assert verdict is not None
    assert verdict.severity is Severity.CRITICAL


def test_dtype_layout_reads_joblib_dtypes() -> None:
    machine = _run(pickle.dumps(np.dtype("<U7"), protocol=4))
    itemsize, has_object = dtype_layout(machine.analysis.result)
    assert (itemsize, has_object) == (28, False)
    machine = _run(pickle.dumps(np.dtype("O"), protocol=4))
    assert dtype_layout(machine.analysis.result)[1] is True


def test_opcode_budget_is_a_limit_finding(tmp_path: Path) -> None:
    path = tmp_path / "many.pkl"
    path.write_bytes(pickle.dumps(list(range(20_000)), protocol=0))
    report = scan_primary(path, limits=Limits(max_pickle_ops=5000))
    assert report.status is ScanStatus.FLAGGED
    assert any(f.rule_id == "limit.exceeded" and f.evidence == "max_pickle_ops" for f in report.findings)


def test_nested_depth_limit(tmp_path: Path) -> None:
    data = pickle.dumps([1])
    for _ in range(10):
        data = gzip.compress(data)
    ctx = EngineContext(limits=Limits(max_depth=3), deadline=Deadline(10))
    try:
        scan_blob(ctx, bytes_blob(data, "deep.gz"), name_hint=None)
    finally:
        for source in ctx.sources:
            source.close()
    assert any(f.rule_id == "limit.exceeded" for f in ctx.findings)


def test_global_ref_rendering_in_evidence(tmp_path: Path) -> None:
    path = tmp_path / "e.pkl"
    path.write_bytes(asm.program(asm.call(asm.stack_global("os", "system"), asm.text("echo hi"))))
    finding = scan_primary(path).findings[0]
    assert finding.evidence == "os.system('echo hi')"
    assert isinstance(GlobalRef("a", "b", 0).module, str)
