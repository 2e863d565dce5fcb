"""The real huggingface_hub client downloads through hubgate exactly as from the Hub."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download

from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeHub, Host
from tests.fakehub.fixtures import DATASET_ID, LEGACY_MODEL_ID, MODEL_ID, SPACE_ID


def _content(
    hub: FakeHub, repo_id: str, path: str, revision: str = "main", repo_type: str = "model"
) -> bytes:
    resolved = hub.repo(repo_id, repo_type).resolve(revision)  # type: ignore[arg-type]
    assert resolved is not None
    file = resolved.commit.files[path]
    return file.blob.read(0, file.size)


@pytest.mark.parametrize("filename", ["config.json", "model.safetensors", "docs/nested/deep/notes.md"])
def test_hf_hub_download_small_and_lfs_files(
    hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path, filename: str
) -> None:
    path = hf_hub_download(MODEL_ID, filename, cache_dir=cache_dir, endpoint=hubgate.url)
    assert Path(path).read_bytes() == _content(fake_hub, MODEL_ID, filename)
    assert fake_hub.log.count(path="*xet-read-token*") == 0


def test_a_second_client_is_served_from_the_store(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    first = hf_hub_download(MODEL_ID, "model.safetensors", cache_dir=tmp_path / "a", endpoint=hubgate.url)
    second = hf_hub_download(MODEL_ID, "model.safetensors", cache_dir=tmp_path / "b", endpoint=hubgate.url)
    assert Path(first).read_bytes() == Path(second).read_bytes()
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 1
    digest = hashlib.sha256(Path(first).read_bytes()).hexdigest()
    assert hubgate.stored_objects() == [digest]


def test_snapshot_download_whole_repo_and_with_patterns(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    head = fake_hub.repo(MODEL_ID).resolve("main")
    assert head is not None
    folder = Path(snapshot_download(MODEL_ID, cache_dir=tmp_path / "all", endpoint=hubgate.url))
    got = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert got == set(head.commit.files)
    for name in got:
        assert (folder / name).read_bytes() == _content(fake_hub, MODEL_ID, name)
    assert folder.name == head.commit.sha

    only_json = Path(
        snapshot_download(
            MODEL_ID, cache_dir=tmp_path / "json", endpoint=hubgate.url, allow_patterns=["*.json"]
        )
    )
    assert {p.name for p in only_json.rglob("*") if p.is_file()} == {
        "config.json",
        "tokenizer.json",
        "generation_config.json",
    }
    assert fake_hub.log.count(path="*xet-read-token*") == 0


@pytest.mark.parametrize("revision", ["v1.0", "dev", "refs/pr/1", "full-commit", "short-commit"])
def test_every_kind_of_revision_resolves(
    hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path, revision: str
) -> None:
    repo = fake_hub.repo(MODEL_ID)
    if revision.endswith("commit"):
        tag = repo.resolve("v1.0")
        assert tag is not None
        revision = tag.commit.sha if revision == "full-commit" else tag.commit.sha[:10]
    expected = repo.resolve(revision)
    assert expected is not None
    info = HfApi(endpoint=hubgate.url).model_info(MODEL_ID, revision=revision)
    assert info.sha == expected.commit.sha
    path = hf_hub_download(
        MODEL_ID, "config.json", revision=revision, cache_dir=cache_dir, endpoint=hubgate.url
    )
    assert Path(path).read_bytes() == _content(fake_hub, MODEL_ID, "config.json", revision)


def test_repo_info_for_models_datasets_spaces_and_legacy_ids(
    hubgate: RunningHubgate, fake_hub: FakeHub
) -> None:
    api = HfApi(endpoint=hubgate.url)
    model = api.model_info(MODEL_ID, files_metadata=True)
    head = fake_hub.repo(MODEL_ID).head
    assert model.sha == head.sha
    assert {s.rfilename for s in model.siblings or []} == set(head.files)
    weights = next(s for s in model.siblings or [] if s.rfilename == "model.safetensors")
    assert weights.lfs is not None
    assert weights.lfs.sha256 == head.files["model.safetensors"].sha256
    assert model.card_data is not None
    assert model.card_data.get("license") == "apache-2.0"

    dataset = api.dataset_info(DATASET_ID)
    assert dataset.sha == fake_hub.repo(DATASET_ID, "dataset").head.sha
    assert api.space_info(SPACE_ID).sha == fake_hub.repo(SPACE_ID, "space").head.sha
    assert api.model_info(LEGACY_MODEL_ID).sha == fake_hub.repo(LEGACY_MODEL_ID).head.sha


def test_dataset_files_download(hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path) -> None:
    path = hf_hub_download(
        DATASET_ID, "data/test.jsonl", repo_type="dataset", cache_dir=cache_dir, endpoint=hubgate.url
    )
    assert Path(path).read_bytes() == _content(fake_hub, DATASET_ID, "data/test.jsonl", repo_type="dataset")


def test_paths_info_and_file_exists(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    api = HfApi(endpoint=hubgate.url)
    infos = api.get_paths_info(MODEL_ID, ["config.json", "model.safetensors", "docs", "absent.bin"])
    by_path = {info.path: info for info in infos}
    assert set(by_path) == {"config.json", "model.safetensors", "docs"}
    weights = by_path["model.safetensors"]
    assert getattr(weights, "lfs", None) is not None
    assert api.file_exists(MODEL_ID, "config.json")
    assert not api.file_exists(MODEL_ID, "absent.bin")
    assert api.file_exists(DATASET_ID, "data/test.jsonl", repo_type="dataset")


def test_hf_file_system_ranged_reads(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    fs = HfFileSystem(endpoint=hubgate.url, skip_instance_cache=True)
    expected = _content(fake_hub, MODEL_ID, "model.safetensors")
    with fs.open(f"{MODEL_ID}/model.safetensors", "rb", block_size=64) as handle:
        handle.seek(10)
        assert handle.read(100) == expected[10:110]
        handle.seek(len(expected) - 20)
        assert handle.read() == expected[-20:]
    assert fs.ls(f"{MODEL_ID}/tokenizer", detail=False) == [f"{MODEL_ID}/tokenizer/vocab.txt"]
