"""Housekeeping: orphaned objects are collected, the disk budget evicts unpinned blobs, pins hold."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.fakehub import FakeHub
from tests.fakehub.fixtures import DATASET_ID, MODEL_ID


def _run_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mirror.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_gc_deletes_orphaned_objects_and_keeps_real_ones(
    make_hubgate: HubgateFactory, tmp_path: Path
) -> None:
    hubgate = make_hubgate()
    assert request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json").status == 200
    kept = hubgate.stored_objects()
    orphan_file = tmp_path / "orphan"
    orphan_file.write_bytes(os.urandom(1000))
    orphan = hashlib.sha256(orphan_file.read_bytes()).hexdigest()
    hubgate.run(hubgate.components.store.put(orphan, orphan_file, size=1000))  # a write whose row never came
    env = {**hubgate.cli_env(), "HUBGATE_STORAGE__ORPHAN_GRACE_S": "0"}

    assert "would delete 1 (1000 bytes)" in _run_cli(env, "gc", "--dry-run")
    assert orphan in hubgate.stored_objects()
    young = _run_cli({**env, "HUBGATE_STORAGE__ORPHAN_GRACE_S": "3600"}, "gc")
    assert "deleted 0" in young  # too young: could be a write in flight
    assert "deleted 1 (1000 bytes)" in _run_cli(env, "gc")
    assert hubgate.stored_objects() == kept


def test_the_disk_budget_evicts_unpinned_blobs_and_verdicts_survive(
    make_hubgate: HubgateFactory, fake_hub: FakeHub
) -> None:
    weights = fake_hub.repo(MODEL_ID).head.files["model.safetensors"]
    rows = fake_hub.repo(DATASET_ID, "dataset").head.files["data/test.jsonl"]
    weights_url = f"/{MODEL_ID}/resolve/main/model.safetensors"
    rows_url = f"/datasets/{DATASET_ID}/resolve/main/data/test.jsonl"
    # Room for the weights alone: whatever else is stored must go unless pinned.
    hubgate = make_hubgate(storage={"backend": "filesystem", "max_bytes": weights.size + 10})
    env = hubgate.cli_env()
    assert "pinned acme/tiny-model@" in _run_cli(env, "pin", f"{MODEL_ID}@main")
    assert request("GET", hubgate.url + rows_url).status == 200
    assert request("GET", hubgate.url + weights_url).status == 200
    hubgate.flush_downloads()
    hubgate.run(hubgate.components.housekeeper.enforce_budget())
    # The rows were served before the weights, but the weights are pinned: the rows go.
    assert rows.sha256 not in hubgate.stored_objects()
    assert weights.sha256 in hubgate.stored_objects()

    viewer = make_token(hubgate, "viewer", "viewer")
    events_before = len(ok(call(hubgate, "GET", "/audit", viewer))["items"])
    fetched_before = fake_hub.log.count(method="GET", path="*/resolve/*/data/test.jsonl")
    again = request("GET", hubgate.url + rows_url)
    assert again.status == 200
    assert again.body == rows.blob.read(0, rows.size)
    assert fake_hub.log.count(method="GET", path="*/resolve/*/data/test.jsonl") == fetched_before + 1
    new_events = ok(call(hubgate, "GET", "/audit", viewer))["items"][events_before:]
    assert [event for event in new_events if event["action"] == "decide"] == []  # the verdict was kept

    assert "removed 1 pin" in _run_cli(env, "unpin", MODEL_ID)
    hubgate.flush_downloads()
    hubgate.run(hubgate.components.housekeeper.enforce_budget())
    # Unpinned, the weights are now the least recently served: they go, the rows stay.
    assert weights.sha256 not in hubgate.stored_objects()
    assert rows.sha256 in hubgate.stored_objects()


def test_cli_commands_run_no_background_job_gc_dry_run_deletes_nothing_over_budget(
    make_hubgate: HubgateFactory, fake_hub: FakeHub
) -> None:
    # The server has room; the CLI is given a budget the store is far over. A CLI command that started the
    # server's background jobs would evict at once (the housekeeping loop runs a round on start).
    hubgate = make_hubgate(storage={"backend": "filesystem"})
    for url in (f"/{MODEL_ID}/resolve/main/model.safetensors", f"/{MODEL_ID}/resolve/main/config.json"):
        assert request("GET", hubgate.url + url).status == 200
    hubgate.flush_downloads()
    stored = hubgate.stored_objects()
    over_budget = {**hubgate.cli_env(), "HUBGATE_STORAGE__MAX_BYTES": "1"}

    out = _run_cli(over_budget, "gc", "--dry-run")
    assert "would delete" in out
    assert hubgate.stored_objects() == stored
    viewer = make_token(hubgate, "viewer", "viewer")
    events = len(ok(call(hubgate, "GET", "/audit", viewer))["items"])
    _run_cli(over_budget, "pin", f"{MODEL_ID}@main")
    _run_cli(over_budget, "audit", "verify")
    assert hubgate.stored_objects() == stored
    # No re-evaluation round ran either: nothing but the pin itself was audited.
    new = ok(call(hubgate, "GET", "/audit", viewer))["items"][events:]
    assert {event["action"] for event in new} <= {"pin"}
