"""Continuity end to end: the fake Hub deletes a repository, makes it private or gated at runtime, and
the real huggingface_hub client keeps getting (or is refused) what hubgate stored, as `[continuity]` says.

Every hubgate here asks the Hub again on each request (`ref_ttl_s = 0`), so a change upstream is seen by
the next request, as it is after a ref's TTL in production.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.test_gate_operations import webhook_receiver  # noqa: F401 - a fixture, used by name
from tests.fakehub import FakeFile, FakeHub, FakeHubServer, FakeRepo, RepoSettings
from tests.fakehub.fixtures import ALICE_TOKEN, BOB_TOKEN, PRIVATE_MODEL_ID
from tests.fakehub.safetensors_format import safetensors_bytes

KEPT = "acme/kept-model"  # an MIT-licensed repo: its revisions need no human
VENDOR = "acme/vendor-model"  # a vendor licence: a human approved its revision before it vanished
ASKS_AGAIN = {"ref_ttl_s": 0, "alias_ttl_s": 0, "access_ttl_s": 0}
Webhook = tuple[str, list[dict[str, Any]]]


def _repo(repo_id: str, seed: int, licence: str) -> FakeRepo:
    weights = safetensors_bytes({"weight": np.full((4, 4), seed, dtype=np.float32)})
    return FakeRepo(
        repo_id,
        [
            FakeFile.text("config.json", json.dumps({"model_type": "tiny", "seed": seed})),
            FakeFile.from_bytes("model.safetensors", weights),
        ],
        settings=RepoSettings(card_data={"license": licence}),
    )


@pytest.fixture
def kept(fake_hub: FakeHub) -> FakeRepo:
    return fake_hub.add(_repo(KEPT, 1, "mit"))


def _policy(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / f"policy-{hashlib.sha256(text.encode()).hexdigest()[:8]}.toml"
    path.write_text(text)
    return {"path": str(path)}


def _start(make_hubgate: HubgateFactory, **sections: Any) -> RunningHubgate:
    return make_hubgate(upstream=ASKS_AGAIN, server={"fetch_wait_s": 60.0}, **sections)


def _snapshot(hubgate: RunningHubgate, repo_id: str, cache: Path, **kwargs: Any) -> dict[str, bytes]:
    folder = Path(snapshot_download(repo_id, cache_dir=cache, endpoint=hubgate.url, **kwargs))
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _upstream_events(hubgate: RunningHubgate, token: str) -> list[dict[str, Any]]:
    events = ok(call(hubgate, "GET", "/audit?limit=5000", token))["items"]
    return [event for event in events if event["action"].startswith("upstream-")]


def _wait_for(received: list[dict[str, Any]], event: str) -> dict[str, Any]:
    for _ in range(200):
        found = [item for item in received if item.get("event") == event]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {event} webhook call; got {[item.get('event') for item in received]}")


def _cli(hubgate: RunningHubgate, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mirror.cli", *args],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_deleted_repo_keeps_serving_under_serve_and_the_change_is_an_event(
    make_hubgate: HubgateFactory,
    fake_hub: FakeHub,
    upstream: FakeHubServer,
    kept: FakeRepo,
    webhook_receiver: Webhook,  # noqa: F811
    tmp_path: Path,
) -> None:
    url, received = webhook_receiver
    hubgate = _start(make_hubgate, webhook={"url": url})
    before = _snapshot(hubgate, KEPT, tmp_path / "before")
    hubgate.flush_downloads()
    commit = kept.head.sha

    fake_hub.remove("model", KEPT)
    # The Hub itself now answers RepoNotFound, as it does for any deleted repository.
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=upstream.url).model_info(KEPT)

    # A new machine, an empty cache, the same code: it still gets exactly what hubgate stored.
    assert _snapshot(hubgate, KEPT, tmp_path / "after") == before
    path = hf_hub_download(KEPT, "model.safetensors", cache_dir=tmp_path / "one", endpoint=hubgate.url)
    assert Path(path).read_bytes() == before["model.safetensors"]
    answer = request("GET", f"{hubgate.url}/{KEPT}/resolve/main/config.json")
    assert answer.status == 200
    assert answer.header("X-Repo-Commit") == commit  # the ref keeps resolving to the last known commit
    today = datetime.now(UTC).date().isoformat()
    warning = answer.header("X-HF-Warning") or ""
    assert f"{KEPT} was removed from the Hub on {today}" in warning
    assert commit[:12] in warning

    hubgate.flush_downloads()
    viewer = make_token(hubgate, "security-lead", "viewer")
    [event] = _upstream_events(hubgate, viewer)
    assert (event["action"], event["subject"], event["from_state"], event["to_state"]) == (
        "upstream-removed",
        f"models/{KEPT}",
        "present",
        "removed",
    )
    assert "RepoNotFound" in event["reason"]
    hook = _wait_for(received, "upstream-removed")
    assert (hook["repo"], hook["state"], hook["continuity"], hook["revisions"]) == (
        f"models/{KEPT}",
        "removed",
        "serve",
        [commit],
    )
    assert hook["audit_event_id"] == event["id"]

    # The inventory (API, SBOM property) and the continuity report say what vanished and since when.
    [revision] = ok(call(hubgate, "GET", "/inventory", viewer))["items"]
    assert revision["upstream_state"] == f"removed since {today}"
    assert revision["upstream"]["state"] == "removed"
    report = _cli(hubgate, "report", "continuity", "--format", "json")
    assert report.returncode == 0, report.stderr
    [row] = json.loads(report.stdout)["by_repo"]
    assert (row["repo"], row["state"], row["commits"]) == (f"models/{KEPT}", "removed", [commit])
    assert row["downloads"] >= 2
    table = _cli(hubgate, "report", "continuity")
    assert f"models/{KEPT}" in table.stdout
    assert f"removed since {today}" in table.stdout
    api_report = ok(call(hubgate, "GET", "/reports/continuity", viewer))
    assert api_report["by_repo"][0]["repo"] == f"models/{KEPT}"

    # The Hub serves it again: present, and that is an event too.
    fake_hub.add(kept)
    again = request("GET", f"{hubgate.url}/{KEPT}/resolve/main/config.json")
    assert again.status == 200
    assert again.header("X-HF-Warning") is None
    assert [e["action"] for e in _upstream_events(hubgate, viewer)] == [
        "upstream-removed",
        "upstream-present",
    ]
    assert _wait_for(received, "upstream-present")["from_state"] == "removed"
    assert ok(call(hubgate, "GET", "/inventory", viewer))["items"][0]["upstream_state"] == "present"
    assert json.loads(_cli(hubgate, "report", "continuity", "--format", "json").stdout)["by_repo"] == []


def test_a_deleted_repo_is_refused_under_refuse(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    hubgate = _start(make_hubgate, policy=_policy(tmp_path, '[continuity]\non_removed = "refuse"\n'))
    _snapshot(hubgate, KEPT, tmp_path / "before")
    fake_hub.remove("model", KEPT)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(KEPT, "config.json", cache_dir=tmp_path / "after", endpoint=hubgate.url)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hubgate.url).model_info(KEPT)
    answer = request("GET", f"{hubgate.url}/{KEPT}/resolve/main/config.json")
    assert (answer.status, answer.header("X-Error-Code")) == (401, "RepoNotFound")
    assert "continuity policy refuses it" in (answer.header("X-Error-Message") or "")
    assert not list((tmp_path / "after").rglob("config.json"))
    # Refused, but still recorded: the security team learns that it vanished.
    viewer = make_token(hubgate, "security-lead", "viewer")
    assert [e["action"] for e in _upstream_events(hubgate, viewer)] == ["upstream-removed"]


def test_a_deleted_repo_turns_into_a_review_under_review(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    vendor = fake_hub.add(_repo(VENDOR, 2, "llama3.2"))
    hubgate = _start(make_hubgate, policy=_policy(tmp_path, '[continuity]\non_removed = "review"\n'))
    approver = make_token(hubgate, "sec-team", "approver")
    # The vendor licence needs a human: approved once, before anything vanished.
    assert request("GET", f"{hubgate.url}/{VENDOR}/resolve/main/config.json").status == 403
    [licence] = [
        item
        for item in ok(call(hubgate, "GET", f"/reviews?repo={VENDOR}", approver))["items"]
        if item["subject_kind"] == "revision"
    ]
    ok(call(hubgate, "POST", f"/reviews/{licence['id']}/approve", approver, {"reason": "legal said yes"}))
    stored = {
        repo: _snapshot(hubgate, repo, tmp_path / f"before-{n}") for n, repo in enumerate((KEPT, VENDOR))
    }
    hubgate.flush_downloads()

    fake_hub.remove("model", KEPT)
    fake_hub.remove("model", VENDOR)
    for repo in (KEPT, VENDOR):
        with pytest.raises(GatedRepoError) as refused:
            hf_hub_download(
                repo, "model.safetensors", cache_dir=tmp_path / f"pending-{repo}", endpoint=hubgate.url
            )
        assert "continuity.removed" in str(refused.value)
        assert not list((tmp_path / f"pending-{repo}").rglob("model.safetensors"))

    queued = {
        item["repo_id"]: item
        for item in ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", approver))["items"]
        if item["subject_kind"] == "revision"
    }
    assert set(queued) == {KEPT, VENDOR}
    assert queued[KEPT]["commit"] == kept.head.sha
    # The review (as the review page reads it) says why: the repository vanished, and since when.
    shown = ok(call(hubgate, "GET", f"/reviews/{queued[KEPT]['id']}", approver))
    today = datetime.now(UTC).date().isoformat()
    assert shown["upstream_state"] == f"removed since {today}"
    assert "RepoNotFound" in shown["upstream"]["detail"]
    assert "approve" in shown["actions"]
    # The approved licence review went back to the queue through the state machine (requeue), keeping
    # the licence reason next to the new one; the waiver it had is gone.
    assert queued[VENDOR]["id"] == licence["id"]
    assert {r["rule_id"] for r in queued[VENDOR]["reasons"]} >= {"continuity.removed"}
    assert len(queued[VENDOR]["reasons"]) >= 2
    assert queued[VENDOR]["waiver"] is None
    trail = ok(call(hubgate, "GET", f"/audit?review_id={licence['id']}", approver))["items"]
    assert [(e["action"], e["from_state"], e["to_state"]) for e in trail][-1] == (
        "requeue",
        "APPROVED",
        "QUARANTINED",
    )

    # A reviewer decides to keep serving the vendor model: its files come back; the other stays pending.
    ok(call(hubgate, "POST", f"/reviews/{licence['id']}/approve", approver, {"reason": "keep, known good"}))
    path = hf_hub_download(VENDOR, "model.safetensors", cache_dir=tmp_path / "kept", endpoint=hubgate.url)
    assert Path(path).read_bytes() == stored[VENDOR]["model.safetensors"]
    with pytest.raises(GatedRepoError):
        hf_hub_download(KEPT, "model.safetensors", cache_dir=tmp_path / "still", endpoint=hubgate.url)
    # A rescan decides again under the current rules: the repository is still gone, so still a review.
    rescanned = ok(call(hubgate, "POST", f"/reviews/{queued[KEPT]['id']}/rescan", approver, {"reason": "?"}))
    assert rescanned["state"] == "QUARANTINED"
    assert vendor.head.sha == queued[VENDOR]["commit"]


def test_a_repo_turning_gated_serves_what_was_public_and_nothing_newer(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    hubgate = _start(make_hubgate)
    refusing = _start(make_hubgate, policy=_policy(tmp_path, '[continuity]\non_gated = "refuse"\n'))
    old = kept.head.sha
    for running, name in ((hubgate, "serve"), (refusing, "refuse")):
        _snapshot(running, KEPT, tmp_path / f"before-{name}")

    fake_hub.make_gated(KEPT, "manual")
    newer = kept.push([FakeFile.text("config.json", '{"model_type": "tiny", "secret": "after gating"}')])
    # A user who accepted the terms fetches the new commit through hubgate: it is stored, but gated.
    kept.settings.allowed_tokens.add(ALICE_TOKEN)
    hf_hub_download(
        KEPT,
        "config.json",
        revision=newer.sha,
        cache_dir=tmp_path / "alice",
        endpoint=hubgate.url,
        token=ALICE_TOKEN,
    )

    # The revision stored while public keeps serving anonymous and unentitled callers, with a warning.
    for token in (None, BOB_TOKEN):
        path = hf_hub_download(
            KEPT,
            "config.json",
            revision=old,
            cache_dir=tmp_path / f"old-{token}",
            endpoint=hubgate.url,
            token=token,
        )
        assert json.loads(Path(path).read_text())["seed"] == 1
    warned = request("GET", f"{hubgate.url}/{KEPT}/resolve/{old}/config.json")
    assert f"{KEPT} was gated on the Hub on" in (warned.header("X-HF-Warning") or "")
    # The commit made after gating was never public: the Hub's GatedRepo stands, nothing reaches disk.
    for token in (None, BOB_TOKEN):
        with pytest.raises(GatedRepoError):
            hf_hub_download(
                KEPT, "config.json", cache_dir=tmp_path / f"new-{token}", endpoint=hubgate.url, token=token
            )
        assert not list((tmp_path / f"new-{token}").rglob("config.json"))
    # Under refuse, even the old revision gets the Hub's GatedRepo.
    with pytest.raises(GatedRepoError):
        hf_hub_download(
            KEPT, "config.json", revision=old, cache_dir=tmp_path / "refused", endpoint=refusing.url
        )

    viewer = make_token(hubgate, "security-lead", "viewer")
    [event] = _upstream_events(hubgate, viewer)
    assert (event["action"], event["to_state"]) == ("upstream-gated", "gated")
    assert ok(call(hubgate, "GET", "/inventory", viewer))["items"][0]["upstream_state"].startswith(
        "gated since"
    )


def test_a_repo_private_when_stored_is_never_served_past_the_hubs_404(
    hubgate_fast: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    """The attack: hubgate stored a private repository for Alice; once the Hub answers 404 (deleted, or
    just not visible to the caller), nobody may get it from hubgate's store, Alice included."""
    path = hf_hub_download(
        PRIVATE_MODEL_ID,
        "config.json",
        cache_dir=tmp_path / "alice",
        endpoint=hubgate_fast.url,
        token=ALICE_TOKEN,
    )
    assert Path(path).read_text() == '{"model_type": "private"}'
    fake_hub.remove("model", PRIVATE_MODEL_ID)
    for name, token in (("anonymous", None), ("bob", BOB_TOKEN), ("alice", ALICE_TOKEN)):
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(
                PRIVATE_MODEL_ID,
                "config.json",
                cache_dir=tmp_path / f"{name}-after",
                endpoint=hubgate_fast.url,
                token=token,
            )
        assert not list((tmp_path / f"{name}-after").rglob("config.json"))
    viewer = make_token(hubgate_fast, "security-lead", "viewer")
    assert _upstream_events(hubgate_fast, viewer) == []  # no change of a repo hubgate never held public


def test_a_commit_pushed_after_going_private_stays_private_when_the_repo_vanishes(
    hubgate_fast: RunningHubgate, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    """The attack: public when hubgate got one commit, private when it got the next (for a user with
    access); after the repository vanishes, the old commit may continue, the private one never."""
    old = kept.head.sha
    _snapshot(hubgate_fast, KEPT, tmp_path / "public")
    fake_hub.make_private(KEPT)
    kept.settings.allowed_tokens.add(ALICE_TOKEN)
    secret = kept.push([FakeFile.text("secret.txt", "internal only\n")])
    got = hf_hub_download(
        KEPT,
        "secret.txt",
        revision=secret.sha,
        cache_dir=tmp_path / "alice",
        endpoint=hubgate_fast.url,
        token=ALICE_TOKEN,
    )
    assert Path(got).read_text() == "internal only\n"
    fake_hub.remove("model", KEPT)

    path = hf_hub_download(
        KEPT, "config.json", revision=old, cache_dir=tmp_path / "old", endpoint=hubgate_fast.url
    )
    assert json.loads(Path(path).read_text())["seed"] == 1
    for token in (None, BOB_TOKEN):
        for revision in (secret.sha, "main"):
            with pytest.raises(RepositoryNotFoundError):
                hf_hub_download(
                    KEPT,
                    "secret.txt",
                    revision=revision,
                    cache_dir=tmp_path / f"thief-{token}",
                    endpoint=hubgate_fast.url,
                    token=token,
                )
        assert not list((tmp_path / f"thief-{token}").rglob("secret.txt"))


def test_a_rename_is_not_a_removal(
    hubgate_fast: RunningHubgate, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    before = _snapshot(hubgate_fast, KEPT, tmp_path / "before")
    fake_hub.rename("model", KEPT, "acme/kept-model-renamed")
    # The old name redirects on the Hub; hubgate follows it, with no continuity warning.
    assert _snapshot(hubgate_fast, KEPT, tmp_path / "after") == before
    answer = request("GET", f"{hubgate_fast.url}/{KEPT}/resolve/main/config.json")
    assert answer.status == 200
    assert answer.header("X-HF-Warning") is None
    viewer = make_token(hubgate_fast, "security-lead", "viewer")
    assert _upstream_events(hubgate_fast, viewer) == []


def test_a_repo_disabled_by_the_hub_counts_as_removed(
    hubgate_fast: RunningHubgate, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    _snapshot(hubgate_fast, KEPT, tmp_path / "before")
    kept.settings.disabled = True
    answer = request("GET", f"{hubgate_fast.url}/{KEPT}/resolve/main/config.json")
    assert answer.status == 200
    assert f"{KEPT} was removed from the Hub on" in (answer.header("X-HF-Warning") or "")
    viewer = make_token(hubgate_fast, "security-lead", "viewer")
    [event] = _upstream_events(hubgate_fast, viewer)
    assert "Access to this resource is disabled." in event["reason"]


@pytest.fixture
def hubgate_fast(make_hubgate: HubgateFactory) -> RunningHubgate:
    return _start(make_hubgate)


def test_a_caller_with_a_made_up_token_cannot_mark_a_repo_gone(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    """The attack: under `review`, a false "removed" would send every revision back to the queue (refused
    to everyone). The Hub's 401 for an unknown token says nothing about the repository."""
    hubgate = _start(make_hubgate, policy=_policy(tmp_path, '[continuity]\non_removed = "review"\n'))
    _snapshot(hubgate, KEPT, tmp_path / "before")
    hubgate.flush_downloads()
    forged = "hf_" + "x" * 34
    answer = request(
        "GET", f"{hubgate.url}/{KEPT}/resolve/main/config.json", headers={"Authorization": f"Bearer {forged}"}
    )
    assert answer.status == 401  # the Hub refused the token, not the repository
    assert request("GET", f"{hubgate.url}/{KEPT}/resolve/main/config.json").status == 200
    viewer = make_token(hubgate, "security-lead", "viewer")
    assert _upstream_events(hubgate, viewer) == []
    assert ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", viewer))["items"] == []


def test_replicas_share_the_state_and_record_the_change_once(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, kept: FakeRepo, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"  # one database and one store, as replicas behind a load balancer
    first = make_hubgate(shared, upstream=ASKS_AGAIN, server={"fetch_wait_s": 60.0})
    second = make_hubgate(shared, upstream=ASKS_AGAIN, server={"fetch_wait_s": 60.0})
    _snapshot(first, KEPT, tmp_path / "before")
    first.flush_downloads()
    fake_hub.remove("model", KEPT)
    answers = [
        request("GET", f"{replica.url}/{KEPT}/resolve/main/config.json")
        for replica in (first, second, first, second)
    ]
    assert [answer.status for answer in answers] == [200] * 4
    warnings = {answer.header("X-HF-Warning") for answer in answers}
    assert len(warnings) == 1  # one date, whichever replica saw the change first
    viewer = make_token(second, "security-lead", "viewer")
    assert [e["action"] for e in _upstream_events(second, viewer)] == ["upstream-removed"]
    [revision] = ok(call(second, "GET", "/inventory", viewer))["items"]
    assert revision["upstream_state"].startswith("removed since")
