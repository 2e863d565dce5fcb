"""The gate end to end: scanning, policy, reviews, waivers, audit and the download log."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle, plain_state_pickle, torch_zip, unusual_but_benign_pickle
from tests.fakehub import FakeFile, FakeHub, FakeRepo, Fault, Host, RepoSettings, Slow, WrongDigest
from tests.fakehub.fixtures import BIG_FILE_PATH, BIG_MODEL_ID, big_model_repo

EVIL = "acme/evil-model"
ODD = "acme/odd-model"
PICKLED = "acme/pickle-model"


BERT_CONFIG = json.dumps(
    {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 37,
        "vocab_size": 99,
    }
)


def _repo(repo_id: str, files: list[FakeFile], card: Mapping[str, object]) -> FakeRepo:
    return FakeRepo(
        repo_id,
        [FakeFile.text("config.json", BERT_CONFIG), *files],
        settings=RepoSettings(card_data=dict(card)),
    )


@pytest.fixture
def gate_hub(fake_hub: FakeHub, marker: Path) -> FakeHub:
    apache = {"license": "apache-2.0"}
    fake_hub.add(
        _repo(EVIL, [FakeFile.from_bytes("pytorch_model.bin", torch_zip(marker_pickle(marker)))], apache)
    )
    fake_hub.add(_repo(ODD, [FakeFile.from_bytes("training_state.bin", unusual_but_benign_pickle())], apache))
    fake_hub.add(
        _repo(PICKLED, [FakeFile.from_bytes("pytorch_model.bin", torch_zip(plain_state_pickle()))], apache)
    )
    return fake_hub


def test_a_malicious_pickle_is_quarantined_and_never_served(
    hubgate: RunningHubgate, gate_hub: FakeHub, cache_dir: Path, marker: Path
) -> None:
    with pytest.raises(GatedRepoError) as caught:
        hf_hub_download(EVIL, "pytorch_model.bin", cache_dir=cache_dir, endpoint=hubgate.url)
    message = str(caught.value)
    assert "quarantined" in message
    assert "pickle.dangerous-global" in message
    assert "hubgate review request" in message
    # The verdict is known now: HEAD refuses too, without scanning again.
    head = request("HEAD", f"{hubgate.url}/{EVIL}/resolve/main/pytorch_model.bin")
    assert head.status == 403
    assert head.header("X-Error-Code") == "GatedRepo"
    assert not marker.exists()


@pytest.mark.model
def test_transformers_fails_cleanly_on_a_quarantined_checkpoint(
    hubgate: RunningHubgate, gate_hub: FakeHub, tmp_path: Path, marker: Path
) -> None:
    script = (
        "import sys\nfrom transformers import AutoModel\n"
        "try:\n    AutoModel.from_pretrained(sys.argv[1])\n"
        "except OSError as exc:\n    print('REFUSED', exc)\n    sys.exit(3)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update({"HF_ENDPOINT": hubgate.url, "HF_HOME": str(tmp_path / "home")})
    result = subprocess.run(
        [sys.executable, "-c", script, EVIL],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr[-2000:]
    assert "quarantined" in result.stdout or "quarantined" in result.stderr
    assert not marker.exists()


def test_waiver_lets_an_unusual_pickle_through_and_everything_is_audited(
    hubgate: RunningHubgate, gate_hub: FakeHub, tmp_path: Path
) -> None:
    with pytest.raises(GatedRepoError) as caught:
        hf_hub_download(ODD, "training_state.bin", cache_dir=tmp_path / "a", endpoint=hubgate.url)
    assert "pickle.unknown-callable" in str(caught.value)

    alice = make_token(hubgate, "alice", "requester")
    sec = make_token(hubgate, "sec-team", "approver")
    quarantined = ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", sec))["items"]
    assert [item["path"] for item in quarantined] == ["training_state.bin"]
    review_id = quarantined[0]["id"]
    detail = ok(call(hubgate, "GET", f"/reviews/{review_id}", sec))
    findings = [f for report in detail["reports"] for f in report["findings"]]
    assert any("acme_tools.configs.build_config" in f["evidence"] for f in findings)

    ok(
        call(
            hubgate,
            "POST",
            f"/reviews/{review_id}/request",
            alice,
            {"justification": "our own training state"},
        )
    )
    approved = ok(
        call(hubgate, "POST", f"/reviews/{review_id}/approve", sec, {"reason": "known internal helper"})
    )
    assert approved["state"] == "APPROVED"
    assert approved["waiver"]["by"] == "sec-team"

    path = hf_hub_download(ODD, "training_state.bin", cache_dir=tmp_path / "b", endpoint=hubgate.url)
    assert Path(path).read_bytes() == unusual_but_benign_pickle()

    hubgate.flush_downloads()
    events = ok(call(hubgate, "GET", f"/audit?review_id={review_id}", sec))["items"]
    assert [(e["action"], e["from_state"], e["to_state"], e["actor"]) for e in events] == [
        ("decide", "PENDING", "QUARANTINED", "hubgate"),
        ("request", "QUARANTINED", "QUARANTINED", "alice"),
        ("waive", "QUARANTINED", "APPROVED", "sec-team"),
    ]
    downloads = ok(call(hubgate, "GET", f"/blobs/{detail['subject']}/downloads", sec))["items"]
    assert [(d["path"], d["state"], d["identity"]) for d in downloads] == [
        ("training_state.bin", "APPROVED", "anonymous")
    ]
    assert ok(call(hubgate, "GET", "/audit/verify", sec))["ok"]


def test_a_clean_pickle_is_served_under_the_default_policy(
    hubgate: RunningHubgate, gate_hub: FakeHub, cache_dir: Path
) -> None:
    path = hf_hub_download(PICKLED, "pytorch_model.bin", cache_dir=cache_dir, endpoint=hubgate.url)
    assert Path(path).read_bytes() == torch_zip(plain_state_pickle())


def _policy(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / f"policy-{abs(hash(text))}.toml"
    path.write_text(text)
    return {"path": str(path)}


def test_pickles_can_require_a_human_or_be_refused(
    make_hubgate: HubgateFactory, gate_hub: FakeHub, tmp_path: Path
) -> None:
    review = make_hubgate(policy=_policy(tmp_path, '[formats]\npickle = "review"\n'))
    answer = request("GET", f"{review.url}/{PICKLED}/resolve/main/pytorch_model.bin")
    assert answer.status == 403
    assert "format.pickle" in (answer.header("X-Error-Message") or "")

    only_safetensors = make_hubgate(
        policy=_policy(tmp_path, '[formats]\nallowed = ["safetensors", "json", "text", "empty"]\n')
    )
    refused = request("GET", f"{only_safetensors.url}/{PICKLED}/resolve/main/pytorch_model.bin")
    assert refused.status == 403
    assert "blocked" in (refused.header("X-Error-Message") or "")
    weights = request("GET", f"{only_safetensors.url}/acme/tiny-model/resolve/main/model.safetensors")
    assert weights.status == 200


@pytest.mark.parametrize(
    ("card", "served", "rule"),
    [
        ({"license": "apache-2.0"}, True, ""),
        ({"license": "cc-by-nc-4.0"}, False, "licence.non-commercial"),
        ({"license": "other", "license_name": "yi-license"}, False, "licence.vendor"),
        ({"license": "other", "license_name": "my-own-terms"}, False, "licence.unknown"),
        ({}, False, "licence.unknown"),
        ({"license": "apache-2.0", "base_model": "lic/nc-base"}, False, "licence.non-commercial"),
    ],
)
def test_licence_gate(
    hubgate: RunningHubgate, fake_hub: FakeHub, card: dict[str, object], served: bool, rule: str
) -> None:
    fake_hub.add(_repo("lic/nc-base", [], {"license": "cc-by-nc-4.0"}))
    fake_hub.add(_repo("lic/model", [], card))
    answer = request("GET", f"{hubgate.url}/lic/model/resolve/main/config.json")
    if served:
        assert answer.status == 200
        return
    assert answer.status == 403
    assert answer.header("X-Error-Code") == "GatedRepo"
    message = answer.header("X-Error-Message") or ""
    assert rule in message
    if "base_model" in card:
        assert "inherited from base model lic/nc-base" in message


def test_audit_only_rules_record_but_do_not_block(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    fake_hub.add(_repo("lic/nc", [], {"license": "cc-by-nc-4.0"}))
    hubgate = make_hubgate(policy=_policy(tmp_path, '[licences]\nmode = "audit"\n'))
    assert request("GET", f"{hubgate.url}/lic/nc/resolve/main/config.json").status == 200
    viewer = make_token(hubgate, "auditor", "viewer")
    items = ok(call(hubgate, "GET", "/reviews?repo=lic/nc", viewer))["items"]
    reviews = [item for item in items if item["subject_kind"] == "revision"]
    assert len(reviews) == 1
    assert reviews[0]["state"] == "APPROVED"
    assert reviews[0]["reasons"][0]["rule_id"] == "licence.non-commercial"
    assert reviews[0]["reasons"][0]["audit_only"] is True


def test_an_expired_waiver_falls_back_to_quarantine(hubgate: RunningHubgate, gate_hub: FakeHub) -> None:
    url = f"{hubgate.url}/{ODD}/resolve/main/training_state.bin"
    assert request("GET", url).status == 403
    sec = make_token(hubgate, "sec", "approver")
    review_id = ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", sec))["items"][0]["id"]
    # Long enough for the next request to come before the expiry on a loaded machine; then waited out.
    waiver = {"reason": "trial", "expires_in_s": 6}
    approved = ok(call(hubgate, "POST", f"/reviews/{review_id}/approve", sec, waiver))
    assert request("GET", url).status == 200
    expires_at = datetime.fromisoformat(approved["waiver"]["expires_at"])
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.3)
    expired = request("GET", url)
    assert expired.status == 403
    assert ok(call(hubgate, "GET", f"/reviews/{review_id}", sec))["state"] == "QUARANTINED"
    actions = [e["action"] for e in ok(call(hubgate, "GET", f"/audit?review_id={review_id}", sec))["items"]]
    assert actions == ["decide", "waive", "expire"]


def test_a_policy_change_revokes_what_now_fails(
    make_hubgate: HubgateFactory, gate_hub: FakeHub, tmp_path: Path
) -> None:
    data_dir = {"data_dir": tmp_path / "shared-data"}
    first = make_hubgate(**data_dir)
    url_path = f"/{PICKLED}/resolve/main/pytorch_model.bin"
    assert request("GET", first.url + url_path).status == 200

    stricter = make_hubgate(**data_dir, policy=_policy(tmp_path, '[formats]\npickle = "review"\n'))
    # The background job re-evaluates at start-up; a round run here makes sure it has finished.
    stricter.run(stricter.components.reevaluator.run_once())
    answer = request("GET", stricter.url + url_path)
    assert answer.status == 403
    assert "revoked" in (answer.header("X-Error-Message") or "")
    sec = make_token(stricter, "sec", "viewer")
    revoked = ok(call(stricter, "GET", "/reviews?state=REVOKED", sec))["items"]
    assert [item["path"] for item in revoked] == ["pytorch_model.bin"]


def test_a_slow_scan_answers_429_with_retry_after(make_hubgate: HubgateFactory, gate_hub: FakeHub) -> None:
    hubgate = make_hubgate(server={"fetch_wait_s": 0.001})
    answer = request("GET", f"{hubgate.url}/{PICKLED}/resolve/main/pytorch_model.bin")
    assert answer.status == 429
    assert answer.header("X-Error-Code") == "ScanPending"
    assert int(answer.header("Retry-After") or "0") >= 1
    for _ in range(100):
        answer = request("GET", f"{hubgate.url}/{PICKLED}/resolve/main/pytorch_model.bin")
        if answer.status != 429:
            break
        time.sleep(0.05)
    assert answer.status == 200


def test_roles_and_four_eyes(make_hubgate: HubgateFactory, gate_hub: FakeHub) -> None:
    hubgate = make_hubgate(auth={"four_eyes": True})
    assert request("GET", f"{hubgate.url}/{ODD}/resolve/main/training_state.bin").status == 403
    viewer = make_token(hubgate, "viewer", "viewer")
    approver = make_token(hubgate, "approver", "approver")
    other = make_token(hubgate, "other-approver", "approver")
    review_id = ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", viewer))["items"][0]["id"]
    denied = call(hubgate, "POST", f"/reviews/{review_id}/approve", viewer, {"reason": "x"})
    assert (denied.status, denied.header("X-Error-Code")) == (403, "Forbidden")
    ok(call(hubgate, "POST", f"/reviews/{review_id}/request", approver, {"justification": "needed"}))
    own = call(hubgate, "POST", f"/reviews/{review_id}/approve", approver, {"reason": "mine"})
    assert own.status == 403
    assert "four-eyes" in (own.header("X-Error-Message") or "")
    assert (
        ok(call(hubgate, "POST", f"/reviews/{review_id}/approve", other, {"reason": "ok"}))["state"]
        == "APPROVED"
    )


def test_bad_api_input_changes_nothing(hubgate: RunningHubgate, gate_hub: FakeHub) -> None:
    assert request("GET", f"{hubgate.url}/{ODD}/resolve/main/training_state.bin").status == 403
    admin = make_token(hubgate, "admin", "admin")
    past = "2000-01-01T00:00:00+00:00"
    expired = make_token(
        hubgate, "old", "admin", expires_at=__import__("datetime").datetime.fromisoformat(past)
    )
    head_before = hubgate.run(hubgate.components.audit_trail.audit_head())
    cases = [
        (call(hubgate, "GET", "/reviews", None), 401, "Unauthorized"),
        (call(hubgate, "GET", "/reviews", "hgt_not-a-real-token"), 401, "Unauthorized"),
        (call(hubgate, "GET", "/reviews", expired), 401, "Unauthorized"),
        (call(hubgate, "POST", "/reviews/999999/approve", admin, {"reason": "x"}), 404, "ReviewNotFound"),
        (call(hubgate, "POST", "/reviews/1/approve", admin, {}), 400, "BadRequest"),
        (
            call(hubgate, "POST", "/reviews/1/reopen", admin, {"reason": "not blocked"}),
            409,
            "IllegalTransition",
        ),
        (call(hubgate, "GET", "/reviews?state=WHATEVER", admin), 400, "BadRequest"),
        (call(hubgate, "GET", "/nothing-here", admin), 404, "NotFound"),
    ]
    for answer, status, code in cases:
        assert (answer.status, answer.header("X-Error-Code")) == (status, code), answer.body
    assert hubgate.run(hubgate.components.audit_trail.audit_head()) == head_before
    revoked_twice = call(hubgate, "POST", "/reviews/1/revoke", admin, {"reason": "not approved"})
    assert revoked_twice.status == 409


def test_a_tampered_audit_row_is_detected(hubgate: RunningHubgate, gate_hub: FakeHub, tmp_path: Path) -> None:
    assert request("GET", f"{hubgate.url}/{ODD}/resolve/main/training_state.bin").status == 403
    viewer = make_token(hubgate, "viewer", "viewer")
    assert ok(call(hubgate, "GET", "/audit/verify", viewer))["ok"]
    hubgate.execute_sql("UPDATE audit_events SET reason = 'nothing to see' WHERE action = 'decide'")
    broken = call(hubgate, "GET", "/audit/verify", viewer)
    assert broken.status == 409
    assert "altered" in json.loads(broken.body)["problem"]
    cli = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "audit", "verify"],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 1
    assert "BROKEN" in cli.stderr


def test_safetensors_stream_while_downloading_and_a_bad_tail_cuts_the_connection(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    big = fake_hub.add(big_model_repo())
    weights = big.head.files[BIG_FILE_PATH]
    hubgate = make_hubgate(server={"fetch_wait_s": 30})
    url = f"{hubgate.url}/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}"
    # Throttled upstream (50 MB at 10 MB/s): the first bytes reach the client long before the download
    # ends, even on a loaded machine whose scanner pool takes a second or two to judge the header.
    fake_hub.faults.add(Fault(Slow(bytes_per_second=10_000_000), host=Host.CDN, times=1))
    first_byte, done = _timed_get(url)
    assert done[0] == 200
    assert hashlib.sha256(done[1]).hexdigest() == weights.sha256
    # The throttle makes the whole transfer take seconds; a client of a store-then-serve mirror would
    # see its first byte only at the end. Relative, so a loaded machine does not fail it.
    assert done[2] > 4.0
    assert first_byte < done[2] / 3, (first_byte, done[2])

    # Same again on a fresh hubgate, with the last byte corrupted upstream: the client receives the
    # streamed head of the file, then a broken connection, never the whole size.
    fresh = make_hubgate(server={"fetch_wait_s": 30})
    fake_hub.faults.add(Fault(WrongDigest(at_end=True), host=Host.CDN, times=1))
    fake_hub.faults.add(Fault(Slow(bytes_per_second=25_000_000), host=Host.CDN, times=1))
    with pytest.raises(http.client.IncompleteRead) as caught:
        _timed_get(f"{fresh.url}/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}")
    assert 0 < len(caught.value.partial) < weights.size
    assert fresh.stored_objects() == []
    retry = request("GET", f"{fresh.url}/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}")
    assert retry.status == 200  # the fault was one-off: fetched, verified and approved this time
    assert hashlib.sha256(retry.body).hexdigest() == weights.sha256


def _timed_get(url: str) -> tuple[float, tuple[int, bytes, float]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        started = time.monotonic()
        connection.request("GET", parts.path)
        response = connection.getresponse()
        first = response.read(1)
        first_byte = time.monotonic() - started
        rest = response.read()
        return first_byte, (response.status, first + rest, time.monotonic() - started)
    finally:
        connection.close()
