"""Origin policy that follows lineage, end to end with the real Hub client against the fake Hub.

The lineage of the issue: `org-x/ft` (an adapter by an unknown org) <- `org-z/merge` (a merge) <-
`org-y/mid` (a fine-tune, named in another spelling) <- `Qwen/Qwen2-7B` (CN). Each repository is
published by a namespace no publisher table knows, except the root. Attacker-built repositories try to
hide a CN base: behind more bases than are followed, beyond the depth bound, behind a base that does not
exist or cannot be read, behind a path-like name; each fails closed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.fakehub.fixtures import ALICE_TOKEN
from tests.fakehub.safetensors_format import safetensors_bytes

QWEN = "Qwen/Qwen2-7B"
MISTRAL = "mistralai/Mistral-7B-v0.1"
LLAMA = "meta-llama/Llama-3.1-8B"
MID = "org-y/mid"
MERGE = "org-z/merge"
FT = "org-x/ft"
LLAMA_FT = "org-w/llama-ft"
PATH = f"{FT} <- {MERGE} <- {MID} <- {QWEN} (country:CN)"
# A cold file is answered once fetched and scanned; a loaded CI machine may need longer than the default.
SLOW_MACHINE = {"fetch_wait_s": 60.0}


def _model(repo_id: str, seed: int, card: dict[str, Any], *extra: FakeFile) -> FakeRepo:
    weights = safetensors_bytes({"weight": np.full((4, 4), seed, dtype=np.float32)})
    files = [
        FakeFile.text("config.json", json.dumps({"model_type": "tiny", "seed": seed})),
        FakeFile.from_bytes("model.safetensors", weights),
        *extra,
    ]
    return FakeRepo(repo_id, files, settings=RepoSettings(card_data={"license": "apache-2.0", **card}))


@pytest.fixture
def lineage_hub(fake_hub: FakeHub) -> FakeHub:
    for repo in (
        _model(QWEN, 1, {}),
        _model(MISTRAL, 2, {}),
        _model(LLAMA, 3, {}),
        _model(MID, 4, {"base_model": QWEN, "base_model_relation": "finetune"}),
        # A merge names its parents in a list; one of them in another spelling, as cards do.
        _model(MERGE, 5, {"base_model": ["ORG-Y/Mid", MISTRAL]}),
        # An adapter as PEFT saves it: adapter_config.json, and its card tagged with the relation.
        _model(
            FT,
            6,
            {"base_model": MERGE, "tags": ["peft", f"base_model:adapter:{MERGE}"]},
            FakeFile.text("adapter_config.json", "{}"),
        ),
        _model(LLAMA_FT, 7, {"base_model": LLAMA}),
    ):
        fake_hub.add(repo)
    return fake_hub


def _policy(tmp_path: Path, text: str) -> dict[str, Any]:
    path = tmp_path / f"policy-{hashlib.sha256(text.encode()).hexdigest()[:8]}.toml"
    path.write_text(text)
    return {"path": str(path)}


def _download(hubgate: RunningHubgate, repo_id: str, cache: Path, path: str = "config.json") -> Path:
    return Path(hf_hub_download(repo_id, path, cache_dir=cache, endpoint=hubgate.url, token=False))


def _revision_reviews(hubgate: RunningHubgate, token: str, repo_id: str) -> list[dict[str, Any]]:
    items = ok(call(hubgate, "GET", f"/reviews?repo={repo_id}", token))["items"]
    return [item for item in items if item["subject_kind"] == "revision"]


def _inventory_item(hubgate: RunningHubgate, token: str, repo_id: str) -> dict[str, Any]:
    hubgate.flush_downloads()  # the served window is written with the download log
    items: list[dict[str, Any]] = ok(call(hubgate, "GET", "/inventory", token))["items"]
    [item] = [item for item in items if item["repo_id"] == repo_id]
    return item


def _cached_files(cache: Path) -> list[Path]:
    return [path for path in cache.rglob("*") if path.is_file() and ".lock" not in path.name]


def test_a_fine_tune_of_a_cn_base_is_reviewed_through_two_levels_and_a_merge(
    make_hubgate: HubgateFactory, lineage_hub: FakeHub, tmp_path: Path
) -> None:
    hubgate = make_hubgate(
        server=SLOW_MACHINE, policy=_policy(tmp_path, '[origins]\nreview = ["country:CN"]\n')
    )
    cache = tmp_path / "cache"
    with pytest.raises(GatedRepoError) as caught:
        _download(hubgate, FT, cache)
    message = str(caught.value)
    assert "quarantined" in message
    assert f"lineage root {QWEN} matches review rule country:CN: {PATH}" in message
    assert not [path for path in _cached_files(cache) if path.name == "config.json"]
    # Not built on CN: served as usual.
    assert _download(hubgate, LLAMA_FT, cache).read_text() == json.dumps({"model_type": "tiny", "seed": 7})

    approver = make_token(hubgate, "sec-team", "approver")
    [review] = _revision_reviews(hubgate, approver, FT)
    assert review["state"] == "QUARANTINED"
    assert [reason["rule_id"] for reason in review["reasons"]] == ["licence.permissive", "origins.country:CN"]
    # What the reviewer sees of the quarantined (never served) revision: its lineage and the finding.
    # (The inventory writes decisions with the download log's next batch, off the request's path.)
    hubgate.flush_downloads()
    judged = ok(call(hubgate, "GET", f"/inventory/model/{FT}/{review['commit']}", approver))
    assert (judged["repo_id"], judged["origins"]["verdict"]) == (FT, "review")
    assert [finding["rule_id"] for finding in judged["origins"]["findings"]] == ["origins.country:CN"]
    assert [node["path"] for node in judged["origins"]["roots"]] == [
        f"{FT} <- {MERGE} <- {MISTRAL}",
        f"{FT} <- {MERGE} <- {MID} <- {QWEN}",
    ]
    # Decided under the version revisions are decided under now: `hubgate check` finds nothing stale.
    assert judged["policy"]["current"] == judged["licence"]["policy_version"]
    ok(
        call(
            hubgate,
            "POST",
            f"/reviews/{review['id']}/approve",
            approver,
            {"reason": "Qwen2 base accepted by legal for this adapter"},
        )
    )
    weights = _download(hubgate, FT, cache, "model.safetensors")
    assert (
        hashlib.sha256(weights.read_bytes()).hexdigest()
        == lineage_hub.repo(FT).head.files["model.safetensors"].sha256
    )

    # The inventory keeps the whole lineage with every repository's origin and how it derives.
    viewer = make_token(hubgate, "auditor", "viewer")
    origins = _inventory_item(hubgate, viewer, FT)["origins"]
    assert (origins["verdict"], origins["complete"]) == ("review", True)
    assert [(node["repo_id"], node["relation"]) for node in origins["lineage"]] == [
        (FT, "adapter"),
        (MERGE, "merge"),
        (MID, "finetune"),
        (MISTRAL, ""),
        (QWEN, ""),
    ]
    assert [(root["repo_id"], root["country"], root["family"]) for root in origins["roots"]] == [
        (MISTRAL, "FR", "Mistral"),
        (QWEN, "CN", "Qwen"),
    ]
    assert origins["lineage"][0]["country"] == "unknown"  # the publisher itself is nobody known


def test_deny_by_namespace_refuses_with_the_lineage_path(
    make_hubgate: HubgateFactory, lineage_hub: FakeHub, tmp_path: Path
) -> None:
    hubgate = make_hubgate(server=SLOW_MACHINE, policy=_policy(tmp_path, '[origins]\ndeny = ["org:org-y"]\n'))
    answer = request("GET", f"{hubgate.url}/{FT}/resolve/main/config.json")
    assert answer.status == 403
    assert answer.header("X-Error-Code") == "GatedRepo"
    message = answer.header("X-Error-Message") or ""
    assert "blocked" in message
    assert f"base model {MID} matches deny rule org:org-y: {FT} <- {MERGE} <- {MID} (org:org-y)" in message
    assert request("GET", f"{hubgate.url}/{LLAMA_FT}/resolve/main/config.json").status == 200


def test_audit_mode_serves_and_records_what_would_have_happened(
    make_hubgate: HubgateFactory, lineage_hub: FakeHub, tmp_path: Path
) -> None:
    hubgate = make_hubgate(
        server=SLOW_MACHINE, policy=_policy(tmp_path, '[origins]\nmode = "audit"\nreview = ["country:CN"]\n')
    )
    cache = tmp_path / "cache"
    _download(hubgate, FT, cache)
    viewer = make_token(hubgate, "auditor", "viewer")
    [review] = _revision_reviews(hubgate, viewer, FT)
    assert review["state"] == "APPROVED"
    [origin] = [reason for reason in review["reasons"] if reason["rule_id"].startswith("origins.")]
    assert (origin["rule_id"], origin["verdict"], origin["audit_only"]) == (
        "origins.country:CN",
        "review",
        True,
    )
    assert PATH in origin["message"]
    [event] = ok(call(hubgate, "GET", f"/audit?review_id={review['id']}", viewer))["items"]
    assert event["action"] == "decide"
    assert "audit only: origins.country:CN would review" in event["reason"]
    served = _inventory_item(hubgate, viewer, FT)
    [finding] = [item for item in served["origins"]["findings"] if item["rule_id"] == "origins.country:CN"]
    assert (finding["audit_only"], served["origins"]["verdict"]) == (True, "allow")


# Repositories built to hide a CN base from the origin rules. Each names the CN model somewhere the walk
# cannot (or does not) go; a rule that could match there must hold the revision for a human.
def _hidden_behind_many_bases(hub: FakeHub) -> str:
    fillers = [f"filler-{n}/base" for n in range(32)]
    for n, name in enumerate(fillers):
        hub.add(_model(name, 100 + n, {}))
    hub.add(_model("sly/merge-many", 90, {"base_model": [*fillers, QWEN]}))  # the 33rd base
    return "sly/merge-many"


def _hidden_beyond_depth(hub: FakeHub) -> str:
    # max_base_model_depth is 5: the CN root sits six levels up.
    parent = QWEN
    for level in range(6, 0, -1):
        name = f"sly/level-{level}"
        hub.add(_model(name, 200 + level, {"base_model": parent}))
        parent = name
    return parent


def _hidden_behind_a_missing_base(hub: FakeHub) -> str:
    hub.add(_model("sly/ft-of-nothing", 91, {"base_model": "sly/deleted-base"}))
    return "sly/ft-of-nothing"


def _hidden_behind_a_private_base(hub: FakeHub) -> str:
    private = _model("sly/private-base", 92, {"base_model": QWEN})
    private.settings.private = True
    private.settings.allowed_tokens = {ALICE_TOKEN}
    hub.add(private)
    hub.add(_model("sly/ft-of-private", 93, {"base_model": "sly/private-base"}))
    return "sly/ft-of-private"


def _hidden_behind_a_path(hub: FakeHub) -> str:
    hub.add(_model("sly/ft-of-a-path", 94, {"base_model": "/workspace/Qwen2-7B-out"}))
    return "sly/ft-of-a-path"


def _hidden_in_a_malformed_field(hub: FakeHub) -> str:
    hub.add(_model("sly/ft-of-a-mapping", 95, {"base_model": [{"id": QWEN}]}))
    return "sly/ft-of-a-mapping"


@pytest.mark.parametrize(
    ("build", "why"),
    [
        (_hidden_behind_many_bases, "names 33 base models; hubgate follows the first 32"),
        (_hidden_beyond_depth, "beyond the depth bound (5 levels)"),
        (_hidden_behind_a_missing_base, "could not be read (RepoNotFound"),
        (_hidden_behind_a_private_base, "could not be read (RepoNotFound"),
        (_hidden_behind_a_path, "no Hub repository id"),
        (_hidden_in_a_malformed_field, "entries that are no repository ids"),
    ],
)
def test_an_unknown_lineage_fails_closed_under_a_rule_that_could_match(
    make_hubgate: HubgateFactory,
    lineage_hub: FakeHub,
    tmp_path: Path,
    build: Callable[[FakeHub], str],
    why: str,
) -> None:
    repo_id = build(lineage_hub)
    strict = make_hubgate(
        server=SLOW_MACHINE, policy=_policy(tmp_path, '[origins]\nreview = ["country:CN"]\n')
    )
    cache = tmp_path / "cache"
    with pytest.raises(GatedRepoError) as caught:
        _download(strict, repo_id, cache)
    message = str(caught.value)
    assert "origins.lineage-unknown" in message
    assert why in message
    assert not [path for path in _cached_files(cache) if path.name == "config.json"]
    # Without an origin rule that could match, the same repository is served: nothing to fail closed on.
    # (The licence gate, which sends an unreadable base's unknown licence to review, is told not to look.)
    lenient = make_hubgate(
        server=SLOW_MACHINE, policy=_policy(tmp_path, "[licences]\nfollow_base_model = false\n")
    )
    assert request("GET", f"{lenient.url}/{repo_id}/resolve/main/config.json").status == 200


def _wait_for(predicate: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _metric(hubgate: RunningHubgate, line_start: str) -> float:
    text = request("GET", f"{hubgate.url}/metrics").body.decode()
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start)]
    return values[0] if values else 0.0


ENTITIES = """
[[entities]]
org = "unrelated-entity"
name = "Unrelated Entity"
list = "export-control"
"""


def test_an_entity_list_change_re_evaluates_stored_revisions_without_a_restart(
    make_hubgate: HubgateFactory, lineage_hub: FakeHub, tmp_path: Path
) -> None:
    entities = tmp_path / "entities.toml"
    entities.write_text(ENTITIES)
    hubgate = make_hubgate(
        server=SLOW_MACHINE,
        policy={
            **_policy(tmp_path, '[origins]\ndeny = ["entity:export-control"]\n'),
            "entities_path": str(entities),
            "entities_poll_s": 0.1,
        },
    )
    cache = tmp_path / "cache"
    _download(hubgate, FT, cache)  # nobody in its lineage is listed: served, no review needed
    viewer = make_token(hubgate, "auditor", "viewer")
    assert _revision_reviews(hubgate, viewer, FT) == []

    # Legal lists org-y (the mid fine-tune's publisher), by a glob over its namespaces.
    listed = ENTITIES + '\n[[entities]]\norg = "org-y*"\nname = "Org Y Holdings"\nlist = "export-control"\n'
    tmp = tmp_path / "entities.new"
    tmp.write_text(listed)
    tmp.replace(entities)  # written whole and renamed over the old file, as operators should
    # The stored revision is decided again at once, not when someone next asks for it.
    _wait_for(lambda: [r["state"] for r in _revision_reviews(hubgate, viewer, FT)] == ["BLOCKED"])
    [review] = _revision_reviews(hubgate, viewer, FT)
    [reason] = [r for r in review["reasons"] if r["rule_id"].startswith("origins.")]
    assert reason["rule_id"] == "origins.entity:export-control"
    assert "the entity list names Org Y Holdings (export-control)" in reason["message"]
    refused = request("GET", f"{hubgate.url}/{FT}/resolve/main/model.safetensors")
    assert refused.status == 403
    assert "entity:export-control" in (refused.header("X-Error-Message") or "")
    assert _metric(hubgate, 'hubgate_entity_list_reloads_total{outcome="loaded"}') == 1
    assert _metric(hubgate, "hubgate_entity_list_entries") == 2

    # A broken file never empties the list: the previous one stays in force, and says so.
    entities.write_text('[[entities]]\norg = "org-y*"\n')
    _wait_for(lambda: _metric(hubgate, 'hubgate_entity_list_reloads_total{outcome="invalid"}') == 1)
    assert _metric(hubgate, "hubgate_entity_list_entries") == 2
    assert request("GET", f"{hubgate.url}/{FT}/resolve/main/model.safetensors").status == 403
    # A repository newly asked for is judged under the list in force too.
    assert request("GET", f"{hubgate.url}/{MID}/resolve/main/config.json").status == 403


def test_taking_an_entity_off_the_list_lets_its_quarantined_revisions_through_again(
    make_hubgate: HubgateFactory, lineage_hub: FakeHub, tmp_path: Path
) -> None:
    entities = tmp_path / "entities.csv"
    entities.write_text("org,name,list\norg-y,Org Y Holdings,watch\n")
    hubgate = make_hubgate(
        server=SLOW_MACHINE,
        policy={
            **_policy(tmp_path, '[origins]\nreview = ["entity:watch"]\n'),
            "entities_path": str(entities),
            "entities_poll_s": 0.1,
        },
    )
    assert request("GET", f"{hubgate.url}/{FT}/resolve/main/config.json").status == 403
    viewer = make_token(hubgate, "auditor", "viewer")
    assert [r["state"] for r in _revision_reviews(hubgate, viewer, FT)] == ["QUARANTINED"]
    tmp = tmp_path / "entities.new"
    tmp.write_text("org,name,list\n")  # legal takes org-y off the list
    tmp.replace(entities)
    _wait_for(lambda: [r["state"] for r in _revision_reviews(hubgate, viewer, FT)] == ["APPROVED"])
    assert request("GET", f"{hubgate.url}/{FT}/resolve/main/config.json").status == 200


def _cli(hubgate: RunningHubgate, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mirror.cli", *args],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_origins_by_lineage_answers_what_the_stack_is_built_on(
    hubgate: RunningHubgate, lineage_hub: FakeHub, tmp_path: Path
) -> None:
    session = [
        (FT, "model.safetensors", None),
        (FT, "model.safetensors", ALICE_TOKEN),
        (MID, "config.json", None),
        (LLAMA_FT, "model.safetensors", ALICE_TOKEN),
        (QWEN, "config.json", None),
    ]
    for number, (repo_id, path, token) in enumerate(session):
        hf_hub_download(
            repo_id, path, cache_dir=tmp_path / f"cache-{number}", endpoint=hubgate.url, token=token or False
        )
    hubgate.flush_downloads()

    def size(repo_id: str, path: str) -> int:
        return lineage_hub.repo(repo_id).head.files[path].size

    run = _cli(hubgate, "report", "origins", "--by", "lineage", "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    by_country = {row["country"]: row for row in report["by_root_country"]}
    cn_bytes = 2 * size(FT, "model.safetensors") + size(MID, "config.json") + size(QWEN, "config.json")
    assert {key: by_country["CN"][key] for key in ("revisions", "downloads", "bytes", "identities")} == {
        "revisions": 3,
        "downloads": 4,
        "bytes": cn_bytes,
        "identities": 2,
    }
    # The merge also stands on Mistral: FT counts under FR too.
    assert (by_country["FR"]["revisions"], by_country["FR"]["bytes"]) == (
        1,
        2 * size(FT, "model.safetensors"),
    )
    assert (by_country["US"]["revisions"], by_country["US"]["identities"]) == (1, 1)
    families = {(row["country"], row["family"]): row for row in report["by_root_family"]}
    assert families[("CN", "Qwen")]["roots"] == [QWEN]
    assert families[("US", "Llama")]["downloads"] == 1
    assert report["totals"]["revisions"] == 4

    viewer = make_token(hubgate, "auditor", "viewer")
    api = ok(call(hubgate, "GET", "/reports/origins?by=lineage", viewer))
    assert api["by_root_country"] == report["by_root_country"]
    bad = call(hubgate, "GET", "/reports/licences?by=lineage", viewer)
    assert (bad.status, bad.header("X-Error-Code")) == (400, "BadRequest")

    table = _cli(hubgate, "report", "origins", "--by", "lineage")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("origins by lineage root: 4 revisions")
    refused = _cli(hubgate, "report", "licences", "--by", "lineage")
    assert refused.returncode == 2
    assert "only the origins report groups by lineage" in refused.stderr
