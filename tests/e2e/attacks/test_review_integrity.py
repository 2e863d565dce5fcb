"""Attacks on the review workflow and its record, against the real hubgate over HTTP and its CLI.

- one person holding two tokens asks for a review and waives it herself;
- an admin, or the bootstrap admin, waives alone;
- an old request is reused for a later decision;
- an insider with database access deletes the newest audit rows, or recomputes the whole chain, or
  forges a checkpoint with a key of their own;
- an unauthenticated caller sends a huge or malformed body; an approver sends an absurd expiry;
- a rescan dies between its two writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from mirror.provenance.signing import ModelSigner
from mirror.review.checkpoints import Checkpoint, checkpoint_name
from storage.audit import stored_event_hash
from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate, hubgate_in_thread, hubgate_settings
from tests.e2e.payloads import unusual_but_benign_pickle
from tests.fakehub import FakeFile, FakeHub, FakeHubServer, FakeRepo, RepoSettings

ODD = "acme/odd-model"
FILE = "training_state.bin"
BOOTSTRAP_SECRET = "hgt_" + "b" * 43


@pytest.fixture
def odd_hub(fake_hub: FakeHub) -> FakeHub:
    fake_hub.add(
        FakeRepo(
            ODD,
            [FakeFile.from_bytes(FILE, unusual_but_benign_pickle())],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    return fake_hub


def _cli(hubgate: RunningHubgate, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mirror.cli", *args],
        env=hubgate.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _token(hubgate: RunningHubgate, name: str, subject: str, role: str) -> str:
    """A token made as an operator makes one: `hubgate token create --name --subject --role`."""
    made = _cli(hubgate, "token", "create", "--name", name, "--subject", subject, "--role", role)
    assert made.returncode == 0, made.stderr
    assert f"of {subject!r}" in made.stderr
    return made.stdout.strip()


def _quarantined_review(hubgate: RunningHubgate) -> int:
    assert request("GET", f"{hubgate.url}/{ODD}/resolve/main/{FILE}").status == 403
    viewer = make_token(hubgate, "auditor", "viewer")
    items = ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", viewer))["items"]
    return int(items[0]["id"])


def _served(hubgate: RunningHubgate) -> int:
    return request("GET", f"{hubgate.url}/{ODD}/resolve/main/{FILE}").status


def test_one_person_with_two_tokens_cannot_request_and_waive(
    make_hubgate: HubgateFactory, odd_hub: FakeHub
) -> None:
    hubgate = make_hubgate(auth={"four_eyes": True})
    review_id = _quarantined_review(hubgate)
    alice_ci = _token(hubgate, "alice-ci", "alice@corp", "requester")
    alice_laptop = _token(hubgate, "alice-laptop", "alice@corp", "approver")
    bob = _token(hubgate, "bob-desk", "bob@corp", "requester")

    ok(call(hubgate, "POST", f"/reviews/{review_id}/request", alice_ci, {"justification": "I need it"}))
    waived = call(hubgate, "POST", f"/reviews/{review_id}/approve", alice_laptop, {"reason": "fine"})
    assert (waived.status, waived.header("X-Error-Code")) == (403, "FourEyesRequired")
    assert "'alice@corp'" in (waived.header("X-Error-Message") or "")
    assert _served(hubgate) == 403

    ok(call(hubgate, "POST", f"/reviews/{review_id}/request", bob, {"justification": "me too"}))
    approved = ok(call(hubgate, "POST", f"/reviews/{review_id}/approve", alice_laptop, {"reason": "ok"}))
    assert (approved["state"], approved["waiver"]["by"]) == ("APPROVED", "alice@corp")
    assert _served(hubgate) == 200

    detail = ok(call(hubgate, "GET", f"/reviews/{review_id}", alice_ci))
    assert [(r["by"], r["token"], r["justification"]) for r in detail["requests"]] == [
        ("alice@corp", "alice-ci", "I need it"),
        ("bob@corp", "bob-desk", "me too"),
    ]
    assert detail["request"]["by"] == "bob@corp"  # the latest, as before; none is overwritten
    decisions = [(e["actor"], e["token"], e["action"]) for e in detail["audit"] if e["action"] != "decide"]
    assert decisions == [
        ("alice@corp", "alice-ci", "request"),
        ("bob@corp", "bob-desk", "request"),
        ("alice@corp", "alice-laptop", "waive"),
    ]
    shown = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "review", "show", str(review_id)],
        env={**hubgate.cli_env(), "HUBGATE_URL": hubgate.url, "HUBGATE_TOKEN": bob},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "by bob@corp (token bob-desk): me too" in shown.stdout


def test_admins_and_the_bootstrap_admin_are_one_person_too(
    make_hubgate: HubgateFactory, odd_hub: FakeHub
) -> None:
    hubgate = make_hubgate(auth={"four_eyes": True, "admin_token": BOOTSTRAP_SECRET})
    review_id = _quarantined_review(hubgate)
    whoami = ok(call(hubgate, "GET", "/whoami", BOOTSTRAP_SECRET))
    assert (whoami["name"], whoami["subject"], whoami["role"]) == (
        "bootstrap-admin",
        "bootstrap-admin",
        "admin",
    )
    # No request at all: even the bootstrap admin cannot waive alone.
    alone = call(hubgate, "POST", f"/reviews/{review_id}/approve", BOOTSTRAP_SECRET, {"reason": "trust me"})
    assert (alone.status, alone.header("X-Error-Code")) == (403, "FourEyesRequired")
    # An operator's own admin token next to the bootstrap one: still one person if it is the same subject.
    carol = _token(hubgate, "carol-admin", "carol@corp", "admin")
    carol_again = _token(hubgate, "carol-break-glass", "carol@corp", "admin")
    ok(call(hubgate, "POST", f"/reviews/{review_id}/request", carol, {"justification": "urgent"}))
    again = call(hubgate, "POST", f"/reviews/{review_id}/approve", carol_again, {"reason": "urgent"})
    assert (again.status, again.header("X-Error-Code")) == (403, "FourEyesRequired")
    assert _served(hubgate) == 403
    approved = ok(call(hubgate, "POST", f"/reviews/{review_id}/approve", BOOTSTRAP_SECRET, {"reason": "ok"}))
    assert approved["state"] == "APPROVED"


def test_an_old_request_does_not_carry_over_to_a_later_waiver(
    make_hubgate: HubgateFactory, odd_hub: FakeHub
) -> None:
    hubgate = make_hubgate(auth={"four_eyes": True})
    review_id = _quarantined_review(hubgate)
    alice = _token(hubgate, "alice-laptop", "alice@corp", "approver")
    bob = _token(hubgate, "bob-desk", "bob@corp", "requester")
    admin = _token(hubgate, "dora-admin", "dora@corp", "admin")
    ok(call(hubgate, "POST", f"/reviews/{review_id}/request", bob, {"justification": "once"}))
    ok(call(hubgate, "POST", f"/reviews/{review_id}/approve", alice, {"reason": "ok"}))
    # Restrictive decisions stay one person's: revoke, block, and an admin's reopen.
    ok(call(hubgate, "POST", f"/reviews/{review_id}/revoke", alice, {"reason": "new intel"}))
    ok(call(hubgate, "POST", f"/reviews/{review_id}/block", alice, {"reason": "not ours"}))
    reopened = ok(call(hubgate, "POST", f"/reviews/{review_id}/reopen", admin, {"reason": "look again"}))
    assert reopened["state"] == "QUARANTINED"
    # Bob asked for the first waiver, not for this one.
    reused = call(hubgate, "POST", f"/reviews/{review_id}/approve", alice, {"reason": "as before"})
    assert (reused.status, reused.header("X-Error-Code")) == (403, "FourEyesRequired")
    assert _served(hubgate) == 403


def _checkpoint(hubgate: RunningHubgate, admin: str) -> dict[str, Any]:
    made: dict[str, Any] = ok(call(hubgate, "POST", "/audit/checkpoints", admin, {}))
    assert made["created"], made
    return made


def _busy_trail(hubgate: RunningHubgate) -> tuple[str, str]:
    """A trail with some history: a quarantine, requests; returns (admin token, viewer token)."""
    review_id = _quarantined_review(hubgate)
    admin = _token(hubgate, "ops", "ops@corp", "admin")
    viewer = make_token(hubgate, "reader", "viewer")
    for person in ("one", "two", "three"):
        ok(call(hubgate, "POST", f"/reviews/{review_id}/request", admin, {"justification": person}))
    return admin, viewer


def _sql(hubgate: RunningHubgate, statement: str, **params: object) -> None:
    """The insider's own database session (hubgate's database, any client would do)."""

    async def run() -> None:
        async with hubgate.components.database.engine.begin() as connection:
            await connection.execute(text(statement), params)

    hubgate.run(run())


def _delete_newest_rows_and_fix_the_head(hubgate: RunningHubgate, keep: int) -> None:
    _sql(hubgate, "DELETE FROM audit_events WHERE id > :keep", keep=keep)
    _sql(
        hubgate,
        "UPDATE audit_head SET last_id = :keep, last_hash = (SELECT hash FROM audit_events WHERE id = :keep)",
        keep=keep,
    )


def _verify(hubgate: RunningHubgate, viewer: str) -> tuple[int, dict[str, Any]]:
    answer = call(hubgate, "GET", "/audit/verify", viewer)
    return answer.status, json.loads(answer.body)


def test_an_insider_deleting_the_newest_audit_rows_is_caught_by_the_signed_checkpoint(
    make_hubgate: HubgateFactory, odd_hub: FakeHub
) -> None:
    hubgate = make_hubgate()
    admin, viewer = _busy_trail(hubgate)
    made = _checkpoint(hubgate, admin)
    status, verdict = _verify(hubgate, viewer)
    assert (status, verdict["ok"], verdict["anchored_through"]) == (200, True, made["last_event_id"])

    # The requests are the newest rows: delete them and make the head agree, as an insider would.
    _delete_newest_rows_and_fix_the_head(hubgate, keep=made["last_event_id"] - 3)
    status, verdict = _verify(hubgate, viewer)
    assert status == 409
    assert verdict["checkpoint"] == made["name"]
    assert "removed" in verdict["problem"]
    cli = _cli(hubgate, "audit", "verify")
    assert cli.returncode == 1
    assert "BROKEN" in cli.stderr
    assert made["name"] in cli.stderr


def test_an_insider_recomputing_the_whole_chain_is_caught_by_the_signed_checkpoint(
    make_hubgate: HubgateFactory, odd_hub: FakeHub
) -> None:
    hubgate = make_hubgate()
    admin, viewer = _busy_trail(hubgate)
    made = _checkpoint(hubgate, admin)
    _sql(hubgate, "UPDATE audit_events SET reason = 'nobody asked' WHERE action = 'request'")
    store = hubgate.components.audit_trail
    prev = "0" * 64
    for event in hubgate.run(store.audit_events(limit=1000)):
        digest = stored_event_hash(replace(event, prev_hash=prev))
        _sql(
            hubgate,
            "UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :i",
            p=prev,
            h=digest,
            i=event.id,
        )
        prev = digest
    _sql(hubgate, "UPDATE audit_head SET last_hash = :h", h=prev)
    status, verdict = _verify(hubgate, viewer)
    assert status == 409
    assert verdict["checkpoint"] == made["name"]
    assert "rewritten" in verdict["problem"]


def test_a_checkpoint_forged_with_another_key_is_refused(
    make_hubgate: HubgateFactory, odd_hub: FakeHub, tmp_path: Path
) -> None:
    hubgate = make_hubgate()
    admin, viewer = _busy_trail(hubgate)
    made = _checkpoint(hubgate, admin)
    keep = made["last_event_id"] - 3
    _delete_newest_rows_and_fix_the_head(hubgate, keep=keep)
    # The insider also writes the object store: they replace the checkpoint with one that matches the
    # truncated trail, signed with their own key.
    head_id, head_hash = hubgate.run(hubgate.components.audit_trail.audit_head())
    forged = Checkpoint(
        last_event_id=head_id,
        head_hash=head_hash,
        event_count=head_id,
        at=datetime.now(UTC),
        previous_digest=None,
        previous_event_id=0,
    )
    signer = ModelSigner.from_key_file(tmp_path / "insider.pem", create=True)
    objects = hubgate.components.store
    hubgate.run(objects.put_document(checkpoint_name(head_id), signer.sign_statement(forged.statement())))
    hubgate.run(objects.put_document(made["name"], signer.sign_statement(forged.statement())))
    status, verdict = _verify(hubgate, viewer)
    assert status == 409
    assert verdict["checkpoint"] == checkpoint_name(head_id)
    assert "not genuine" in verdict["problem"]


def test_checkpoints_are_made_every_n_events_and_at_shutdown(
    make_hubgate: HubgateFactory,
    upstream: FakeHubServer,
    backend_sections: Callable[[Path], dict[str, Any]],
    odd_hub: FakeHub,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "anchored"
    every_two = {"checkpoint_every_events": 2, "checkpoint_every_s": 3600}
    settings = hubgate_settings(data_dir, upstream.url, **backend_sections(data_dir), audit=every_two)
    with hubgate_in_thread(settings) as first:
        admin, viewer = _busy_trail(first)
        deadline = time.monotonic() + 30
        verdict: dict[str, Any] = {}
        while time.monotonic() < deadline and not verdict.get("checkpoints"):
            time.sleep(0.5)
            _, verdict = _verify(first, viewer)
        assert verdict["ok"]
        assert verdict["checkpoints"] >= 1, "no periodic checkpoint after the event threshold"
        ok(call(first, "POST", "/reviews/1/request", admin, {"justification": "one more"}))
        last_id, _ = first.run(first.components.audit_trail.audit_head())
    # The next start (a replica, or the same one restarted) sees the checkpoint made at shutdown.
    second = make_hubgate(data_dir)
    _, verdict = _verify(second, viewer)
    assert verdict["ok"]
    assert verdict["anchored_through"] >= last_id


def test_an_unauthenticated_body_is_never_read(make_hubgate: HubgateFactory, odd_hub: FakeHub) -> None:
    hubgate = make_hubgate()
    review_id = _quarantined_review(hubgate)
    viewer = make_token(hubgate, "reader", "viewer")
    url = f"{hubgate.url}/api/hubgate/v1/reviews/{review_id}/approve"
    huge = b"{" + b" " * (4 << 20) + b"}"  # beyond server.max_body_bytes (1 MiB)
    for body in (huge, b"{not json", b"[1, 2]"):
        answer = request("POST", url, headers={"Content-Type": "application/json"}, body=body)
        assert (answer.status, answer.header("X-Error-Code")) == (401, "Unauthorized"), body[:20]
        answer = request(
            "POST",
            url,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {viewer}"},
            body=body,
        )
        assert (answer.status, answer.header("X-Error-Code")) == (403, "Forbidden"), body[:20]
    approver = make_token(hubgate, "approver", "approver")
    malformed = request(
        "POST",
        url,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {approver}"},
        body=b"{not json",
    )
    assert (malformed.status, malformed.header("X-Error-Code")) == (400, "BadRequest")


def test_an_absurd_waiver_expiry_is_a_clear_400(make_hubgate: HubgateFactory, odd_hub: FakeHub) -> None:
    hubgate = make_hubgate()
    review_id = _quarantined_review(hubgate)
    approver = make_token(hubgate, "approver", "approver")
    path = f"/reviews/{review_id}/approve"
    for body in (
        {"reason": "x", "expires_in_s": 1e300},
        {"reason": "x", "expires_in_s": 10**30},
        {"reason": "x", "expires_in_s": 367 * 86400},
        {"reason": "x", "expires_at": "9999-12-31T23:59:59+00:00"},
    ):
        answer = call(hubgate, "POST", path, approver, body)
        assert (answer.status, answer.header("X-Error-Code")) == (400, "BadRequest"), body
        assert "366 days" in (answer.header("X-Error-Message") or "")
    nan = request(
        "POST",
        f"{hubgate.url}/api/hubgate/v1{path}",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {approver}"},
        body=b'{"reason": "x", "expires_in_s": NaN}',
    )
    assert nan.status == 400
    assert _served(hubgate) == 403
    year = ok(call(hubgate, "POST", path, approver, {"reason": "x", "expires_in_s": 366 * 86400}))
    assert year["state"] == "APPROVED"
    cli = _cli(hubgate, "review", "approve", str(review_id), "--reason", "x", "--expires-in", "99999999999w")
    assert cli.returncode == 2
    assert "longer than 366 days" in cli.stderr


def _fault_when_leaving_pending(hubgate: RunningHubgate) -> list[str]:
    if hubgate.components.database.is_sqlite:
        return [
            "CREATE TRIGGER injected_fault BEFORE UPDATE OF state ON reviews WHEN OLD.state = 'PENDING' "
            "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        ]
    return [
        "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
        "CREATE TRIGGER injected_fault BEFORE UPDATE ON reviews FOR EACH ROW "
        "WHEN (OLD.state = 'PENDING') EXECUTE FUNCTION injected_fault()",
    ]


def test_a_rescan_that_fails_between_its_writes_leaves_no_review_pending(
    make_hubgate: HubgateFactory, odd_hub: FakeHub
) -> None:
    hubgate = make_hubgate()
    review_id = _quarantined_review(hubgate)
    approver = make_token(hubgate, "approver", "approver")
    viewer = make_token(hubgate, "reader", "viewer")
    for statement in _fault_when_leaving_pending(hubgate):
        hubgate.execute_sql(statement)
    failed = call(hubgate, "POST", f"/reviews/{review_id}/rescan", approver, {"reason": "again"})
    assert failed.status >= 500
    assert ok(call(hubgate, "GET", f"/reviews/{review_id}", viewer))["state"] == "QUARANTINED"
    assert ok(call(hubgate, "GET", "/audit/verify", viewer))["ok"]
    hubgate.execute_sql(
        "DROP TRIGGER injected_fault" + ("" if hubgate.components.database.is_sqlite else " ON reviews")
    )
    rescanned = ok(call(hubgate, "POST", f"/reviews/{review_id}/rescan", approver, {"reason": "again"}))
    assert rescanned["state"] == "QUARANTINED"

    # A review the old two-step rescan left PENDING is decided again by the re-evaluation job.
    hubgate.execute_sql(f"UPDATE reviews SET state = 'PENDING' WHERE id = {review_id}")
    hubgate.run(hubgate.components.reevaluator.run_once())
    resumed = ok(call(hubgate, "GET", f"/reviews/{review_id}", viewer))
    assert resumed["state"] == "QUARANTINED"
    assert resumed["audit"][-1]["reason"].startswith("resumed an interrupted rescan")
