"""`hubgate lock` and `hubgate check` end to end: the real CLI against the real hubgate and the fake Hub.

A small code tree names six models, each in a different way (from_pretrained, pipeline(model=...),
hf_hub_download, snapshot_download, a YAML config): one with a denied licence, one whose licence review
nobody approved, one that changes upstream after locking, one fine, one whose vendor licence legal
signed off, and one whose weights are a pickle that runs code. `lock --prefetch` pins them (hubgate
fetches, verifies and reviews the files the code needs); `check`, with only a viewer's token, must fail
exactly the four bad ones, name the file and line of each reference, show the sign-off, never download a
weight, and say the same in every output format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import tomllib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.fakehub.safetensors_format import safetensors_bytes

SARIF_SCHEMA = Path(__file__).parents[1] / "schemas" / "sarif-schema-2.1.0.json"

DENIED = "acme/nc-model"  # cc-by-nc-4.0: the default policy denies non-commercial licences
UNAPPROVED = "acme/vendor-model"  # llama3.2: a vendor licence goes to review, nobody approves it
MOVING = "acme/moving-model"  # fine when locked; upstream pushes a new commit afterwards
FINE = "acme/good-model"
SIGNED_OFF = "acme/signed-off-model"  # llama3.2 too, approved by legal with a reason
PICKLED = "acme/pickled-model"  # apache-2.0, but its only weights are a pickle that runs code

TRAIN_PY = textwrap.dedent(
    f"""\
    from huggingface_hub import hf_hub_download, snapshot_download
    from transformers import AutoModel, pipeline

    denied = AutoModel.from_pretrained("{DENIED}")
    chat = pipeline("text-generation", model="{UNAPPROVED}")
    weights = hf_hub_download("{MOVING}", filename="model.safetensors")
    local = snapshot_download(repo_id="{SIGNED_OFF}", allow_patterns=["*.json", "*.safetensors"])
    pickled = AutoModel.from_pretrained(pretrained_model_name_or_path="{PICKLED}")
    mine = AutoModel.from_pretrained("./checkpoints/last")
    """
)
TRAIN_YAML = f"model:\n  model_name_or_path: {FINE}\n  dtype: bfloat16\n"
LINES = {DENIED: 4, UNAPPROVED: 5, MOVING: 6, SIGNED_OFF: 7, PICKLED: 8}


def _weights(seed: int) -> bytes:
    return safetensors_bytes({"weight": np.full((4, 4), seed, dtype=np.float32)})


def _repo(repo_id: str, licence: str, seed: int, *, pickled: Path | None = None) -> FakeRepo:
    files = [
        FakeFile.text("config.json", json.dumps({"model_type": "tiny", "seed": seed})),
        FakeFile.text("README.md", f"# {repo_id}\n"),
    ]
    if pickled is None:
        files.append(FakeFile.from_bytes("model.safetensors", _weights(seed)))
    else:
        files.append(FakeFile.from_bytes("pytorch_model.bin", marker_pickle(pickled), lfs=True))
    return FakeRepo(repo_id, files, settings=RepoSettings(card_data={"license": licence}))


@pytest.fixture
def models(fake_hub: FakeHub, marker: Path) -> dict[str, FakeRepo]:
    repos = [
        _repo(DENIED, "cc-by-nc-4.0", 1),
        _repo(UNAPPROVED, "llama3.2", 2),
        _repo(MOVING, "apache-2.0", 3),
        _repo(FINE, "apache-2.0", 4),
        _repo(SIGNED_OFF, "llama3.2", 5),
        _repo(PICKLED, "apache-2.0", 6, pickled=marker),
    ]
    return {repo.repo_id: fake_hub.add(repo) for repo in repos}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    (root / "checkpoints" / "last").mkdir(parents=True)
    (root / "train.py").write_text(TRAIN_PY)
    (root / "configs" / "train.yaml").write_text(TRAIN_YAML)
    return root


def _hubgate(hubgate: RunningHubgate, tree: Path, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUBGATE_"))}
    env.update({"HUBGATE_URL": hubgate.url, "HUBGATE_TOKEN": token})
    return subprocess.run(
        [sys.executable, "-m", "mirror.cli", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _served(hubgate: RunningHubgate) -> tuple[float, float]:
    """File bytes hubgate sent to clients, and resolve requests it answered."""
    registry = hubgate.components.metrics.registry
    sent = registry.get_sample_value("hubgate_bytes_served_total") or 0.0
    resolves = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "hubgate_requests"
        for sample in metric.samples
        if sample.name == "hubgate_requests_total" and sample.labels.get("route") == "resolve"
    )
    return sent, resolves


def _by_repo(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["repo"]: entry for entry in report["entries"]}


def _rules(entry: dict[str, Any]) -> set[str]:
    return {finding["rule"] for finding in entry["findings"]}


def test_lock_then_check_a_code_tree_with_six_model_references(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, models: dict[str, FakeRepo], tree: Path
) -> None:
    # Branch heads are asked upstream every time, so that the push below is seen at once.
    hubgate = make_hubgate(upstream={"ref_ttl_s": 0}, server={"fetch_wait_s": 60.0})
    requester = make_token(hubgate, "dev", "requester")
    viewer = make_token(hubgate, "ci", "viewer")

    # 1. Lock, having hubgate fetch and review what the code needs.
    locked = _hubgate(hubgate, tree, requester, "lock", "--scan", ".", "--prefetch")
    assert locked.returncode == 0, locked.stderr
    lock_path = tree / "hubgate.lock"
    lock = tomllib.loads(lock_path.read_text())
    entries = {entry["repo"]: entry for entry in lock["repo"]}
    assert sorted(entries) == sorted(models)  # the local checkpoint is not a reference
    for repo_id, entry in entries.items():
        head = models[repo_id].head
        assert entry["commit"] == head.sha
        assert {f["path"]: (f["size"], f["git_oid"]) for f in entry["files"]} == {
            path: (file.size, head.entry_oid(path)) for path, file in head.files.items()
        }
        expected_place = ("configs/train.yaml", 2) if repo_id == FINE else ("train.py", LINES[repo_id])
        assert [(p["file"], p["line"]) for p in entry["references"]] == [expected_place]
    weights = next(f for f in entries[FINE]["files"] if f["path"] == "model.safetensors")
    assert weights["sha256"] == models[FINE].head.files["model.safetensors"].sha256
    assert weights["review"] == "APPROVED"
    assert entries[MOVING]["needs"] == ["model.safetensors"]  # hf_hub_download: that file only
    assert entries[FINE]["needs"] == ["config.json", "model.safetensors"]  # a loader: no README
    assert entries[DENIED]["gate"]["licence_verdict"] == "deny"
    assert entries[UNAPPROVED]["gate"]["review"] == "QUARANTINED"
    assert entries[FINE]["gate"]["review"] == "not-required"

    # 2. Legal signs off one vendor licence; upstream moves another model after locking.
    review_id = entries[SIGNED_OFF]["gate"]["review_id"]
    approver = make_token(hubgate, "legal", "approver")
    reason = "Llama 3.2 community licence accepted by legal, contract L-42"
    ok(call(hubgate, "POST", f"/reviews/{review_id}/approve", approver, {"reason": reason}))
    shown = _hubgate(hubgate, tree, viewer, "review", "show", str(review_id))
    assert "sign-off licence by legal (token legal) on " in shown.stdout, shown.stderr
    assert reason in shown.stdout
    pushed = models[MOVING].push([FakeFile.from_bytes("model.safetensors", _weights(33))])

    # 3. Check the lock against hubgate, with a viewer's token, in every format.
    resolves_before = fake_hub.log.count(path="*/resolve/*")
    served_before = _served(hubgate)
    checked = _hubgate(hubgate, tree, viewer, "check", "--format", "json")
    assert checked.returncode == 1, checked.stderr
    report = _by_repo(json.loads(checked.stdout))
    assert {repo for repo, entry in report.items() if entry["passed"]} == {FINE, SIGNED_OFF}
    assert _rules(report[DENIED]) == {"licence-denied"}
    assert _rules(report[UNAPPROVED]) == {"revision-unapproved"}
    assert _rules(report[MOVING]) == {"revision-moved"}
    assert pushed.sha[:12] in report[MOVING]["findings"][0]["message"]
    assert report[MOVING]["commit_now"] == pushed.sha
    assert _rules(report[PICKLED]) == {"file-refused"}
    assert report[PICKLED]["findings"][0]["path"] == "pytorch_model.bin"
    for repo_id, line in LINES.items():
        assert report[repo_id]["locations"] == [{"file": "train.py", "line": line}]
    assert report[FINE]["locations"] == [{"file": "configs/train.yaml", "line": 2}]
    sign_off = report[SIGNED_OFF]["gate"]["sign_off"]
    assert (sign_off["by"], sign_off["reason"], sign_off["kind"]) == ("legal", reason, "licence")
    assert sign_off["rules"] == ["licence.vendor"]
    assert sign_off["at"]

    table = _hubgate(hubgate, tree, viewer, "check")
    assert table.returncode == 1
    assert f"PASS  {SIGNED_OFF}@main" in table.stdout
    assert f"licence sign-off by legal on {sign_off['at']}" in table.stdout
    assert f"FAIL  {DENIED}@main" in table.stdout
    assert "2 passed, 4 failed" in table.stdout

    sarif_run = _hubgate(hubgate, tree, viewer, "check", "--format", "sarif", "-o", "check.sarif")
    assert sarif_run.returncode == 1
    assert f"FAIL  {PICKLED}@main" in sarif_run.stdout  # the log still shows the table
    sarif = json.loads((tree / "check.sarif").read_text())
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    located = {
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in results
    }
    assert located == {
        ("licence-denied", "train.py", LINES[DENIED]),
        ("revision-unapproved", "train.py", LINES[UNAPPROVED]),
        ("revision-moved", "train.py", LINES[MOVING]),
        ("file-refused", "train.py", LINES[PICKLED]),
    }

    junit_run = _hubgate(hubgate, tree, viewer, "check", "--format", "junit", "-o", "check.xml")
    assert junit_run.returncode == 1
    suites = ET.parse(tree / "check.xml").getroot()
    suite = suites.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "4", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {f"{repo}@main" for repo in models}
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == {f"{repo}@main" for repo in (DENIED, UNAPPROVED, MOVING, PICKLED)}
    denied_failure = cases[f"{DENIED}@main"].find("failure")
    assert denied_failure is not None
    assert denied_failure.get("type") == "licence-denied"
    assert (cases[f"{DENIED}@main"].get("file"), cases[f"{DENIED}@main"].get("line")) == ("train.py", "4")

    # Metadata only: checking fetched no file from upstream and hubgate sent none to the checker.
    assert fake_hub.log.count(path="*/resolve/*") == resolves_before
    assert _served(hubgate) == served_before
    # The hubgate token went to hubgate's API only, never upstream as if it were a Hub token.
    assert not [r for r in fake_hub.log.records if "hgt_" in (r.authorization or "")]

    # 4. A lock whose digest no longer matches the commit names the file.
    tampered = lock_path.read_text().replace(models[FINE].head.files["model.safetensors"].sha256, "0" * 64)
    (tree / "tampered.lock").write_text(tampered)
    changed = _hubgate(hubgate, tree, viewer, "check", "tampered.lock", "--format", "json")
    assert changed.returncode == 1
    assert _rules(_by_repo(json.loads(changed.stdout))[FINE]) == {"file-changed"}

    # 5. A model the code names after locking fails at its line when the tree is checked with the lock.
    with (tree / "train.py").open("a") as source:
        source.write('extra = AutoModel.from_pretrained("acme/added-later")\n')
    with_tree = _hubgate(hubgate, tree, viewer, "check", "hubgate.lock", "--scan", ".", "--format", "json")
    assert with_tree.returncode == 1
    added = [e for e in json.loads(with_tree.stdout)["entries"] if e["repo"] == "acme/added-later"]
    assert [(e["locations"], _rules(e)) for e in added] == [
        ([{"file": "train.py", "line": 10}], {"reference-not-in-lock"})
    ]


def test_check_passes_only_when_everything_passes_and_a_sign_off_expires(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, models: dict[str, FakeRepo], tmp_path: Path
) -> None:
    hubgate = make_hubgate(server={"fetch_wait_s": 60.0})
    root = tmp_path / "clean"
    root.mkdir()
    # A legacy one-segment id, as `gpt2` names openai-community/gpt2: hubgate judges the canonical repo.
    fake_hub.add_alias("model", "good-model-legacy", FINE)
    (root / "app.py").write_text(
        "from transformers import AutoModel, pipeline\n"
        f'AutoModel.from_pretrained("{FINE}")\n'
        f'pipeline("text-generation", model="{UNAPPROVED}")\n'
        'AutoModel.from_pretrained("good-model-legacy")\n'
    )
    requester = make_token(hubgate, "dev", "requester")
    viewer = make_token(hubgate, "ci", "viewer")
    # Before hubgate judged anything, the code tree alone fails closed: nothing reviewed yet.
    unjudged = _hubgate(hubgate, root, viewer, "check", "--scan", ".", "--format", "json")
    assert unjudged.returncode == 1, unjudged.stderr
    assert {repo: _rules(entry) for repo, entry in _by_repo(json.loads(unjudged.stdout)).items()} == {
        FINE: {"not-judged"},
        UNAPPROVED: {"not-judged"},
        "good-model-legacy": {"not-judged"},
    }

    assert _hubgate(hubgate, root, requester, "lock", "--scan", ".", "--prefetch").returncode == 0
    locked = {entry["repo"]: entry for entry in tomllib.loads((root / "hubgate.lock").read_text())["repo"]}
    assert locked["good-model-legacy"]["canonical"] == FINE
    assert locked["good-model-legacy"]["commit"] == models[FINE].head.sha
    review_id = locked[UNAPPROVED]["gate"]["review_id"]
    approver = make_token(hubgate, "legal", "approver")
    reason = "licence accepted for the pilot"
    body = {"reason": reason, "expires_in_s": 20}
    approved = ok(call(hubgate, "POST", f"/reviews/{review_id}/approve", approver, body))
    expires_at = datetime.fromisoformat(approved["waiver"]["expires_at"])
    clean = _hubgate(hubgate, root, viewer, "check")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "3 passed, 0 failed" in clean.stdout
    assert "licence sign-off by legal on " in clean.stdout
    tree_only = _hubgate(hubgate, root, viewer, "check", "--scan", ".")
    assert tree_only.returncode == 0, tree_only.stdout

    # The API check reads: a viewer's, never anonymous; a revision hubgate never judged is a coded 404.
    status_path = f"/inventory/model/{UNAPPROVED}/{models[UNAPPROVED].head.sha}"
    assert call(hubgate, "GET", status_path, None).status == 401
    status = ok(call(hubgate, "GET", status_path, viewer))
    assert (status["review"]["state"], status["sign_off"]["by"]) == ("APPROVED", "legal")
    assert status["policy"]["current"] == status["licence"]["policy_version"]
    unknown = call(hubgate, "GET", f"/inventory/model/{UNAPPROVED}/{'f' * 40}", viewer)
    assert (unknown.status, unknown.header("X-Error-Code")) == (404, "RevisionNotJudged")

    # The sign-off expires: the licence review is a quarantine again, and the check fails.
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
    expired = _hubgate(hubgate, root, viewer, "check", "--format", "json")
    assert expired.returncode == 1
    entry = _by_repo(json.loads(expired.stdout))[UNAPPROVED]
    assert _rules(entry) == {"revision-unapproved"}
    assert entry["gate"]["review"] == "QUARANTINED"
    assert entry["gate"]["sign_off"] is None

    # A wrong token or an unreachable hubgate is a failure, never a pass; an unreadable lock a usage error.
    assert _hubgate(hubgate, root, "hgt_" + "x" * 43, "check").returncode == 1
    (root / "broken.lock").write_text("version = 1\n[[repo]]\nrepo = 'a/b'\n")
    broken = _hubgate(hubgate, root, viewer, "check", "broken.lock")
    assert broken.returncode == 2
    assert "not a hubgate lock file" in broken.stderr
