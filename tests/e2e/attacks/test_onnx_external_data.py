"""ONNX models with external data: the data file is judged as what the commit's graph declares it to be,
and that judgement never carries to the same bytes under a name no graph declares (bypass 1 stays shut)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError
from onnx import TensorProto, helper, numpy_helper

from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings

REPO = "acme/onnx-external"


def _model_with_external_data(tmp_path: Path) -> tuple[bytes, bytes]:
    """A real ONNX model whose initializer lives in `model.onnx_data`, as onnx.save_model writes it."""
    weights = numpy_helper.from_array(np.arange(4096, dtype=np.float32).reshape(64, 64), name="w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
        initializer=[weights],
    )
    folder = tmp_path / "model"
    folder.mkdir()
    onnx.save_model(
        helper.make_model(graph),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data",
        size_threshold=0,
    )
    return (folder / "model.onnx").read_bytes(), (folder / "model.onnx_data").read_bytes()


def _repo(fake_hub: FakeHub, files: dict[str, bytes]) -> None:
    fake_hub.add(
        FakeRepo(
            REPO,
            [FakeFile.from_bytes(path, data) for path, data in files.items()],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )


def test_a_model_with_external_data_downloads_whole(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    graph, data = _model_with_external_data(tmp_path)
    _repo(fake_hub, {"model.onnx": graph, "model.onnx_data": data, "config.json": b"{}"})
    folder = Path(snapshot_download(REPO, local_dir=tmp_path / "local", endpoint=hubgate.url))
    assert (folder / "model.onnx_data").read_bytes() == data
    assert hashlib.sha256((folder / "model.onnx").read_bytes()).digest() == hashlib.sha256(graph).digest()
    # The model loads with its data, as a user would load it (onnx refuses the cache's symlinks).
    loaded = onnx.load(str(folder / "model.onnx"))
    assert numpy_helper.to_array(loaded.graph.initializer[0]).shape == (64, 64)


def test_the_same_bytes_under_a_name_no_graph_declares_are_not_approved(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    graph, data = _model_with_external_data(tmp_path)
    _repo(fake_hub, {"model.onnx": graph, "model.onnx_data": data, "blob.bin": data})
    hf_hub_download(REPO, "model.onnx_data", cache_dir=tmp_path / "a", endpoint=hubgate.url)
    with pytest.raises(GatedRepoError):
        hf_hub_download(REPO, "blob.bin", cache_dir=tmp_path / "b", endpoint=hubgate.url)


def test_declared_data_that_is_a_pickle_is_refused(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path, marker: Path
) -> None:
    graph, data = _model_with_external_data(tmp_path)
    payload = marker_pickle(marker)
    _repo(fake_hub, {"model.onnx": graph, "model.onnx_data": payload + b"\x00" * (len(data) - len(payload))})
    with pytest.raises(GatedRepoError):
        hf_hub_download(REPO, "model.onnx_data", cache_dir=tmp_path / "c", endpoint=hubgate.url)
    assert not marker.exists()


def test_a_graph_that_is_itself_refused_declares_nothing(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    graph, data = _model_with_external_data(tmp_path)
    # The graph points its data outside the repository: quarantined, so its declarations count for nothing.
    bad_graph = graph.replace(
        b"model.onnx_data", b"../../etc/passwd"[: len(b"model.onnx_data")].ljust(15, b"x")
    )
    _repo(fake_hub, {"model.onnx": bad_graph, "model.onnx_data": data})
    with pytest.raises(GatedRepoError):
        hf_hub_download(REPO, "model.onnx_data", cache_dir=tmp_path / "c", endpoint=hubgate.url)
