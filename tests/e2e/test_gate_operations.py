"""Operating the gate: prefetch (API and CLI), the webhook, the Hub's own scan signal, tokens on the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import plain_state_pickle, torch_zip, unusual_but_benign_pickle
from tests.fakehub import FakeFile, FakeHub, FakeRepo, RepoSettings
from tests.fakehub.fixtures import MODEL_ID

MIXED = "acme/mixed-model"


@pytest.fixture
def mixed_repo(fake_hub: FakeHub) -> FakeRepo:
    return fake_hub.add(
        FakeRepo(
            MIXED,
            [
                FakeFile.text("config.json", "{}"),
                FakeFile.from_bytes("pytorch_model.bin", torch_zip(plain_state_pickle())),
                FakeFile.from_bytes("training_state.bin", unusual_but_benign_pickle()),
                FakeFile.text("notes/readme.txt", "hello\n"),
            ],
            settings=RepoSettings(card_data={"license": "mit"}),
        )
    )


def _wait_job(hubgate: RunningHubgate, token: str, job_id: str) -> dict[str, Any]:
    for _ in range(200):
        job = ok(call(hubgate, "GET", f"/prefetch/{job_id}", token))
        if job["state"] != "running":
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("prefetch did not finish")


def test_prefetch_through_the_api(hubgate: RunningHubgate, mixed_repo: FakeRepo) -> None:
    token = make_token(hubgate, "ops", "requester")
    job = ok(call(hubgate, "POST", "/prefetch", token, {"repo": MIXED, "exclude": ["notes/*"]}))
    result = _wait_job(hubgate, token, job["id"])
    assert result["state"] == "done"
    assert result["commit"] == mixed_repo.head.sha
    states = {item["path"]: item["state"] for item in result["files"]}
    assert states == {
        "config.json": "APPROVED",
        "pytorch_model.bin": "APPROVED",
        "training_state.bin": "QUARANTINED",
    }
    quarantined = next(item for item in result["files"] if item["state"] == "QUARANTINED")
    assert quarantined["reasons"][0]["rule_id"] == "pickle.unknown-callable"
    assert result["done_bytes"] == result["total_bytes"] > 0
    # Prefetched files are served from the store at once.
    assert request("GET", f"{hubgate.url}/{MIXED}/resolve/main/pytorch_model.bin").status == 200


def test_prefetch_and_review_from_the_cli(hubgate: RunningHubgate, mixed_repo: FakeRepo) -> None:
    token = make_token(hubgate, "ops", "admin")
    env = {**os.environ, "HUBGATE_URL": hubgate.url, "HUBGATE_TOKEN": token}
    cli = [sys.executable, "-m", "mirror.cli"]
    run = subprocess.run(
        [*cli, "prefetch", f"{MIXED}@main", "--include", "*.bin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stderr  # something was quarantined
    assert "QUARANTINED training_state.bin" in " ".join(run.stdout.split())
    assert "config.json" not in run.stdout
    listing = subprocess.run(
        [*cli, "review", "list", "--state", "QUARANTINED"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    review_id = listing.stdout.split()[0]
    shown = subprocess.run(
        [*cli, "review", "show", review_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "acme_tools.configs.build_config" in shown.stdout
    approve = subprocess.run(
        [*cli, "review", "approve", review_id, "--reason", "internal helper", "--expires-in", "30d"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert approve.returncode == 0, approve.stderr
    assert "APPROVED" in approve.stdout
    assert request("GET", f"{hubgate.url}/{MIXED}/resolve/main/training_state.bin").status == 200
    illegal = subprocess.run(
        [*cli, "review", "approve", review_id, "--reason", "again"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert illegal.returncode == 2
    assert "cannot waive a review in state APPROVED" in illegal.stderr


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        holder["stop"] = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        ready.set()
        await holder["stop"].wait()
        await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    ready.wait(10)
    yield holder["url"], received
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def test_webhook_posts_quarantines_and_decisions(
    make_hubgate: HubgateFactory, mixed_repo: FakeRepo, webhook_receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook_receiver
    hubgate = make_hubgate(webhook={"url": url})
    assert request("GET", f"{hubgate.url}/{MIXED}/resolve/main/training_state.bin").status == 403
    approver = make_token(hubgate, "sec", "approver")
    review_id = ok(call(hubgate, "GET", "/reviews?state=QUARANTINED", approver))["items"][0]["id"]
    ok(call(hubgate, "POST", f"/reviews/{review_id}/block", approver, {"reason": "not ours"}))
    for _ in range(100):
        if len(received) >= 2:
            break
        time.sleep(0.05)
    assert [(event["event"], event["state"], event["review_id"]) for event in received] == [
        ("quarantine", "QUARANTINED", review_id),
        ("block", "BLOCKED", review_id),
    ]
    assert received[1]["actor"] == "sec"
    assert received[0]["path"] == "training_state.bin"


def test_the_hubs_own_unsafe_verdict_sends_a_file_to_review(
    hubgate: RunningHubgate, fake_hub: FakeHub
) -> None:
    fake_hub.repo(MODEL_ID).settings.unsafe_paths.add("tokenizer.json")
    answer = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/tokenizer.json")
    assert answer.status == 403
    assert "hub.security-status" in (answer.header("X-Error-Message") or "")
    assert request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json").status == 200


def test_tokens_from_the_cli(hubgate: RunningHubgate, tmp_path: Path) -> None:
    env = hubgate.cli_env()
    cli = [sys.executable, "-m", "mirror.cli", "token"]
    created = subprocess.run(
        [*cli, "create", "--name", "bob", "--role", "approver"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = created.stdout.strip()
    assert token.startswith("hgt_")
    assert ok(call(hubgate, "GET", "/whoami", token)) == {"name": "bob", "subject": "bob", "role": "approver"}
    bad_role = subprocess.run(
        [*cli, "create", "--name", "eve", "--role", "god"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad_role.returncode == 2
    assert "invalid choice" in bad_role.stderr
    subprocess.run([*cli, "revoke", "bob"], env=env, capture_output=True, timeout=60, check=True)
    revoked = call(hubgate, "GET", "/whoami", token)
    assert revoked.status == 401
    assert "revoked" in (revoked.header("X-Error-Message") or "")
    listing = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "bob" in listing.stdout
    assert "revoked" in listing.stdout


def test_openapi_document_is_valid(hubgate: RunningHubgate) -> None:
    document = json.loads(request("GET", f"{hubgate.url}/api/hubgate/v1/openapi.json").body)
    validate(document)
    assert "/reviews/{id}/approve" in document["paths"]
