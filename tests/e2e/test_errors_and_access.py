"""Errors surface as the client's typed exceptions; gated and private files need an entitlement."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeHub, Host
from tests.fakehub.fixtures import ALICE_TOKEN, BOB_TOKEN, GATED_MODEL_ID, MODEL_ID, PRIVATE_MODEL_ID


def test_missing_repo_revision_and_file_raise_typed_errors(hubgate: RunningHubgate, cache_dir: Path) -> None:
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("acme/does-not-exist", "config.json", cache_dir=cache_dir, endpoint=hubgate.url)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            MODEL_ID, "config.json", revision="no-such-branch", cache_dir=cache_dir, endpoint=hubgate.url
        )
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(MODEL_ID, "absent.bin", cache_dir=cache_dir, endpoint=hubgate.url)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hubgate.url).model_info("acme/does-not-exist")


def test_entry_not_found_carries_the_commit(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    answer = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/absent.bin")
    assert answer.status == 404
    assert answer.header("X-Error-Code") == "EntryNotFound"
    assert answer.header("X-Repo-Commit") == fake_hub.repo(MODEL_ID).head.sha


def test_gated_repo_files_need_an_accepted_token(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GatedRepoError):
        hf_hub_download(
            GATED_MODEL_ID, "model.safetensors", cache_dir=tmp_path / "anon", endpoint=hubgate.url
        )
    allowed = hf_hub_download(
        GATED_MODEL_ID,
        "model.safetensors",
        cache_dir=tmp_path / "alice",
        endpoint=hubgate.url,
        token=ALICE_TOKEN,
    )
    assert Path(allowed).stat().st_size == fake_hub.repo(GATED_MODEL_ID).head.files["model.safetensors"].size
    # Now stored: bob's valid-but-unentitled token and anonymous callers still get nothing.
    with pytest.raises(GatedRepoError):
        hf_hub_download(
            GATED_MODEL_ID,
            "model.safetensors",
            cache_dir=tmp_path / "bob",
            endpoint=hubgate.url,
            token=BOB_TOKEN,
        )
    with pytest.raises(GatedRepoError):
        hf_hub_download(
            GATED_MODEL_ID, "model.safetensors", cache_dir=tmp_path / "anon2", endpoint=hubgate.url
        )
    # Repo metadata of a gated repo stays public, as on the Hub.
    assert HfApi(endpoint=hubgate.url).model_info(GATED_MODEL_ID).gated == "auto"
    # The CDN never saw a token; hubgate logged none.
    assert all(record.authorization is None for record in fake_hub.log.find(host=Host.CDN))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert ALICE_TOKEN not in logged
    assert BOB_TOKEN not in logged


def test_private_repo_is_invisible_without_access(hubgate: RunningHubgate, tmp_path: Path) -> None:
    api = HfApi(endpoint=hubgate.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(PRIVATE_MODEL_ID)
    assert api.model_info(PRIVATE_MODEL_ID, token=ALICE_TOKEN).private
    path = hf_hub_download(
        PRIVATE_MODEL_ID, "config.json", cache_dir=tmp_path / "alice", endpoint=hubgate.url, token=ALICE_TOKEN
    )
    assert Path(path).read_text() == '{"model_type": "private"}'
    # Cached now, and the ref is fresh: still refused to others.
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(PRIVATE_MODEL_ID, "config.json", cache_dir=tmp_path / "anon", endpoint=hubgate.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(PRIVATE_MODEL_ID, token=BOB_TOKEN)


def test_access_answers_are_remembered_per_token(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    for attempt in range(3):
        hf_hub_download(
            GATED_MODEL_ID,
            "config.json",
            cache_dir=tmp_path / str(attempt),
            endpoint=hubgate.url,
            token=ALICE_TOKEN,
        )
    assert fake_hub.log.count(path="*auth-check") == 1


def test_service_token_is_used_when_the_client_sends_none(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    # Granting anonymous callers the service token's gated and private repos is an explicit choice.
    running = make_hubgate(upstream={"token": ALICE_TOKEN, "service_token_for_anonymous": True})
    path = hf_hub_download(GATED_MODEL_ID, "config.json", cache_dir=tmp_path / "c", endpoint=running.url)
    assert Path(path).read_text() == '{"model_type": "gated"}'
    hub_requests = fake_hub.log.find(host=Host.HUB)
    assert hub_requests
    assert all(record.authorization == f"Bearer {ALICE_TOKEN}" for record in hub_requests)
