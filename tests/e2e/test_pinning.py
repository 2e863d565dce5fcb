"""Approved-revision pinning: when upstream moves a branch, clients keep the approved commit until the
new one passes review."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi, snapshot_download

from storage.approved_pins import ApprovedPinStore
from storage.records import RepoKey
from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import Answer, request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle, plain_state_pickle, torch_zip, unusual_but_benign_pickle
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings

PINNED = "acme/pinned-model"
_WAIT_S = 30.0


@pytest.fixture
def pinned_repo(fake_hub: FakeHub) -> FakeRepo:
    return fake_hub.add(
        FakeRepo(
            PINNED,
            [
                FakeFile.text("config.json", json.dumps({"version": 1})),
                FakeFile.from_bytes("pytorch_model.bin", torch_zip(plain_state_pickle())),
            ],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )


def _pinning_policy(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "policy.toml"
    path.write_text(f'[pinning]\napproved_only = ["{PINNED}"]\n')
    return {"path": str(path)}


def _info(hubgate: RunningHubgate, revision: str = "main") -> Answer:
    return request("GET", f"{hubgate.url}/api/models/{PINNED}/revision/{revision}")


def _until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


def _served_commit(hubgate: RunningHubgate) -> str:
    answer = _info(hubgate)
    assert answer.status == 200, answer.body
    return str(json.loads(answer.body)["sha"])


def _quarantined(hubgate: RunningHubgate, token: str, path: str) -> dict[str, Any] | None:
    items = ok(call(hubgate, "GET", f"/reviews?state=QUARANTINED&repo={PINNED}", token))["items"]
    return next((item for item in items if item["path"] == path), None)


def _approve_first_commit(hubgate: RunningHubgate, repo: FakeRepo, cache_dir: Path) -> str:
    """The first commit is reviewed (prefetched) in the background on first sight, then becomes the pin."""
    first = repo.head.sha
    assert _served_commit(hubgate) == first  # nothing approved yet: upstream's commit, judged file by file
    snapshot_download(PINNED, cache_dir=cache_dir, endpoint=hubgate.url)
    _until(lambda: hubgate.run(_approved_ref(hubgate)) == first, "the first commit is recorded as approved")
    return first


async def _approved_ref(hubgate: RunningHubgate) -> str | None:
    store = ApprovedPinStore(hubgate.components.database)
    return await store.approved_commit(RepoKey("model", PINNED), "main")


def test_a_moved_branch_is_held_at_the_approved_commit_until_the_new_one_is_approved(
    make_hubgate: HubgateFactory,
    pinned_repo: FakeRepo,
    tmp_path: Path,
    cache_dir: Path,
    marker: Path,
) -> None:
    hubgate = make_hubgate(policy=_pinning_policy(tmp_path), upstream={"ref_ttl_s": 0})
    approved = _approve_first_commit(hubgate, pinned_repo, cache_dir)
    sec = make_token(hubgate, "sec-team", "approver")

    # Upstream main moves to a commit carrying a payload.
    evil = pinned_repo.push(
        [
            FakeFile.text("config.json", json.dumps({"version": 2})),
            FakeFile.from_bytes("pytorch_model.bin", torch_zip(marker_pickle(marker))),
        ]
    ).sha
    answer = _info(hubgate)
    assert json.loads(answer.body)["sha"] == approved
    warning = answer.header("X-HF-Warning") or ""
    assert "pinned to its newest approved commit" in warning
    assert evil[:12] in warning

    # The real client keeps getting the approved files, for every way of naming the branch's files.
    folder = Path(snapshot_download(PINNED, cache_dir=cache_dir, endpoint=hubgate.url, force_download=True))
    assert json.loads((folder / "config.json").read_text()) == {"version": 1}
    assert folder.name == approved
    resolved = request("HEAD", f"{hubgate.url}/{PINNED}/resolve/main/config.json")
    assert resolved.header("X-Repo-Commit") == approved
    assert "pinned" in (resolved.header("X-HF-Warning") or "")
    # Asking for the new commit by its id is not pinning's business: the gate judges it file by file.
    assert request("GET", f"{hubgate.url}/{PINNED}/resolve/{evil}/pytorch_model.bin").status == 403

    # The background review quarantines the payload; the security team blocks it; main stays held.
    review = _until(lambda: _quarantined(hubgate, sec, "pytorch_model.bin"), "the payload is quarantined")
    assert review["commit"] == evil
    ok(call(hubgate, "POST", f"/reviews/{review['id']}/block", sec, {"reason": "malicious payload"}))
    assert _served_commit(hubgate) == approved

    # Upstream replaces it with an unusual but harmless pickle, which still needs a human.
    fixed = pinned_repo.push([FakeFile.from_bytes("pytorch_model.bin", unusual_but_benign_pickle())]).sha
    assert _served_commit(hubgate) == approved
    review = _until(
        lambda: (
            (found := _quarantined(hubgate, sec, "pytorch_model.bin")) and found["commit"] == fixed and found
        ),
        "the new file is quarantined",
    )
    ok(call(hubgate, "POST", f"/reviews/{review['id']}/approve", sec, {"reason": "known training state"}))

    # Once approved, main resolves to upstream's commit again, without a warning.
    _until(lambda: _served_commit(hubgate) == fixed, "clients get the approved new commit")
    assert _info(hubgate).header("X-HF-Warning") is None
    folder = Path(snapshot_download(PINNED, cache_dir=cache_dir, endpoint=hubgate.url))
    assert folder.name == fixed
    assert (folder / "pytorch_model.bin").read_bytes() == unusual_but_benign_pickle()
    assert HfApi(endpoint=hubgate.url).model_info(PINNED).sha == fixed


def test_a_clean_new_commit_is_approved_automatically(
    make_hubgate: HubgateFactory, pinned_repo: FakeRepo, tmp_path: Path, cache_dir: Path
) -> None:
    hubgate = make_hubgate(policy=_pinning_policy(tmp_path), upstream={"ref_ttl_s": 0})
    approved = _approve_first_commit(hubgate, pinned_repo, cache_dir)
    clean = pinned_repo.push([FakeFile.text("config.json", json.dumps({"version": 3}))]).sha
    # Held back until its background review finds every file clean, then served.
    first_answer = _served_commit(hubgate)
    assert first_answer in (approved, clean)
    _until(lambda: _served_commit(hubgate) == clean, "the clean commit is approved")
    assert _info(hubgate).header("X-HF-Warning") is None


def test_pinning_a_repo_from_the_cli(
    make_hubgate: HubgateFactory, pinned_repo: FakeRepo, tmp_path: Path, cache_dir: Path
) -> None:
    hubgate = make_hubgate(upstream={"ref_ttl_s": 0})
    cli = [sys.executable, "-m", "mirror.cli"]
    pin = subprocess.run(
        [*cli, "pin", PINNED, "--approved"],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert pin.returncode == 0, pin.stderr
    assert "approved revisions" in pin.stdout
    refused = subprocess.run(
        [*cli, "pin", f"{PINNED}@main", "--approved"],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "leave out @revision" in refused.stderr

    approved = _approve_first_commit(hubgate, pinned_repo, cache_dir)
    held_back = pinned_repo.push([FakeFile.from_bytes("extra.bin", unusual_but_benign_pickle())]).sha
    answer = _until(lambda: (a := _info(hubgate)).header("X-HF-Warning") and a, "the new commit is held back")
    assert json.loads(answer.body)["sha"] == approved

    unpin = subprocess.run(
        [*cli, "unpin", PINNED, "--approved"],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert unpin.returncode == 0, unpin.stderr
    # Unpinned, the branch follows upstream again (and the gate judges the new files one by one).
    _until(lambda: _served_commit(hubgate) == held_back, "the repo follows upstream again")
