"""Bytes that reach a loader through allowlisted callables are scanned with the same engine, to a bounded
depth (issue #11; the attack samples are in malicious_nested.py, advisories in pickle_invokers.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

from scanners import ScanStatus
from scanners.limits import Limits
from scanners.runner import scan_primary
from tests.scanners import pickle_asm as asm
from tests.scanners.malicious_nested import LOAD_FROM_BYTES


def _scan(tmp_path: Path, data: bytes, limits: Limits | None = None) -> tuple[ScanStatus, set[str]]:
    path = tmp_path / "x.pkl"
    path.write_bytes(data)
    report = scan_primary(path, limits=limits or Limits())
    return report.status, {f.rule_id for f in report.findings if f.severity.flags}


def test_reaching_the_depth_limit_is_a_finding_even_when_every_layer_is_benign(tmp_path: Path) -> None:
    data = pickle.dumps({"weights": [1.0, 2.0]})
    for _ in range(4):
        data = asm.program(asm.call(LOAD_FROM_BYTES, asm.binbytes(data)))
    assert _scan(tmp_path, data)[0] is ScanStatus.CLEAN  # within the default depth: every layer scanned
    status, rules = _scan(tmp_path, data, Limits(max_depth=3))
    assert status is ScanStatus.FLAGGED
    assert "limit.exceeded" in rules


def test_a_function_called_by_an_allowlisted_helper_is_judged_as_called(tmp_path: Path) -> None:
    # Referenced, an unknown function is LOW (models keep activation functions); called, it is MEDIUM.
    rebuild = asm.stack_global("torch._tensor", "_rebuild_from_type_v2")
    func = asm.stack_global("somepackage.tools", "fetch_and_run")
    data = asm.program(
        asm.call(rebuild, func, asm.stack_global("torch", "Tensor"), asm.EMPTY_TUPLE, asm.EMPTY_DICT)
    )
    status, rules = _scan(tmp_path, data)
    assert status is ScanStatus.FLAGGED
    assert "pickle.unknown-callable" in rules


def test_an_unextractable_payload_bound_to_the_loader_is_flagged(tmp_path: Path) -> None:
    # bytes(...) of something the machine cannot know: the loader's input cannot be judged.
    unknown = asm.call(asm.stack_global("builtins", "bytes"), asm.stack_global("somepackage", "blob"))
    data = asm.program(asm.call(LOAD_FROM_BYTES, unknown))
    status, rules = _scan(tmp_path, data)
    assert status is ScanStatus.FLAGGED
    assert "pickle.nested-payload" in rules


def test_legitimate_storage_pickles_stay_clean(tmp_path: Path) -> None:
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    state = {"t": torch.arange(4.0), "rng": np.random.default_rng(1), "rs": np.random.RandomState(2)}
    for protocol in (2, 4, 5):
        assert _scan(tmp_path, pickle.dumps(state, protocol=protocol)) == (ScanStatus.CLEAN, set())
