"""The fake Hub answers the real `huggingface_hub` client the way huggingface.co does.

The client is pointed straight at the fake (no hubgate in between), so these tests check the double
itself: if they pass, hubgate's tests against it exercise the real protocol.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from aiohttp import ClientSession
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder
from safetensors.numpy import load as load_safetensors

from tests.fakehub import (
    Disconnect,
    FakeFile,
    FakeHub,
    FakeHubServer,
    FakeRepo,
    Fault,
    Host,
    RepoSettings,
    Respond,
    Slow,
    Truncate,
    WrongDigest,
    fakehub_in_thread,
    serve_fakehub,
)
from tests.fakehub.fixtures import (
    ALICE_TOKEN,
    BIG_FILE_PATH,
    BIG_MODEL_ID,
    BOB_TOKEN,
    DATASET_ID,
    GATED_MODEL_ID,
    LEGACY_MODEL_ID,
    MANY_FILES_COUNT,
    MANY_FILES_ID,
    MODEL_ID,
    PRIVATE_MODEL_ID,
    SPACE_ID,
    big_model_repo,
    build_demo_hub,
)

# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def hub() -> FakeHub:
    # Xet hints off: with hf_xet installed the client would otherwise leave HTTP for Xet storage.
    return build_demo_hub(xet_hints=False)


@pytest.fixture
def server(hub: FakeHub) -> Iterator[FakeHubServer]:
    with fakehub_in_thread(hub) as running:
        yield running


@pytest.fixture
def api(server: FakeHubServer) -> HfApi:
    return HfApi(endpoint=server.url, token=False)


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


def content(hub: FakeHub, path: str, repo_id: str = MODEL_ID, revision: str = "main") -> bytes:
    resolved = hub.repo(repo_id).resolve(revision)
    assert resolved is not None
    blob = resolved.commit.files[path].blob
    return blob.read(0, blob.size)


def download(
    server: FakeHubServer,
    cache: Path,
    path: str,
    *,
    repo_id: str = MODEL_ID,
    revision: str = "main",
    token: str | bool = False,
) -> bytes:
    local = hf_hub_download(
        repo_id, path, revision=revision, token=token, cache_dir=cache, endpoint=server.url
    )
    return Path(local).read_bytes()


# ------------------------------------------------------------------------------------------- repo info


def test_model_info_reports_the_head_commit_files_and_card(hub: FakeHub, api: HfApi) -> None:
    repo = hub.repo(MODEL_ID)

    info = api.model_info(MODEL_ID)

    assert info.sha == repo.head.sha
    assert {s.rfilename for s in info.siblings or []} == set(repo.head.files)
    assert info.card_data is not None
    assert info.card_data["license"] == "apache-2.0"
    assert info.gated is False
    assert info.private is False
    assert info.library_name == "transformers"
    assert info.safetensors is not None
    assert info.safetensors.total == 16 * 8 + 8


def test_base_models_are_tagged_with_their_relation(hub: FakeHub, api: HfApi) -> None:
    # MODEL_ID's card names one base; an adapter and a merge say or show theirs.
    assert {"base_model:acme/base-model", "base_model:finetune:acme/base-model"} <= set(
        api.model_info(MODEL_ID).tags or []
    )
    adapter = FakeFile.text("adapter_config.json", "{}")
    hub.add(FakeRepo("acme/lora", [adapter], settings=RepoSettings(card_data={"base_model": MODEL_ID})))
    hub.add(
        FakeRepo(
            "acme/merged",
            settings=RepoSettings(card_data={"base_model": [MODEL_ID, "acme/lora"]}),
        )
    )
    hub.add(
        FakeRepo(
            "acme/q4",
            settings=RepoSettings(card_data={"base_model": MODEL_ID, "base_model_relation": "quantized"}),
        )
    )
    assert f"base_model:adapter:{MODEL_ID}" in (api.model_info("acme/lora").tags or [])
    assert {f"base_model:merge:{MODEL_ID}", "base_model:merge:acme/lora"} <= set(
        api.model_info("acme/merged").tags or []
    )
    info = api.model_info("acme/q4")
    assert f"base_model:quantized:{MODEL_ID}" in (info.tags or [])
    assert info.card_data is not None
    assert info.card_data["base_model_relation"] == "quantized"


def test_files_metadata_gives_sizes_blob_ids_and_lfs(hub: FakeHub, api: HfApi) -> None:
    files = hub.repo(MODEL_ID).head.files

    siblings = {s.rfilename: s for s in api.model_info(MODEL_ID, files_metadata=True).siblings or []}

    weights, config = siblings["model.safetensors"], siblings["config.json"]
    assert weights.lfs is not None
    assert weights.lfs.sha256 == files["model.safetensors"].sha256
    assert weights.lfs.pointer_size == len(files["model.safetensors"].pointer.text)  # type: ignore[union-attr]
    assert weights.blob_id == files["model.safetensors"].git_oid
    assert (config.lfs, config.size, config.blob_id) == (
        None,
        files["config.json"].size,
        files["config.json"].git_oid,
    )


def test_expand_returns_only_the_fields_asked_for(api: HfApi) -> None:
    info = api.model_info(MODEL_ID, expand=["sha", "cardData"])

    assert info.sha is not None
    assert info.card_data is not None
    assert info.siblings is None
    assert info.downloads is None


def test_security_status_is_reported(api: HfApi) -> None:
    assert api.model_info(MODEL_ID, securityStatus=True).security_repo_status == {
        "scansDone": True,
        "filesWithIssues": [],
    }


@pytest.mark.parametrize("revision", ["main", "dev", "v1.0", "refs/pr/1", "refs/heads/dev", "refs/tags/v1.0"])
def test_every_kind_of_revision_resolves(hub: FakeHub, api: HfApi, revision: str) -> None:
    expected = hub.repo(MODEL_ID).resolve(revision)
    assert expected is not None

    assert api.model_info(MODEL_ID, revision=revision).sha == expected.commit.sha


def test_full_and_short_commit_ids_resolve(hub: FakeHub, api: HfApi) -> None:
    tagged = hub.repo(MODEL_ID).tags["v1.0"]

    assert api.model_info(MODEL_ID, revision=tagged).sha == tagged
    assert api.model_info(MODEL_ID, revision=tagged[:7]).sha == tagged


def test_revisions_differ_in_content(hub: FakeHub, api: HfApi) -> None:
    shas = {api.model_info(MODEL_ID, revision=r).sha for r in ("main", "dev", "v1.0", "refs/pr/1")}
    assert len(shas) == 4
    assert "pr-notes.md" in {
        s.rfilename for s in api.model_info(MODEL_ID, revision="refs/pr/1").siblings or []
    }


def test_dataset_and_space_info(api: HfApi) -> None:
    dataset = api.dataset_info(DATASET_ID)
    space = api.space_info(SPACE_ID)

    assert dataset.card_data is not None
    assert dataset.card_data["license"] == "cc-by-4.0"
    assert "data/test.jsonl" in {s.rfilename for s in dataset.siblings or []}
    assert space.sdk == "gradio"


def test_unknown_repo_revision_and_type_raise_typed_errors(api: HfApi, http: httpx2.Client) -> None:
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("acme/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(MODEL_ID)  # exists, but as a model
    with pytest.raises(RevisionNotFoundError):
        api.model_info(MODEL_ID, revision="no-such-branch")
    assert http.get(f"{api.endpoint}/api/widgets/{MODEL_ID}").status_code == 404


# ------------------------------------------------------------------------------------ tree, paths-info


def test_recursive_tree_is_paginated_with_a_link_to_the_fake_itself(hub: FakeHub, api: HfApi) -> None:
    entries = list(api.list_repo_tree(MANY_FILES_ID, recursive=True))

    assert len([e for e in entries if isinstance(e, RepoFile)]) == MANY_FILES_COUNT + 1
    assert len([e for e in entries if isinstance(e, RepoFolder)]) == 1 + MANY_FILES_COUNT // 100
    assert len({e.path for e in entries}) == len(entries)
    pages = hub.log.find(method="GET", path=f"/api/models/{MANY_FILES_ID}/tree/main")
    assert len(pages) == 2
    assert "cursor=" in pages[1].query_string


def test_tree_page_size_is_configurable(hub: FakeHub, api: HfApi) -> None:
    hub.tree_page_size = 3

    entries = list(api.list_repo_tree(MODEL_ID, recursive=True))

    assert len(entries) == len(hub.repo(MODEL_ID).head.files) + len(hub.repo(MODEL_ID).head.trees) - 1
    assert hub.log.count(path=f"/api/models/{MODEL_ID}/tree/main") == -(-len(entries) // 3)


def test_tree_of_a_folder_with_expand(hub: FakeHub, api: HfApi) -> None:
    entries = list(api.list_repo_tree(MODEL_ID, path_in_repo="onnx", expand=True))

    (onnx,) = entries
    assert isinstance(onnx, RepoFile)
    assert onnx.path == "onnx/model.onnx"
    assert onnx.lfs is not None
    assert onnx.lfs.sha256 == hub.repo(MODEL_ID).head.files["onnx/model.onnx"].sha256
    assert onnx.xet_hash is None
    assert onnx.last_commit is not None
    assert onnx.last_commit.title == "Initial commit"
    assert onnx.security is not None


def test_tree_carries_xet_hashes_when_hints_are_on(hub: FakeHub, api: HfApi) -> None:
    hub.xet_hints = True

    files = {e.path: e for e in api.list_repo_tree(MODEL_ID) if isinstance(e, RepoFile)}

    assert files["model.safetensors"].xet_hash == hub.repo(MODEL_ID).head.files["model.safetensors"].xet_hash
    assert files["config.json"].xet_hash is None


def test_tree_of_a_missing_folder_is_entry_not_found(api: HfApi) -> None:
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree(MODEL_ID, path_in_repo="no/such/folder"))


def test_paths_info_returns_files_and_folders_and_skips_missing(hub: FakeHub, api: HfApi) -> None:
    infos = api.get_paths_info(MODEL_ID, ["config.json", "docs/nested", "missing.txt"], revision="refs/pr/1")

    assert [(type(i).__name__, i.path) for i in infos] == [
        ("RepoFile", "config.json"),
        ("RepoFolder", "docs/nested"),
    ]


def test_file_exists(api: HfApi) -> None:
    assert api.file_exists(MODEL_ID, "config.json")
    assert api.file_exists(MODEL_ID, "pr-notes.md", revision="refs/pr/1")
    assert not api.file_exists(MODEL_ID, "pr-notes.md")


# ------------------------------------------------------------------------------------------- downloads


def test_download_of_a_regular_and_an_lfs_file(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    assert download(server, tmp_path, "config.json") == content(hub, "config.json")
    weights = download(server, tmp_path, "model.safetensors")

    assert weights == content(hub, "model.safetensors")
    assert load_safetensors(weights)["embed.weight"].shape == (16, 8)
    assert hub.log.count(method="GET", host=Host.CDN) == 1
    assert hub.log.count(method="GET", host=Host.HUB, path="*/resolve/*/model.safetensors") == 0


def test_download_at_tag_and_pull_request_revisions(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    for revision in ("v1.0", "refs/pr/1", "dev"):
        for path in ("config.json", "README.md"):
            assert download(server, tmp_path, path, revision=revision) == content(
                hub, path, revision=revision
            )


def test_legacy_single_segment_repo_id(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    assert download(server, tmp_path, "config.json", repo_id=LEGACY_MODEL_ID) == content(
        hub, "config.json", repo_id=LEGACY_MODEL_ID
    )


def test_missing_file_is_entry_not_found(server: FakeHubServer, tmp_path: Path) -> None:
    with pytest.raises(RemoteEntryNotFoundError):
        download(server, tmp_path, "missing.bin")
    with pytest.raises(RevisionNotFoundError):
        download(server, tmp_path, "config.json", revision="nope")


def test_snapshot_download_with_allow_patterns(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    folder = Path(
        snapshot_download(
            MODEL_ID,
            allow_patterns=["*.json", "onnx/*"],
            cache_dir=tmp_path,
            endpoint=server.url,
            token=False,
        )
    )

    got = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert got == ["config.json", "generation_config.json", "onnx/model.onnx", "tokenizer.json"]
    assert (folder / "onnx/model.onnx").read_bytes() == content(hub, "onnx/model.onnx")


def test_a_moved_main_serves_the_new_commit(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    before = download(server, tmp_path, "config.json")
    commit = hub.repo(MODEL_ID).push([FakeFile.text("config.json", '{"moved": true}')], message="Move main")

    after = download(server, tmp_path, "config.json")

    assert before != after == b'{"moved": true}'
    assert HfApi(endpoint=server.url, token=False).model_info(MODEL_ID).sha == commit.sha


def test_big_generated_lfs_file_streams_from_disk(
    server: FakeHubServer, hub: FakeHub, tmp_path: Path
) -> None:
    size = 3 * 1000 * 1000 + 17
    big = hub.add(big_model_repo(size, seed=42)).head.files[BIG_FILE_PATH]

    data = download(server, tmp_path, BIG_FILE_PATH, repo_id=BIG_MODEL_ID)

    assert big.blob.data is None
    assert len(data) == size
    assert data == big.blob.read(0, size)
    header_length = int.from_bytes(data[:8], "little")
    assert load_safetensors(data)["weight"].shape == (size - 8 - header_length,)


# ----------------------------------------------------------------------------------------- access rules


def test_gated_repo_needs_an_accepted_token(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    with pytest.raises(GatedRepoError) as anonymous:
        download(server, tmp_path, "config.json", repo_id=GATED_MODEL_ID)
    with pytest.raises(GatedRepoError) as refused:
        download(server, tmp_path, "config.json", repo_id=GATED_MODEL_ID, token=BOB_TOKEN)

    assert anonymous.value.response.status_code == 401
    assert refused.value.response.status_code == 403
    assert "not in the authorized list" in str(refused.value)
    assert download(server, tmp_path, "config.json", repo_id=GATED_MODEL_ID, token=ALICE_TOKEN) == content(
        hub, "config.json", repo_id=GATED_MODEL_ID
    )
    assert HfApi(endpoint=server.url, token=False).model_info(GATED_MODEL_ID).gated == "auto"


def test_auth_check(server: FakeHubServer) -> None:
    HfApi(endpoint=server.url, token=ALICE_TOKEN).auth_check(GATED_MODEL_ID)
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=server.url, token=BOB_TOKEN).auth_check(GATED_MODEL_ID)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=server.url, token=BOB_TOKEN).auth_check(PRIVATE_MODEL_ID)


def test_private_repo_looks_missing_without_access(server: FakeHubServer, tmp_path: Path) -> None:
    for token, status in ((False, 401), (BOB_TOKEN, 404)):
        with pytest.raises(RepositoryNotFoundError) as caught:
            HfApi(endpoint=server.url, token=token).model_info(PRIVATE_MODEL_ID)
        assert not isinstance(caught.value, GatedRepoError)
        assert caught.value.response.status_code == status
    with pytest.raises(RepositoryNotFoundError):
        download(server, tmp_path, "config.json", repo_id=PRIVATE_MODEL_ID)

    assert HfApi(endpoint=server.url, token=ALICE_TOKEN).model_info(PRIVATE_MODEL_ID).private is True
    assert download(server, tmp_path, "config.json", repo_id=PRIVATE_MODEL_ID, token=ALICE_TOKEN)


def test_whoami_and_unknown_tokens(server: FakeHubServer, http: httpx2.Client) -> None:
    assert HfApi(endpoint=server.url).whoami(token=ALICE_TOKEN)["name"] == "alice"
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=server.url).whoami(token="hf_unknown")
    answer = http.get(f"{server.url}/api/models/{MODEL_ID}", headers={"Authorization": "Bearer hf_unknown"})
    assert answer.status_code == 401
    assert answer.headers["X-Error-Message"] == "Invalid credentials in Authorization header"


def test_tokens_reach_the_hub_but_never_the_cdn(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    download(server, tmp_path, "model.safetensors", repo_id=GATED_MODEL_ID, token=ALICE_TOKEN)

    assert {r.authorization for r in hub.log.find(host=Host.HUB)} == {f"Bearer {ALICE_TOKEN}"}
    assert [r.authorization for r in hub.log.find(host=Host.CDN)] == [None]


def test_malformed_urls_are_rejected(server: FakeHubServer, http: httpx2.Client) -> None:
    for path, status in (
        ("/api/models/acme/bad..name", 400),
        ("/api/models/acme/bad%24name", 400),
        (f"/api/models/acme/{'x' * 97}", 400),
        (f"/{MODEL_ID}/resolve/main/%2E%2E/config.json", 400),
        (f"/{MODEL_ID}/resolve/main/docs%2F..%2F..%2Fetc", 400),
        ("/api/nothing-here", 404),
    ):
        answer = http.get(server.url + path)
        assert (answer.status_code, "X-Error-Code" in answer.headers) == (status, True), path


# ----------------------------------------------------------------------------------------- raw protocol


def test_resolve_headers_like_the_hub(hub: FakeHub, server: FakeHubServer, http: httpx2.Client) -> None:
    files, head = hub.repo(MODEL_ID).head.files, hub.repo(MODEL_ID).head.sha

    regular = http.head(f"{server.url}/{MODEL_ID}/resolve/main/config.json")
    lfs = http.head(f"{server.url}/{MODEL_ID}/resolve/main/model.safetensors")

    assert regular.status_code == 200
    assert regular.headers["ETag"] == f'"{files["config.json"].git_oid}"'
    assert regular.headers["Content-Length"] == str(files["config.json"].size)
    assert regular.headers["X-Repo-Commit"] == head
    assert lfs.status_code == 302
    assert lfs.headers["Location"].startswith(server.cdn_url + "/repos/")
    assert lfs.headers["X-Linked-Etag"] == f'"{files["model.safetensors"].sha256}"'
    assert lfs.headers["X-Linked-Size"] == str(files["model.safetensors"].size)
    assert "X-Xet-Hash" not in lfs.headers


def test_xet_hints_are_the_ones_the_client_parses(
    hub: FakeHub, server: FakeHubServer, http: httpx2.Client
) -> None:
    hub.xet_hints = True
    lfs = http.head(f"{server.url}/{MODEL_ID}/resolve/main/model.safetensors")

    assert lfs.headers["X-Xet-Hash"] == hub.repo(MODEL_ID).head.files["model.safetensors"].xet_hash
    assert lfs.links["xet-auth"]["url"].startswith(f"{server.url}/api/models/{MODEL_ID}/xet-read-token/")
    assert "xet-reconstruction-info" in lfs.links
    token = http.get(lfs.links["xet-auth"]["url"])
    assert token.json()["accessToken"] == token.headers["X-Xet-Access-Token"]
    assert "X-Xet-Cas-Url" in token.headers
    assert int(token.headers["X-Xet-Token-Expiration"]) > time.time()


def test_with_xet_hints_the_client_asks_for_a_xet_token(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    hub.xet_hints = True
    # Refuse the token so hf_xet never tries to reach a Xet storage that does not exist.
    hub.faults.add(Fault(Respond(403, message="no Xet in tests"), match="*/xet-read-token/*"))

    with pytest.raises(HfHubHTTPError):
        download(server, tmp_path, "model.safetensors")

    assert hub.log.count(method="GET", path=f"/api/models/{MODEL_ID}/xet-read-token/*") == 1
    assert hub.log.count(host=Host.CDN) == 0


def test_range_reads_on_the_hub_and_the_cdn(hub: FakeHub, server: FakeHubServer, http: httpx2.Client) -> None:
    config, weights = content(hub, "config.json"), content(hub, "model.safetensors")
    cdn_url = http.head(f"{server.url}/{MODEL_ID}/resolve/main/model.safetensors").headers["Location"]

    first = http.get(f"{server.url}/{MODEL_ID}/resolve/main/config.json", headers={"Range": "bytes=2-9"})
    suffix = http.get(cdn_url, headers={"Range": "bytes=-10"})
    tail = http.get(cdn_url, headers={"Range": "bytes=700-"})
    beyond = http.get(cdn_url, headers={"Range": f"bytes={len(weights)}-"})

    assert (first.status_code, first.content) == (206, config[2:10])
    assert first.headers["Content-Range"] == f"bytes 2-9/{len(config)}"
    assert (suffix.status_code, suffix.content) == (206, weights[-10:])
    assert (tail.status_code, tail.content) == (206, weights[700:])
    assert (beyond.status_code, beyond.headers["Content-Range"]) == (416, f"bytes */{len(weights)}")
    past_end = http.get(f"{server.url}/{MODEL_ID}/resolve/main/config.json", headers={"Range": "bytes=9999-"})
    assert (past_end.status_code, past_end.headers["X-Error-Code"]) == (416, "RangeNotSatisfiable")
    assert past_end.headers["Content-Range"] == f"bytes */{len(config)}"


def test_if_none_match_gets_304(hub: FakeHub, server: FakeHubServer, http: httpx2.Client) -> None:
    etag = f'"{hub.repo(MODEL_ID).head.files["config.json"].git_oid}"'

    answer = http.get(f"{server.url}/{MODEL_ID}/resolve/main/config.json", headers={"If-None-Match": etag})

    assert (answer.status_code, answer.content) == (304, b"")


def test_hf_file_system_reads_byte_windows(hub: FakeHub, server: FakeHubServer) -> None:
    fs = HfFileSystem(endpoint=server.url, token=False)

    assert (
        fs.cat_file(f"{MODEL_ID}/model.safetensors", start=8, end=40)
        == content(hub, "model.safetensors")[8:40]
    )
    assert [str(p) for p in fs.ls(f"{MODEL_ID}/docs", detail=False)] == [f"{MODEL_ID}/docs/nested"]


def test_cdn_refuses_a_tampered_url(server: FakeHubServer, http: httpx2.Client) -> None:
    cdn_url = http.head(f"{server.url}/{MODEL_ID}/resolve/main/model.safetensors").headers["Location"]

    assert http.get(cdn_url.replace("Signature=", "Signature=0")).status_code == 403


# ------------------------------------------------------------------------------------------------ faults


def test_status_fault_once_then_the_client_recovers(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    handle = hub.faults.add(Fault(Respond(503), match="*/resolve/*/config.json", times=1))

    assert download(server, tmp_path, "config.json") == content(hub, "config.json")
    assert handle.hits == 1
    assert hub.log.count(method="HEAD", path="*/config.json") == 2


def test_coded_status_fault_maps_to_the_typed_error(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    hub.faults.add(
        Fault(Respond(403, error_code="GatedRepo", message="blocked by policy: test"), method="HEAD")
    )

    with pytest.raises(GatedRepoError, match="blocked by policy: test"):
        download(server, tmp_path, "config.json")


def test_truncated_cdn_answer_is_retried_by_the_client(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    hub.faults.add(Fault(Truncate(after_bytes=100), host=Host.CDN, times=1))

    assert download(server, tmp_path, "model.safetensors") == content(hub, "model.safetensors")
    # The client reads 10 MB chunks, so a cut inside the first chunk is retried from the start.
    assert [r.header("Range") for r in hub.log.find(method="GET", host=Host.CDN)] == [None, None]


def test_truncation_past_a_client_chunk_is_resumed_with_a_range(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    size, cut = 11 * 1024 * 1024, 10 * 1024 * 1024 + 5
    big = hub.add(big_model_repo(size, seed=7)).head.files[BIG_FILE_PATH]
    hub.faults.add(Fault(Truncate(after_bytes=cut), host=Host.CDN, times=1))

    data = download(server, tmp_path, BIG_FILE_PATH, repo_id=BIG_MODEL_ID)

    assert data == big.blob.read(0, size)
    ranges = [r.header("Range") for r in hub.log.find(method="GET", host=Host.CDN)]
    assert ranges == [None, f"bytes={10 * 1024 * 1024}-"]


def test_truncate_sends_the_full_length_then_hangs_up(hub: FakeHub, server: FakeHubServer) -> None:
    hub.faults.add(Fault(Truncate(after_bytes=10), match="*/config.json"))
    url = f"{server.url}/{MODEL_ID}/resolve/main/config.json"

    # identity: a compressed answer has no Content-Length to announce (see the compression tests).
    with (
        httpx2.Client() as client,
        client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as answer,
    ):
        assert answer.headers["Content-Length"] == str(len(content(hub, "config.json")))
        with pytest.raises(httpx2.RemoteProtocolError):
            answer.read()


def test_wrong_digest_goes_unnoticed_by_the_client(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    # The client trusts the bytes (it never hashes them): only a gate in between can notice.
    hub.faults.add(Fault(WrongDigest(), host=Host.CDN))

    served = download(server, tmp_path, "model.safetensors")

    expected = content(hub, "model.safetensors")
    assert len(served) == len(expected)
    assert served != expected


def test_slow_delays_headers_and_throttles_bodies(
    hub: FakeHub, server: FakeHubServer, http: httpx2.Client
) -> None:
    url = f"{server.url}/{MODEL_ID}/resolve/main/config.json"
    hub.faults.add(Fault(Slow(delay_seconds=0.3), times=1))
    started = time.monotonic()
    http.head(url)
    delayed = time.monotonic() - started

    hub.faults.add(Fault(Slow(bytes_per_second=400), times=1))
    started = time.monotonic()
    # identity, so the throttled wire bytes are the body's bytes
    body = http.get(url, headers={"Accept-Encoding": "identity"}).content
    throttled = time.monotonic() - started

    assert delayed >= 0.3
    assert throttled >= len(body) / 400 * 0.8


def test_disconnect_closes_without_an_answer(
    hub: FakeHub, server: FakeHubServer, http: httpx2.Client
) -> None:
    hub.faults.add(Fault(Disconnect(), match=f"/api/models/{MODEL_ID}", times=1))

    with pytest.raises(httpx2.RemoteProtocolError):
        http.get(f"{server.url}/api/models/{MODEL_ID}")
    assert http.get(f"{server.url}/api/models/{MODEL_ID}").status_code == 200


def test_offline_and_back_online(
    hub: FakeHub, server: FakeHubServer, api: HfApi, http: httpx2.Client
) -> None:
    hub.faults.go_offline()
    with pytest.raises(httpx2.RemoteProtocolError):
        api.model_info(MODEL_ID)
    hub.faults.go_online()
    cdn_url = http.head(f"{server.url}/{MODEL_ID}/resolve/main/model.safetensors").headers["Location"]
    hub.faults.go_offline(Host.CDN, effect=Respond(503))

    assert api.model_info(MODEL_ID).sha == hub.repo(MODEL_ID).head.sha
    assert http.get(cdn_url).status_code == 503


def test_request_counts_prove_single_fetches(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    download(server, tmp_path, "model.safetensors")
    download(server, tmp_path, "model.safetensors")  # from the client's cache: HEAD again, no GET

    counts = hub.log.counts()
    resolve = f"/{MODEL_ID}/resolve/main/model.safetensors"
    assert counts[(Host.HUB, "HEAD", resolve)] == 2
    assert counts[(Host.HUB, "GET", resolve)] == 0
    assert hub.log.count(method="GET", host=Host.CDN) == 1


# ------------------------------------------------------------------------------------------------ async


async def test_async_server_serves_api_and_cdn(hub: FakeHub) -> None:
    async with serve_fakehub(hub) as running, ClientSession() as session:
        async with session.get(
            f"{running.url}/api/models/{MODEL_ID}/tree/main", params={"recursive": "True"}
        ) as tree:
            paths = {entry["path"] for entry in await tree.json()}
        async with session.get(
            f"{running.url}/{MODEL_ID}/resolve/main/model.safetensors", headers={"Range": "bytes=0-7"}
        ) as ranged:
            head = await ranged.read()
            status, final_host = ranged.status, ranged.url.host

    assert {"onnx", "onnx/model.onnx", "docs/nested/deep/notes.md"} <= paths
    assert (status, head) == (206, content(hub, "model.safetensors")[:8])
    assert final_host == running.cdn_url.split("//")[1].split(":")[0]


def test_fixture_json_is_what_the_api_reports(hub: FakeHub, api: HfApi) -> None:
    config = json.loads(content(hub, "config.json"))
    info = api.model_info(MODEL_ID)
    assert info.config == {"architectures": config["architectures"], "model_type": config["model_type"]}
