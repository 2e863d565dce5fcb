"""Refused downloads are recorded on the review that refused them: who (the download log's identity),
when, with which client and method, in which state; a caller still waiting for a scan (429) was not
refused; and a caller who varies its User-Agent cannot fill the database. Real huggingface_hub client,
real server, both backends."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError
from sqlalchemy import func, select

from storage.tables import RefusedAttemptRow
from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle, torch_zip
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.fakehub.fixtures import ALICE_TOKEN

EVIL = "acme/evil-model"
VENDOR = "acme/vendor-model"
ALICE = hashlib.sha256(ALICE_TOKEN.encode()).hexdigest()[:16]  # how the download log names a token
WEIGHTS = "pytorch_model.bin"


@pytest.fixture
def refused_hub(fake_hub: FakeHub, marker: Path) -> FakeHub:
    fake_hub.add(
        FakeRepo(
            EVIL,
            [
                FakeFile.text("config.json", '{"model_type": "bert"}'),
                FakeFile.from_bytes(WEIGHTS, torch_zip(marker_pickle(marker))),
            ],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    fake_hub.add(
        FakeRepo(
            VENDOR,
            [FakeFile.text("config.json", '{"model_type": "vendor"}')],
            settings=RepoSettings(card_data={"license": "llama3"}),
        )
    )
    return fake_hub


def _review_of(hubgate: RunningHubgate, token: str, repo: str, *, kind: str = "blob", path: str = "") -> Any:
    items = ok(call(hubgate, "GET", f"/reviews?repo={repo}", token))["items"]
    [found] = [item for item in items if item["subject_kind"] == kind and (not path or item["path"] == path)]
    return ok(call(hubgate, "GET", f"/reviews/{found['id']}", token))


def _flush(hubgate: RunningHubgate) -> None:
    hubgate.run(hubgate.components.refusals.flush())


def _rows(attempts: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return sorted((row["identity"], row["method"], row["state"], row["count"]) for row in attempts["latest"])


def test_who_tried_to_get_a_quarantined_file_is_on_its_review(
    hubgate: RunningHubgate, refused_hub: FakeHub, tmp_path: Path
) -> None:
    # Alice's client: the first call fetches and scans (its GET is refused), the second is refused at its
    # HEAD, which huggingface_hub sends first (the verdict is known by then).
    for attempt in range(2):
        with pytest.raises(GatedRepoError):
            hf_hub_download(
                EVIL, WEIGHTS, cache_dir=tmp_path / f"c{attempt}", endpoint=hubgate.url, token=ALICE_TOKEN
            )
    for _ in range(3):
        answer = request(
            "GET", f"{hubgate.url}/{EVIL}/resolve/main/{WEIGHTS}", headers={"User-Agent": "curl/8.5.0"}
        )
        assert answer.status == 403
    # A file that is served is a download, not an attempt.
    hf_hub_download(EVIL, "config.json", cache_dir=tmp_path / "ok", endpoint=hubgate.url)
    _flush(hubgate)

    viewer = make_token(hubgate, "auditor", "viewer")
    review = _review_of(hubgate, viewer, EVIL, path=WEIGHTS)
    attempts = review["attempts"]
    assert attempts["count"] == 5
    assert attempts["identity_count"] == 2
    assert attempts["unnamed"] == 0
    assert _rows(attempts) == [
        (ALICE, "GET", "QUARANTINED", 1),
        (ALICE, "HEAD", "QUARANTINED", 1),
        ("anonymous", "GET", "QUARANTINED", 3),
    ]
    for row in attempts["latest"]:
        assert (row["repo"], row["path"], row["folded"]) == (f"models/{EVIL}", WEIGHTS, "")
        assert len(row["commit"]) == 40
    by_identity = {item["identity"]: item for item in attempts["by_identity"]}
    assert [item["identity"] for item in attempts["by_identity"]] == ["anonymous", ALICE]
    assert by_identity["anonymous"]["clients"] == ["curl/8.5.0"]
    [alice_client] = by_identity[ALICE]["clients"]
    assert "hf_hub/" in alice_client  # huggingface_hub's own User-Agent
    assert attempts["first_at"] <= attempts["last_at"]
    # The CLI shows the same (with a viewer's token).
    shown = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "review", "show", str(review["id"])],
        env={**os.environ, "HUBGATE_URL": hubgate.url, "HUBGATE_TOKEN": viewer},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "refused  5 attempts by 2 identities" in shown.stdout
    assert "  - anonymous: 3 (last " in shown.stdout
    assert "client curl/8.5.0" in shown.stdout
    assert f"  - {ALICE}: 2 (last " in shown.stdout
    config = _review_of(hubgate, viewer, EVIL, path="config.json")
    assert config["state"] == "APPROVED"
    assert config["attempts"]["count"] == 0

    # Once blocked, an attempt is recorded with the state that refused it.
    admin = make_token(hubgate, "sec-admin", "admin")
    ok(call(hubgate, "POST", f"/reviews/{review['id']}/block", admin, {"reason": "runs open()"}))
    assert request("HEAD", f"{hubgate.url}/{EVIL}/resolve/main/{WEIGHTS}").status == 403
    _flush(hubgate)
    attempts = ok(call(hubgate, "GET", f"/reviews/{review['id']}", viewer))["attempts"]
    assert attempts["count"] == 6
    assert ("anonymous", "HEAD", "BLOCKED", 1) in _rows(attempts)


def test_a_revision_refused_for_its_licence_records_the_attempt_on_the_revision_review(
    hubgate: RunningHubgate, refused_hub: FakeHub, tmp_path: Path
) -> None:
    with pytest.raises(GatedRepoError):
        hf_hub_download(VENDOR, "config.json", cache_dir=tmp_path, endpoint=hubgate.url, token=ALICE_TOKEN)
    _flush(hubgate)
    viewer = make_token(hubgate, "auditor", "viewer")
    review = _review_of(hubgate, viewer, VENDOR, kind="revision")
    assert review["state"] == "QUARANTINED"
    # huggingface_hub's HEAD is refused at admission, before any file is looked at.
    assert _rows(review["attempts"]) == [(ALICE, "HEAD", "QUARANTINED", 1)]
    assert review["attempts"]["latest"][0]["path"] == "config.json"


def test_a_caller_waiting_for_a_scan_was_not_refused(
    make_hubgate: HubgateFactory, refused_hub: FakeHub
) -> None:
    # No fetch and scan finishes within a millisecond: the first GET answers 429 (fetch and scan in
    # progress), which is no refusal.
    hubgate = make_hubgate(server={"fetch_wait_s": 0.001})
    url = f"{hubgate.url}/{EVIL}/resolve/main/{WEIGHTS}"
    first = request("GET", url)
    assert (first.status, first.header("X-Error-Code")) == (429, "ScanPending")
    viewer = make_token(hubgate, "auditor", "viewer")
    deadline = time.monotonic() + 60
    while True:
        items = ok(call(hubgate, "GET", f"/reviews?state=QUARANTINED&repo={EVIL}", viewer))["items"]
        if items:
            break
        assert time.monotonic() < deadline, "the scan never finished"
        time.sleep(0.2)
    _flush(hubgate)
    review = _review_of(hubgate, viewer, EVIL, path=WEIGHTS)
    assert review["attempts"]["count"] == 0
    assert request("GET", url).status == 403
    _flush(hubgate)
    assert ok(call(hubgate, "GET", f"/reviews/{review['id']}", viewer))["attempts"]["count"] == 1


def test_a_caller_varying_its_user_agent_cannot_fill_the_database(
    hubgate: RunningHubgate, refused_hub: FakeHub, tmp_path: Path
) -> None:
    url = f"{hubgate.url}/{EVIL}/resolve/main/{WEIGHTS}"
    with pytest.raises(GatedRepoError):  # a real user, before the flood
        hf_hub_download(EVIL, WEIGHTS, cache_dir=tmp_path, endpoint=hubgate.url, token=ALICE_TOKEN)
    flood = 300
    started = time.monotonic()
    for number in range(flood):
        assert request("HEAD", url, headers={"User-Agent": f"scanner-{number:04}"}).status == 403
    elapsed = time.monotonic() - started
    _flush(hubgate)
    viewer = make_token(hubgate, "auditor", "viewer")
    attempts = _review_of(hubgate, viewer, EVIL, path=WEIGHTS)["attempts"]
    assert attempts["count"] == flood + 1
    assert _rows(attempts)[0] == (ALICE, "GET", "QUARANTINED", 1)
    rows = hubgate.run(_row_count(hubgate))
    bounds = hubgate.components.refusals.bounds
    # The caller's own rows up to the bound, then one row counting the rest; Alice's row stays.
    assert rows == bounds.rows_per_identity + 1 + 1
    folded = [row for row in attempts["latest"] if row["folded"]]
    assert [(row["identity"], row["folded"], row["count"]) for row in folded] == [
        ("anonymous", "identity", flood - bounds.rows_per_identity)
    ]
    print(f"{flood} refused HEADs in {elapsed:.2f} s ({elapsed / flood * 1000:.1f} ms each, client included)")


async def _row_count(hubgate: RunningHubgate) -> int:
    async with hubgate.components.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(RefusedAttemptRow)) or 0)
