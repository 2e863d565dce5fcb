"""ONNX external data: the graph's report says which files and byte ranges it reads; a data file declared
that way is CLEAN only when it is raw tensor data matching the declaration (issue #11)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from scanners import OnnxExternalData, ScanReport, ScanStatus, TensorRange, scan_file
from scanners.runner import scan_primary
from tests.scanners.malicious_registry import system_pickle


def _model(folder: Path, *, first_values: np.ndarray | None = None) -> Path:
    import onnx  # noqa: PLC0415
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    weights = [
        np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
        if first_values is None
        else first_values,
        np.random.default_rng(1).standard_normal((64,)).astype(np.float32),
    ]
    initializers = [numpy_helper.from_array(w, name=f"w{i}") for i, w in enumerate(weights)]
    node = helper.make_node("Add", ["x", "w1"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])],
        initializer=initializers,
    )
    path = folder / "model.onnx"
    onnx.save_model(
        helper.make_model(graph),
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data",
        size_threshold=0,
    )
    return path


def _declared(model: Path) -> OnnxExternalData:
    report = scan_primary(model, name_hint="model.onnx")
    declared = OnnxExternalData.from_report(report, model_path="model.onnx", location="model.onnx_data")
    assert declared is not None
    return declared


def test_the_graph_report_lists_the_external_data_it_reads(tmp_path: Path) -> None:
    report = scan_primary(_model(tmp_path), name_hint="model.onnx")
    references = report.metadata["onnx_external_data"]
    assert {r["tensor"] for r in references} == {"w0", "w1"}
    assert all(r["location"] == "model.onnx_data" for r in references)
    by_name = {r["tensor"]: r for r in references}
    assert by_name["w0"]["length"] == 64 * 64 * 4
    assert ScanReport.from_dict(report.to_dict()).metadata == report.metadata


def test_declared_data_is_clean_and_undeclared_data_stays_unsupported(tmp_path: Path) -> None:
    model = _model(tmp_path)
    data = tmp_path / "model.onnx_data"
    assert scan_primary(data, name_hint="model.onnx_data").status is ScanStatus.UNSUPPORTED
    reports = scan_file(data, name_hint="model.onnx_data", external_data=_declared(model))
    assert [r.status for r in reports] == [ScanStatus.CLEAN], reports
    assert reports[0].format == "onnx-external-data"


def test_tensor_bytes_that_look_like_a_pickle_header_are_not_a_false_positive(tmp_path: Path) -> None:
    # 0x80 0x02 starts a protocol-2 pickle; a float32 weight can start with the same two bytes.
    values = np.frombuffer(struct.pack("<I", 0x3C000280) * 4096, dtype=np.float32).reshape(64, 64)
    model = _model(tmp_path, first_values=values)
    data = tmp_path / "model.onnx_data"
    assert data.read_bytes()[:2] == b"\x80\x02"
    report = scan_primary(data, external_data=_declared(model))
    assert report.status is ScanStatus.CLEAN, report


@pytest.mark.parametrize(
    ("name", "tamper", "rule"),
    [
        ("pickle_instead", lambda data, evil: evil, "onnx.external-data-payload"),
        ("pickle_appended", lambda data, evil: data + evil, "onnx.external-data-mismatch"),
        ("truncated", lambda data, evil: data[:100], "onnx.external-data-mismatch"),
        ("torch_zip_instead", lambda data, evil: _zip_of(evil), "onnx.external-data-payload"),
    ],
)
def test_data_that_does_not_match_the_declaration_is_flagged(
    tmp_path: Path, name: str, tamper: object, rule: str
) -> None:
    model = _model(tmp_path)
    data = tmp_path / "model.onnx_data"
    evil = system_pickle(tmp_path / "marker")
    data.write_bytes(tamper(data.read_bytes(), evil))  # type: ignore[operator]
    report = scan_primary(data, external_data=_declared(model))
    assert report.status is ScanStatus.FLAGGED, (name, report)
    assert rule in {f.rule_id for f in report.findings}


def test_only_zero_padding_may_lie_between_declared_tensors(tmp_path: Path) -> None:
    declared = OnnxExternalData("model.onnx", (TensorRange(0, 4096), TensorRange(8192, 4096)))
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x01" * 4096 + b"\x00" * 4096 + b"\x02" * 4096)
    assert scan_primary(path, external_data=declared).status is ScanStatus.CLEAN
    evil = system_pickle(tmp_path / "marker")
    path.write_bytes(b"\x01" * 4096 + evil + b"\x00" * (4096 - len(evil)) + b"\x02" * 4096)
    report = scan_primary(path, external_data=declared)
    assert report.status is ScanStatus.FLAGGED
    assert "onnx.external-data-mismatch" in {f.rule_id for f in report.findings}


def test_a_payload_hidden_inside_a_declared_tensor_range_is_found(tmp_path: Path) -> None:
    evil = system_pickle(tmp_path / "marker")
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x00" * 4096 + evil + b"\x00" * 100)
    declared = OnnxExternalData("model.onnx", (TensorRange(0, 4096), TensorRange(4096, None)))
    report = scan_primary(path, external_data=declared)
    assert report.status is ScanStatus.FLAGGED
    assert "pickle.dangerous-global" in {f.rule_id for f in report.findings}


def test_a_plain_pickle_is_never_accepted_as_data(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx_data"
    path.write_bytes(pickle.dumps({"w": [1.0] * 100}))
    declared = OnnxExternalData("model.onnx", (TensorRange(0, None),))
    assert scan_primary(path, external_data=declared).status is not ScanStatus.CLEAN


def _zip_of(payload: bytes) -> bytes:
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    return buffer.getvalue()
