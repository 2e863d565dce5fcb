"""hubgate against an upstream as harsh as huggingface.co: CDN compression, renamed and case-variant repo
ids, rate limits, cookies and redirects (the fake Hub models each with its public source)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import huggingface_hub
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle, torch_zip
from tests.fakehub import (
    FakeFile,
    FakeHub,
    FakeHubServer,
    FakeRepo,
    Fault,
    GzipBomb,
    Host,
    RateLimits,
    Redirect,
    RepoSettings,
)
from tests.fakehub.fixtures import (
    ALICE_TOKEN,
    BOB_TOKEN,
    GATED_MODEL_ID,
    LEGACY_ALIAS_ID,
    MANY_FILES_ID,
    MODEL_ID,
    OLD_MODEL_ID,
    PRIVATE_MODEL_ID,
)
from tests.mirror.provenance.pki import new_key, public_pem

BIN = Path(sys.executable).parent
SPELLINGS = [LEGACY_ALIAS_ID, OLD_MODEL_ID, "ACME/Tiny-Model", "acme/TINY-MODEL"]
EVIL_ID = "evil-org/x"


def _content(fake_hub: FakeHub, repo_id: str, path: str) -> bytes:
    file = fake_hub.repo(repo_id).head.files[path]
    return file.blob.read(0, file.size)


# -- compression ---------------------------------------------------------------------------------------


def test_compressed_metadata_and_text_files_are_decoded_and_stored_as_the_hub_describes_them(
    hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path
) -> None:
    assert fake_hub.compress
    for path in ("config.json", "tokenizer/vocab.txt", "README.md", "model.safetensors"):
        local = hf_hub_download(MODEL_ID, path, cache_dir=cache_dir, endpoint=hubgate.url)
        assert Path(local).read_bytes() == _content(fake_hub, MODEL_ID, path)
    info = HfApi(endpoint=hubgate.url).model_info(MODEL_ID, files_metadata=True)
    assert info.id == MODEL_ID
    assert {s.rfilename for s in info.siblings or []} >= {"config.json", "model.safetensors"}
    # The CDN really did compress what hubgate asked for: its metadata calls accept gzip...
    metadata = fake_hub.log.find(path="/api/models/acme/tiny-model*", host=Host.HUB)
    assert metadata
    assert all("gzip" in dict(r.headers).get("Accept-Encoding", "") for r in metadata)
    # ...and what it stored is the identity bytes, named by their sha256, never a compressed form.
    stored = set(hubgate.stored_objects())
    for path in ("config.json", "tokenizer/vocab.txt"):
        assert hashlib.sha256(_content(fake_hub, MODEL_ID, path)).hexdigest() in stored


def test_a_text_file_the_cdn_compresses_against_hubgates_wish_is_still_verified_decoded(
    hubgate: RunningHubgate, fake_hub: FakeHub, upstream: FakeHubServer, cache_dir: Path
) -> None:
    # A regular file answered gzip although hubgate asked for identity (the bomb fault ignores
    # Accept-Encoding): hubgate decodes no more than the file's size + 1 and refuses it, storing nothing.
    fake_hub.faults.add(
        Fault(GzipBomb(decoded_bytes=1 << 30), match="/acme/tiny-model/resolve/*/config.json", host=Host.HUB)
    )
    answer = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json")
    assert answer.status == 502
    assert answer.header("X-Error-Code") in {"IntegrityError", "UpstreamProtocolError"}
    assert (
        hashlib.sha256(_content(fake_hub, MODEL_ID, "config.json")).hexdigest()
        not in hubgate.stored_objects()
    )


def test_a_gzip_bomb_metadata_answer_is_refused_with_a_coded_502(
    hubgate: RunningHubgate, fake_hub: FakeHub
) -> None:
    fake_hub.faults.add(
        Fault(
            GzipBomb(decoded_bytes=4 << 30, prefix=b'{"id": "acme/bomb", "x": "'),
            match="/api/models/acme/bomb*",
        )
    )
    fake_hub.add(FakeRepo("acme/bomb", [FakeFile.text("config.json", "{}")]))
    started = time.monotonic()
    answer = request("GET", f"{hubgate.url}/api/models/acme/bomb/revision/main")
    assert answer.status == 502
    assert answer.header("X-Error-Code") == "UpstreamProtocolError"
    assert "decodes to more than" in (answer.header("X-Error-Message") or "")
    # Refused after the bounded prefix, not after inflating 4 GiB.
    assert time.monotonic() - started < 20


# -- renamed, legacy and case-variant ids ----------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_repo_downloads_the_canonical_repo(
    hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path, spelling: str
) -> None:
    api = HfApi(endpoint=hubgate.url)
    assert api.model_info(spelling).id == MODEL_ID
    local = hf_hub_download(spelling, "config.json", cache_dir=cache_dir, endpoint=hubgate.url)
    assert Path(local).read_bytes() == _content(fake_hub, MODEL_ID, "config.json")
    folder = Path(snapshot_download(spelling, cache_dir=cache_dir, endpoint=hubgate.url))
    assert (folder / "model.safetensors").read_bytes() == _content(fake_hub, MODEL_ID, "model.safetensors")
    assert folder.name == fake_hub.repo(MODEL_ID).head.sha


def test_the_inventory_and_download_log_know_one_repo_whatever_the_spelling(
    hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path
) -> None:
    for spelling in [MODEL_ID, *SPELLINGS]:
        hf_hub_download(
            spelling, "config.json", cache_dir=cache_dir, endpoint=hubgate.url, force_download=True
        )
    token = make_token(hubgate, "viewer", "viewer")
    sha = hashlib.sha256(_content(fake_hub, MODEL_ID, "config.json")).hexdigest()

    def downloads() -> list[dict[str, object]]:
        items: list[dict[str, object]] = ok(call(hubgate, "GET", f"/blobs/{sha}/downloads", token))["items"]
        return items

    deadline = time.monotonic() + 30
    while len(downloads()) < 1 + len(SPELLINGS) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {item["repo"] for item in downloads()} == {f"models/{MODEL_ID}"}
    assert len(downloads()) == 1 + len(SPELLINGS)
    reviews = ok(call(hubgate, "GET", "/reviews?state=APPROVED,QUARANTINED,PENDING&limit=500", token))[
        "items"
    ]
    assert {item["repo_id"] for item in reviews if item["repo_id"].lower().endswith("tiny-model")} == {
        MODEL_ID
    }


def test_hf_download_cli_through_a_legacy_alias(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING"))}
    env.update(
        {"HF_ENDPOINT": hubgate.url, "HF_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    )
    result = subprocess.run(
        [str(BIN / "hf"), "download", LEGACY_ALIAS_ID, "config.json", "--local-dir", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "config.json").read_bytes() == _content(fake_hub, MODEL_ID, "config.json")


def test_an_alias_still_finds_its_stored_revision_when_the_hub_is_down(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    data_dir = tmp_path / "gate"
    first = make_hubgate(data_dir)
    hf_hub_download(LEGACY_ALIAS_ID, "config.json", cache_dir=tmp_path / "c1", endpoint=first.url)
    # A new process knows the alias only from its database.
    again = make_hubgate(data_dir, upstream={"ref_ttl_s": 0})
    fake_hub.faults.go_offline()
    answer = request("GET", f"{again.url}/{LEGACY_ALIAS_ID}/resolve/main/config.json")
    assert answer.status == 200
    assert answer.body == _content(fake_hub, MODEL_ID, "config.json")
    assert "hubgate's store" in (answer.header("X-HF-Warning") or "")


def test_auth_check_and_gated_access_through_a_case_variant(hubgate: RunningHubgate, tmp_path: Path) -> None:
    api = HfApi(endpoint=hubgate.url)
    variant = GATED_MODEL_ID.upper()
    api.auth_check(variant, token=ALICE_TOKEN)
    with pytest.raises(GatedRepoError):
        api.auth_check(variant, token=BOB_TOKEN)
    local = hf_hub_download(
        variant, "config.json", cache_dir=tmp_path / "alice", endpoint=hubgate.url, token=ALICE_TOKEN
    )
    assert Path(local).is_file()
    # Stored now, but bob may not read it, whichever spelling he uses.
    for spelling in (variant, GATED_MODEL_ID):
        with pytest.raises(GatedRepoError):
            hf_hub_download(
                spelling, "config.json", cache_dir=tmp_path / "bob", endpoint=hubgate.url, token=BOB_TOKEN
            )


# -- policy on the canonical id, whatever the spelling ---------------------------------------------------


@pytest.fixture
def evil_hub(fake_hub: FakeHub, marker: Path) -> FakeHub:
    fake_hub.add(
        FakeRepo(
            EVIL_ID,
            [
                FakeFile.text("config.json", "{}"),
                FakeFile.from_bytes("pytorch_model.bin", torch_zip(marker_pickle(marker))),
            ],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    fake_hub.add_alias("model", "innocent-name", EVIL_ID)
    return fake_hub


def _policy(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return {"path": str(path)}


@pytest.mark.parametrize("spelling", ["EVIL-ORG/x", "evil-org/X", "Evil-Org/X", "innocent-name"])
def test_a_deny_rule_refuses_every_spelling_and_alias(
    make_hubgate: HubgateFactory, evil_hub: FakeHub, tmp_path: Path, cache_dir: Path, spelling: str
) -> None:
    hubgate = make_hubgate(policy=_policy(tmp_path, '[repos]\ndeny = ["evil-org/*"]\n'))
    with pytest.raises(GatedRepoError, match="deny list"):
        hf_hub_download(spelling, "pytorch_model.bin", cache_dir=cache_dir, endpoint=hubgate.url)
    with pytest.raises(GatedRepoError):
        snapshot_download(spelling, cache_dir=cache_dir, endpoint=hubgate.url)
    assert request("GET", f"{hubgate.url}/api/models/{spelling}").status == 403
    assert not [p for p in cache_dir.rglob("*") if p.is_file() and "blobs" in p.parts]
    assert evil_hub.log.count(path="*/resolve/*") == 0  # not one file of it was fetched
    assert evil_hub.log.count(host=Host.CDN) == 0


def test_an_allow_list_admits_a_legacy_alias_of_an_allowed_repo(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path, cache_dir: Path
) -> None:
    fake_hub.add(FakeRepo("other-org/y", [FakeFile.text("config.json", "{}")]))
    fake_hub.add_alias("model", "legacy-y", "other-org/y")
    hubgate = make_hubgate(policy=_policy(tmp_path, '[repos]\nallow = ["Acme/*"]\n'))
    hf_hub_download(LEGACY_ALIAS_ID, "config.json", cache_dir=cache_dir, endpoint=hubgate.url)
    for spelling in ("other-org/y", "legacy-y"):
        with pytest.raises(GatedRepoError, match="allow list"):
            hf_hub_download(spelling, "config.json", cache_dir=cache_dir, endpoint=hubgate.url)


def test_a_signature_rule_applies_to_a_case_variant(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path, cache_dir: Path
) -> None:
    fake_hub.add(
        FakeRepo(
            "google/gemma-tiny",
            [FakeFile.text("config.json", "{}"), FakeFile.text("tokenizer/vocab.txt", "a\nb\n")],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    key = tmp_path / "google.pub"
    key.write_bytes(public_pem(new_key()))
    policy = f'[[signatures]]\nrepos = ["google/*"]\nmode = "required"\npublic_keys = ["{key}"]\n'
    hubgate = make_hubgate(policy=_policy(tmp_path, policy))
    for spelling in ("GOOGLE/gemma-tiny", "Google/Gemma-Tiny"):
        with pytest.raises(GatedRepoError, match="signature"):
            hf_hub_download(spelling, "config.json", cache_dir=cache_dir, endpoint=hubgate.url)


def test_approved_revision_pinning_holds_for_every_spelling(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path, cache_dir: Path, marker: Path
) -> None:
    repo = fake_hub.add(
        FakeRepo(
            "acme/pinned-model",
            [FakeFile.text("config.json", json.dumps({"version": 1}))],
            settings=RepoSettings(card_data={"license": "apache-2.0"}),
        )
    )
    hubgate = make_hubgate(
        policy=_policy(tmp_path, '[pinning]\napproved_only = ["ACME/Pinned-*"]\n'), upstream={"ref_ttl_s": 0}
    )
    approved = repo.head.sha
    snapshot_download("ACME/PINNED-MODEL", cache_dir=cache_dir, endpoint=hubgate.url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = request("GET", f"{hubgate.url}/api/models/acme/pinned-model/revision/main")
        if answer.status == 200 and json.loads(answer.body)["sha"] == approved:
            break
        time.sleep(0.2)
    evil = repo.push([FakeFile.from_bytes("pytorch_model.bin", torch_zip(marker_pickle(marker)))]).sha
    for spelling in ("acme/pinned-model", "Acme/Pinned-Model", "ACME/PINNED-MODEL"):
        answer = request("GET", f"{hubgate.url}/api/models/{spelling}/revision/main")
        assert answer.status == 200
        assert json.loads(answer.body)["sha"] == approved, spelling
        assert evil[:12] in (answer.header("X-HF-Warning") or "")


# -- rate limits ------------------------------------------------------------------------------------------


def test_a_hundred_clients_resolving_main_cost_one_upstream_call(
    hubgate: RunningHubgate, fake_hub: FakeHub
) -> None:
    async def burst() -> list[int]:
        async with aiohttp.ClientSession() as session:

            async def one() -> int:
                async with session.get(f"{hubgate.url}/api/models/{MODEL_ID}/revision/main") as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*(one() for _ in range(100)))

    assert asyncio.run(burst()) == [200] * 100
    assert fake_hub.log.count(path=f"/api/models/{MODEL_ID}/revision/main", host=Host.HUB) == 1
    commit = fake_hub.repo(MODEL_ID).head.sha
    assert fake_hub.log.count(path=f"/api/models/{MODEL_ID}/revision/{commit}", host=Host.HUB) == 1


def _burst(url: str, paths: list[str]) -> list[tuple[int, str | None]]:
    async def run() -> list[tuple[int, str | None]]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:

            async def one(path: str) -> tuple[int, str | None]:
                async with session.get(url + path) as response:
                    await response.read()
                    return response.status, response.headers.get("Retry-After")

            return await asyncio.gather(*(one(path) for path in paths))

    return asyncio.run(run())


def test_two_hundred_cold_clients_under_a_rate_limit_get_data_or_429_and_recover(
    make_hubgate: HubgateFactory, fake_hub: FakeHub
) -> None:
    window_s = 15.0
    hubgate = make_hubgate(server={"fetch_wait_s": 30.0}, upstream={"ref_ttl_s": 0})
    # Something stored before the limit bites: it stays available throughout.
    warm = f"/{MANY_FILES_ID}/resolve/main/data/part-00/row-00000.txt"
    revision = f"{hubgate.url}/api/models/{MANY_FILES_ID}/revision/main"
    assert request("GET", hubgate.url + warm).status == 200
    assert request("GET", revision).status == 200
    fake_hub.rate_limiter.configure(RateLimits(api=20, resolvers=20, window_s=window_s))
    before = fake_hub.log.count(host=Host.HUB)

    paths = [f"/{MANY_FILES_ID}/resolve/main/data/part-{i // 100:02d}/row-{i:05d}.txt" for i in range(1, 201)]
    answers = _burst(hubgate.url, paths)
    statuses = [status for status, _ in answers]
    assert not [status for status in statuses if status >= 500]
    assert set(statuses) <= {200, 429}
    assert 429 in statuses
    assert all(
        retry is not None and 1 <= int(retry) <= window_s + 1 for status, retry in answers if status == 429
    )
    # hubgate stopped asking once told to wait: at most the two budgets, plus the requests already in
    # flight (its connector allows 32 per host) when the first 429 of each bucket came back.
    spent = fake_hub.log.count(host=Host.HUB) - before
    assert spent <= 20 + 20 + 2 * 32, spent

    # While upstream limits the API: the branch resolves to its last known commit with a warning, and the
    # stored file is served, asking upstream nothing. (Whether the burst spent the API budget depends on
    # how its metadata lookups coalesced, and a loaded machine may outlast a window: the revision is
    # asked until upstream's budget is spent, at most one request more than the budget.)
    for _ in range(20 + 1):
        info = request("GET", revision)
        assert info.status == 200
        if "rate-limiting" in (info.header("X-HF-Warning") or ""):
            break
    else:
        pytest.fail("hubgate never answered from the last known commit while upstream limited the API")
    limited = fake_hub.log.count(host=Host.HUB)
    assert request("GET", hubgate.url + warm).status == 200
    assert "rate-limiting" in (request("GET", revision).header("X-HF-Warning") or "")
    assert fake_hub.log.count(host=Host.HUB) == limited
    metrics = request("GET", f"{hubgate.url}/metrics").body.decode()
    assert "hubgate_upstream_rate_limited_total" in metrics

    # The window opens: the clients that were told to wait get their files, retrying as told.
    waiting = [path for path, (status, _) in zip(paths, answers, strict=True) if status == 429][:8]
    deadline = time.monotonic() + 3 * window_s
    while True:
        retried = _burst(hubgate.url, waiting)
        if all(status == 200 for status, _ in retried):
            break
        assert {status for status, _ in retried} <= {200, 429}, retried
        assert time.monotonic() < deadline, retried
        time.sleep(max(int(retry) for status, retry in retried if status == 429 and retry) + 0.2)


def test_a_client_told_to_wait_by_hubgate_retries_and_succeeds(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, cache_dir: Path
) -> None:
    hubgate = make_hubgate(server={"fetch_wait_s": 30.0})
    fake_hub.rate_limiter.configure(RateLimits(api=5, resolvers=100, window_s=3.0))
    for repo_id in (GATED_MODEL_ID, PRIVATE_MODEL_ID, MANY_FILES_ID, "acme/base-model", "nobody/none"):
        request("GET", f"{hubgate.url}/api/models/{repo_id}")  # spends the window's API budget
    # The real client gets 429 + Retry-After from hubgate (never a 5xx) and, from 1.x on, waits and retries.
    if int(huggingface_hub.__version__.split(".")[0]) < 1:
        # 0.36 does not retry a 429: it reports it (wrapped in "cannot find the file in the local cache").
        with pytest.raises(HfHubHTTPError) as raised:
            hf_hub_download(MODEL_ID, "config.json", cache_dir=cache_dir, endpoint=hubgate.url)
        cause = raised.value.__cause__ if raised.value.response is None else raised.value
        assert isinstance(cause, HfHubHTTPError)
        assert cause.response is not None
        assert cause.response.status_code == 429
        assert not list(cache_dir.rglob("config.json"))
        return
    local = hf_hub_download(MODEL_ID, "config.json", cache_dir=cache_dir, endpoint=hubgate.url)
    assert Path(local).read_bytes() == _content(fake_hub, MODEL_ID, "config.json")


# -- redirects, cookies, credentials ----------------------------------------------------------------------


@pytest.fixture
def bystander() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback service that records every connection made to it (it must see none)."""
    seen: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    seen.append(connection.recv(4096))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.mark.parametrize("target", ["loopback", "metadata"])
def test_a_redirect_to_an_internal_address_is_refused_before_any_request(
    hubgate: RunningHubgate, fake_hub: FakeHub, bystander: tuple[int, list[bytes]], target: str
) -> None:
    port, seen = bystander
    location = (
        f"http://127.0.0.1:{port}/steal"
        if target == "loopback"
        else "http://169.254.169.254/latest/meta-data/"
    )
    fake_hub.faults.add(Fault(Redirect(location), match="/acme/tiny-model/resolve/*", host=Host.HUB))
    answer = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors")
    assert answer.status == 502
    assert answer.header("X-Error-Code") == "UpstreamRedirectRefused"
    assert seen == []


def test_a_metadata_redirect_to_another_host_is_refused(
    hubgate: RunningHubgate, fake_hub: FakeHub, upstream: FakeHubServer
) -> None:
    fake_hub.faults.add(
        Fault(Redirect(f"{upstream.cdn_url}/api/models/{MODEL_ID}"), match="/api/models/acme/tiny-model*")
    )
    answer = request("GET", f"{hubgate.url}/api/models/{MODEL_ID}/revision/main")
    assert answer.status == 502
    assert answer.header("X-Error-Code") == "UpstreamRedirectRefused"
    assert fake_hub.log.count(host=Host.CDN) == 0


def test_no_cookie_reaches_upstream_and_no_user_inherits_anothers_session(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, upstream: FakeHubServer, cache_dir: Path
) -> None:
    # Upstream by a host name, so that an ordinary cookie jar would keep the Hub's session cookie.
    by_name = upstream.url.replace("127.0.0.1", "localhost")
    hubgate = make_hubgate(upstream={"endpoint": by_name})
    hf_hub_download(
        PRIVATE_MODEL_ID, "config.json", cache_dir=cache_dir, endpoint=hubgate.url, token=ALICE_TOKEN
    )
    with pytest.raises(HfHubHTTPError):
        hf_hub_download(PRIVATE_MODEL_ID, "README.md", cache_dir=cache_dir, endpoint=hubgate.url, token=False)
    assert not [r for r in fake_hub.log.records if "cookie" in {k.lower() for k, _ in r.headers}]


def test_the_users_token_never_reaches_the_cdn(
    hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path
) -> None:
    hf_hub_download(GATED_MODEL_ID, "model.safetensors", cache_dir=cache_dir, endpoint=hubgate.url,
                    token=ALICE_TOKEN)  # fmt: skip
    cdn = fake_hub.log.find(host=Host.CDN)
    assert cdn
    assert not [r for r in cdn if "authorization" in {k.lower() for k, _ in r.headers}]


# -- transformers -------------------------------------------------------------------------------------------

_EMBED_WITH_TRANSFORMERS = """
import json, sys
import torch
from transformers import AutoModel, AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModel.from_pretrained(sys.argv[1])
with torch.no_grad():
    output = model(**tokenizer(["hubgate verifies every byte"], return_tensors="pt"))
print(json.dumps(output.last_hidden_state[0, 0, :8].tolist()))
"""


@pytest.mark.model
def test_transformers_loads_a_real_model_through_an_alias_and_a_case_variant(
    hubgate: RunningHubgate, fake_hub: FakeHub, minilm_repo: tuple[str, Path], tmp_path: Path
) -> None:
    repo_id, folder = minilm_repo
    fake_hub.add_alias("model", "all-MiniLM-L6-v2", repo_id)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING"))}
    env.update({"HF_ENDPOINT": hubgate.url, "HF_HUB_DISABLE_TELEMETRY": "1"})

    def embed(name: str, home: Path, *, offline: bool = False) -> list[float]:
        run_env = {**env, "HF_HOME": str(home), **({"HF_HUB_OFFLINE": "1"} if offline else {})}
        result = subprocess.run(
            [sys.executable, "-c", _EMBED_WITH_TRANSFORMERS, name],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        values: list[float] = json.loads(result.stdout.strip().splitlines()[-1])
        return values

    expected = embed(str(folder), tmp_path / "local", offline=True)
    for spelling in ("all-MiniLM-L6-v2", repo_id.upper()):
        assert embed(spelling, tmp_path / spelling.replace("/", "_")) == pytest.approx(expected, abs=1e-6)
    assert fake_hub.log.count(path="*xet-read-token*") == 0


def test_tree_pagination_and_private_repos_through_an_alias_and_a_case_variant(
    hubgate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path
) -> None:
    fake_hub.add_alias("model", "many-legacy", MANY_FILES_ID)
    api = HfApi(endpoint=hubgate.url)
    expected = set(fake_hub.repo(MANY_FILES_ID).head.files)
    for spelling in ("many-legacy", MANY_FILES_ID.upper()):
        listed = {
            entry.path for entry in api.list_repo_tree(spelling, recursive=True) if entry.path in expected
        }
        assert listed == expected  # every page, followed through hubgate's own Link
    variant = PRIVATE_MODEL_ID.swapcase()
    assert api.model_info(variant, token=ALICE_TOKEN).id == PRIVATE_MODEL_ID
    local = hf_hub_download(
        variant, "config.json", cache_dir=cache_dir, endpoint=hubgate.url, token=ALICE_TOKEN
    )
    assert Path(local).read_bytes() == _content(fake_hub, PRIVATE_MODEL_ID, "config.json")
    with pytest.raises(HfHubHTTPError):
        api.model_info(variant, token=BOB_TOKEN)
