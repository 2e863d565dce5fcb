"""The fake Hub is as harsh as huggingface.co's edge: compression, aliases, rate limits, cookies, and the
Redirect and GzipBomb faults (issue #10, item 5).

Header-level checks use `http.client` (it sends no Accept-Encoding of its own, decodes no content coding
and follows no redirect) or aiohttp; behaviour-level checks drive the real `huggingface_hub` client
against the fake, which must cope with it as it copes with the Hub.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientSession, CookieJar
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from tests.fakehub import (
    FakeFile,
    FakeHub,
    FakeHubServer,
    FakeRepo,
    Fault,
    GzipBomb,
    RateLimiter,
    RateLimits,
    Redirect,
    Truncate,
    WrongDigest,
    fakehub_in_thread,
    serve_fakehub,
)
from tests.fakehub.compression import choose_coding
from tests.fakehub.fixtures import (
    ALICE_TOKEN,
    BOB_TOKEN,
    DATASET_ID,
    GATED_MODEL_ID,
    LEGACY_ALIAS_ID,
    MODEL_ID,
    OLD_MODEL_ID,
    PRIVATE_MODEL_ID,
    build_demo_hub,
)
from tests.fakehub.ratelimit import Identity

CLEARING = [
    "token=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=None",
    "token=; Domain=huggingface.co; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Lax",
]
LOCAL = Identity.of(user=None, ip="127.0.0.1")

# ---------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Raw:
    status: int
    headers: Message
    body: bytes  # as sent: chunked framing removed, content coding kept

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    def decoded(self) -> bytes:
        coding = self.header("Content-Encoding")
        if coding == "gzip":
            return zlib.decompress(self.body, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            return zlib.decompress(self.body)
        assert coding is None
        return self.body

    def json(self) -> object:
        return json.loads(self.decoded())


def raw(
    url: str,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Raw:
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        answer = connection.getresponse()
        return Raw(answer.status, answer.msg, answer.read())
    finally:
        connection.close()


@pytest.fixture
def hub() -> FakeHub:
    return build_demo_hub(xet_hints=False)


@pytest.fixture
def server(hub: FakeHub) -> Iterator[FakeHubServer]:
    with fakehub_in_thread(hub) as running:
        yield running


def content(hub: FakeHub, path: str, repo_id: str = MODEL_ID) -> bytes:
    blob = hub.repo(repo_id).head.files[path].blob
    return blob.read(0, blob.size)


def download(server: FakeHubServer, cache: Path, repo_id: str, path: str, token: str | bool = False) -> bytes:
    local = hf_hub_download(repo_id, path, cache_dir=cache, endpoint=server.url, token=token)
    return Path(local).read_bytes()


GZIP = {"Accept-Encoding": "gzip, deflate"}

# ------------------------------------------------------------------------------------------ compression


@pytest.mark.parametrize(
    "path",
    [
        f"/api/models/{MODEL_ID}",
        f"/api/models/{MODEL_ID}/revision/main",
        f"/api/models/{MODEL_ID}/tree/main?recursive=true",
        f"/api/models/{MODEL_ID}/refs",
        f"/api/models/{MODEL_ID}/auth-check",
        "/api/models/acme/does-not-exist",  # a JSON error body
    ],
)
def test_json_answers_are_gzipped_chunked_when_the_client_accepts_gzip(
    server: FakeHubServer, path: str
) -> None:
    answer = raw(server.url, path, headers=GZIP)

    assert answer.header("Content-Encoding") == "gzip"
    assert answer.header("Vary") == "Origin, Accept-Encoding"
    assert answer.header("Content-Length") is None
    assert answer.header("Transfer-Encoding") == "chunked"
    assert answer.header("Content-Type") == "application/json; charset=utf-8"
    assert answer.body[:2] == b"\x1f\x8b"
    assert answer.json()


def test_whoami_and_paths_info_are_gzipped_too(server: FakeHubServer) -> None:
    whoami = raw(server.url, "/api/whoami-v2", headers={**GZIP, "Authorization": f"Bearer {ALICE_TOKEN}"})
    paths = raw(
        server.url,
        f"/api/models/{MODEL_ID}/paths-info/main",
        method="POST",
        headers={**GZIP, "Content-Type": "application/x-www-form-urlencoded"},
        body=b"paths=config.json",
    )

    assert whoami.header("Content-Encoding") == "gzip"
    assert whoami.json()["name"] == "alice"  # type: ignore[index]
    assert paths.header("Content-Encoding") == "gzip"
    assert [entry["path"] for entry in paths.json()] == ["config.json"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        (None, None),  # no header: the CDN compresses only on request
        ("", None),
        ("identity", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip;q=0", None),
        ("gzip;q=0, identity", None),
        ("*", "gzip"),
        ("*;q=0", None),
        ("*, gzip;q=0", "deflate"),
        ("deflate", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("deflate;q=1, gzip;q=0.5", "deflate"),
        ("gzip;q=0.5, deflate;q=0.5", "gzip"),
        ("br", None),
        ("br, zstd", None),
        ("gzip;q=nonsense", None),
    ],
)
def test_accept_encoding_is_negotiated(
    server: FakeHubServer, accept_encoding: str | None, coding: str | None
) -> None:
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}

    answer = raw(server.url, f"/api/models/{MODEL_ID}", headers=headers)

    assert choose_coding(accept_encoding) == coding
    assert answer.header("Content-Encoding") == coding
    assert (answer.header("Content-Length") is None) == (coding is not None)
    assert answer.json()["id"] == MODEL_ID  # type: ignore[index]


def test_resolve_of_a_text_file_is_gzipped_with_a_weak_etag(hub: FakeHub, server: FakeHubServer) -> None:
    config = hub.repo(MODEL_ID).head.files["config.json"]
    path = f"/{MODEL_ID}/resolve/main/config.json"

    got = raw(server.url, path, headers=GZIP)
    head = raw(server.url, path, method="HEAD", headers=GZIP)
    identity = raw(server.url, path, headers={"Accept-Encoding": "identity"})

    # What huggingface_hub issue #3269 recorded from the Hub for a resolved .py file.
    assert got.status == 200
    assert got.header("Content-Encoding") == "gzip"
    assert got.header("ETag") == f'W/"{config.git_oid}"'
    assert got.header("Content-Length") is None
    assert got.header("Transfer-Encoding") == "chunked"
    assert got.header("Content-Type") == "text/plain; charset=utf-8"
    assert got.header("X-Repo-Commit") == hub.repo(MODEL_ID).head.sha
    assert got.decoded() == content(hub, "config.json")
    # HEAD: the client asks identity (PR #1449), but even a HEAD accepting gzip gets the real size.
    assert head.header("Content-Encoding") is None
    assert head.header("Content-Length") == str(config.size)
    assert head.header("ETag") == f'"{config.git_oid}"'
    assert identity.header("Content-Encoding") is None
    assert identity.body == content(hub, "config.json")


def test_range_requests_are_never_compressed(hub: FakeHub, server: FakeHubServer) -> None:
    answer = raw(server.url, f"/{MODEL_ID}/resolve/main/config.json", headers={**GZIP, "Range": "bytes=2-9"})

    assert answer.status == 206
    assert answer.header("Content-Encoding") is None
    assert answer.body == content(hub, "config.json")[2:10]


def test_weak_etag_revalidates(hub: FakeHub, server: FakeHubServer) -> None:
    oid = hub.repo(MODEL_ID).head.files["config.json"].git_oid
    path = f"/{MODEL_ID}/resolve/main/config.json"

    assert raw(server.url, path, headers={**GZIP, "If-None-Match": f'W/"{oid}"'}).status == 304
    assert raw(server.url, path, headers={**GZIP, "If-None-Match": f'"{oid}"'}).status == 304
    assert raw(server.url, path, headers={"If-None-Match": f'W/"{oid}"'}).status == 304


def test_binary_and_lfs_bodies_are_not_compressed(hub: FakeHub, server: FakeHubServer) -> None:
    hub.repo(MODEL_ID).push([FakeFile.from_bytes("blob.dat", bytes(range(256)) * 4, lfs=False)])
    redirect = raw(server.url, f"/{MODEL_ID}/resolve/main/model.safetensors", headers=GZIP)
    location = urlsplit(redirect.header("Location") or "")

    binary = raw(server.url, f"/{MODEL_ID}/resolve/main/blob.dat", headers=GZIP)
    lfs = raw(server.cdn_url, f"{location.path}?{location.query}", headers=GZIP)

    assert binary.header("Content-Encoding") is None
    assert binary.header("Content-Type") == "application/octet-stream"
    assert lfs.status == 200
    assert lfs.header("Content-Encoding") is None
    assert lfs.header("Content-Length") == str(hub.repo(MODEL_ID).head.files["model.safetensors"].size)
    assert lfs.body == content(hub, "model.safetensors")


def test_compression_can_be_turned_off(server: FakeHubServer, hub: FakeHub) -> None:
    hub.compress = False

    answer = raw(server.url, f"/api/models/{MODEL_ID}", headers=GZIP)
    resolve = raw(server.url, f"/{MODEL_ID}/resolve/main/config.json", headers=GZIP)

    assert answer.header("Content-Encoding") is None
    assert answer.header("Vary") is None
    assert answer.header("Content-Length") == str(len(answer.body))
    assert resolve.header("ETag") == f'"{hub.repo(MODEL_ID).head.files["config.json"].git_oid}"'
    assert FakeHub(compress=False).compress is False


def test_body_faults_act_on_the_compressed_stream(hub: FakeHub, server: FakeHubServer) -> None:
    path = f"/{MODEL_ID}/resolve/main/config.json"
    hub.faults.add(Fault(WrongDigest(), match=path, times=1))
    corrupted = raw(server.url, path, headers=GZIP).decoded()
    hub.faults.add(Fault(Truncate(after_bytes=20), match=path, times=1))

    expected = content(hub, "config.json")
    assert (len(corrupted), corrupted[1:]) == (len(expected), expected[1:])
    assert corrupted[0] != expected[0]
    with pytest.raises(http.client.IncompleteRead):
        raw(server.url, path, headers=GZIP)


def test_the_real_client_copes_with_compression(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    info = HfApi(endpoint=server.url, token=False).model_info(MODEL_ID)
    data = download(server, tmp_path, MODEL_ID, "config.json")

    assert info.sha == hub.repo(MODEL_ID).head.sha
    assert data == content(hub, "config.json")
    api_call, head, get = (
        hub.log.find(path=f"/api/models/{MODEL_ID}")[0],
        hub.log.find(method="HEAD", path="*/config.json")[0],
        hub.log.find(method="GET", path="*/config.json")[0],
    )
    # So both answers really went out gzipped, and the HEAD as identity.
    assert "gzip" in (api_call.header("Accept-Encoding") or "")
    assert "gzip" in (get.header("Accept-Encoding") or "")
    assert head.header("Accept-Encoding") == "identity"


# ------------------------------------------------------------------------------------- aliases and case


def test_alias_answers_a_relative_307_on_resolve_and_api(server: FakeHubServer) -> None:
    cases = {
        f"/{LEGACY_ALIAS_ID}/resolve/main/config.json?download=true": (
            f"/{MODEL_ID}/resolve/main/config.json?download=true"
        ),
        f"/{OLD_MODEL_ID}/resolve/refs%2Fpr%2F1/pr-notes.md": (
            f"/{MODEL_ID}/resolve/refs%2Fpr%2F1/pr-notes.md"
        ),
        f"/api/models/{LEGACY_ALIAS_ID}": f"/api/models/{MODEL_ID}",
        f"/api/models/{OLD_MODEL_ID}/tree/main?recursive=true&expand=false": (
            f"/api/models/{MODEL_ID}/tree/main?recursive=true&expand=false"
        ),
        f"/api/models/{LEGACY_ALIAS_ID.upper()}/revision/v1.0": f"/api/models/{MODEL_ID}/revision/v1.0",
        f"/{OLD_MODEL_ID}/resolve/main/no-such-file": f"/{MODEL_ID}/resolve/main/no-such-file",
    }
    for path, location in cases.items():
        for method in ("HEAD", "GET"):
            answer = raw(server.url, path, method=method)
            assert (answer.status, answer.header("Location")) == (307, location), (method, path)
            assert answer.header("X-Repo-Commit") is None
            assert answer.header("X-Error-Code") is None
        assert raw(server.url, path).body == f"Temporary Redirect. Redirecting to {location}".encode()


def test_case_variants_redirect_on_resolve_and_answer_on_api(hub: FakeHub, server: FakeHubServer) -> None:
    variant = "ACME/Tiny-Model"

    resolve = raw(server.url, f"/{variant}/resolve/main/config.json", method="HEAD")
    info = raw(server.url, f"/api/models/{variant}")
    dataset = raw(server.url, f"/datasets/{DATASET_ID.upper()}/resolve/main/README.md", method="HEAD")

    assert (resolve.status, resolve.header("Location")) == (307, f"/{MODEL_ID}/resolve/main/config.json")
    assert info.status == 200
    assert info.json()["id"] == MODEL_ID  # type: ignore[index]
    assert info.json()["sha"] == hub.repo(MODEL_ID).head.sha  # type: ignore[index]
    assert dataset.header("Location") == f"/datasets/{DATASET_ID}/resolve/main/README.md"


def test_the_real_client_downloads_through_aliases_and_case_variants(
    hub: FakeHub, server: FakeHubServer, tmp_path: Path
) -> None:
    for repo_id in (LEGACY_ALIAS_ID, OLD_MODEL_ID, "Acme/TINY-model"):
        assert download(server, tmp_path / repo_id, repo_id, "config.json") == content(hub, "config.json")
        weights = download(server, tmp_path / repo_id, repo_id, "model.safetensors")
        assert weights == content(hub, "model.safetensors")

    redirected = hub.log.find(method="HEAD", path=f"/{LEGACY_ALIAS_ID}/resolve/main/*")
    assert len(redirected) == 2
    assert hub.log.count(method="HEAD", path=f"/{MODEL_ID}/resolve/main/*") == 6


def test_the_real_client_reads_metadata_through_aliases(hub: FakeHub, server: FakeHubServer) -> None:
    api = HfApi(endpoint=server.url, token=False)

    assert api.model_info("ACME/TINY-MODEL").id == MODEL_ID
    assert api.model_info(LEGACY_ALIAS_ID).id == MODEL_ID
    assert api.model_info(OLD_MODEL_ID, revision="v1.0").sha == hub.repo(MODEL_ID).tags["v1.0"]
    # POST /paths-info answered 307: the body is sent again to the canonical URL.
    assert [i.path for i in api.get_paths_info(OLD_MODEL_ID, ["config.json", "missing"])] == ["config.json"]
    assert {f.path for f in api.list_repo_tree(LEGACY_ALIAS_ID)} >= {"config.json", "onnx"}
    HfApi(endpoint=server.url, token=ALICE_TOKEN).auth_check(GATED_MODEL_ID.upper())
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=server.url, token=BOB_TOKEN).auth_check(GATED_MODEL_ID.upper())


def test_rename_keeps_the_old_id_working(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    object_id = hub.repo(MODEL_ID).object_id
    hub.rename("model", MODEL_ID, "acme/renamed")
    hub.rename("model", "acme/renamed", "other-org/final-name")
    api = HfApi(endpoint=server.url, token=False)

    assert api.model_info(MODEL_ID).id == "other-org/final-name"
    assert raw(server.url, f"/api/models/{MODEL_ID}").header("Location") == "/api/models/other-org/final-name"
    # Every earlier alias points straight at the final name: one hop, never a chain.
    assert raw(server.url, f"/api/models/{LEGACY_ALIAS_ID}").header("Location") == (
        "/api/models/other-org/final-name"
    )
    assert (
        raw(server.url, "/api/models/acme/renamed").header("Location") == "/api/models/other-org/final-name"
    )
    assert api.model_info("other-org/final-name").id == "other-org/final-name"
    assert json.loads(raw(server.url, "/api/models/other-org/final-name").decoded())["_id"] == object_id
    assert download(server, tmp_path, MODEL_ID, "config.json") == content(
        hub, "config.json", "other-org/final-name"
    )
    assert hub.aliases()[MODEL_ID] == "other-org/final-name"
    with pytest.raises(KeyError):
        hub.repo(MODEL_ID)


def test_renaming_back_and_deleting(hub: FakeHub, server: FakeHubServer) -> None:
    hub.rename("model", MODEL_ID, "acme/elsewhere")
    hub.rename("model", "acme/elsewhere", MODEL_ID)

    assert raw(server.url, f"/api/models/{MODEL_ID}").status == 200
    assert raw(server.url, "/api/models/acme/elsewhere").header("Location") == f"/api/models/{MODEL_ID}"
    hub.remove("model", MODEL_ID)
    assert hub.aliases() == {}
    assert raw(server.url, f"/api/models/{LEGACY_ALIAS_ID}").status == 401


def test_alias_registration_refuses_collisions(hub: FakeHub) -> None:
    with pytest.raises(ValueError, match="collides"):
        hub.add_alias("model", "ACME/base-model", MODEL_ID)
    with pytest.raises(KeyError):
        hub.add_alias("model", "gpt2", "openai-community/gpt2")
    with pytest.raises(ValueError, match="Invalid repo id"):
        hub.add_alias("model", "a/b/c", MODEL_ID)
    with pytest.raises(ValueError, match="differs only in case"):
        hub.add(FakeRepo("ACME/tiny-model"))
    with pytest.raises(ValueError, match="exists"):
        hub.rename("model", MODEL_ID, "acme/Base-Model")
    # A new repo under an alias's id takes it over, as on the Hub.
    hub.add(FakeRepo(LEGACY_ALIAS_ID, [FakeFile.text("config.json", "{}")]))
    assert LEGACY_ALIAS_ID not in hub.aliases()
    assert hub.lookup("model", LEGACY_ALIAS_ID.upper()) is not None


def test_aliases_are_per_repo_type(hub: FakeHub, server: FakeHubServer) -> None:
    hub.add_alias("dataset", "tiny-data", DATASET_ID)

    assert raw(server.url, "/api/datasets/tiny-data").header("Location") == f"/api/datasets/{DATASET_ID}"
    assert raw(server.url, "/datasets/tiny-data/resolve/main/README.md", method="HEAD").header(
        "Location"
    ) == (f"/datasets/{DATASET_ID}/resolve/main/README.md")
    assert raw(server.url, "/api/models/tiny-data").status == 401


# ---------------------------------------------------------------------------------------------- rate limits


def ratelimit(answer: Raw) -> tuple[str | None, str | None]:
    return answer.header("RateLimit"), answer.header("RateLimit-Policy")


def test_every_answer_announces_the_hubs_default_limits(hub: FakeHub, server: FakeHubServer) -> None:
    first = raw(server.url, f"/api/models/{MODEL_ID}")
    second = raw(server.url, "/api/models/acme/missing")
    resolve = raw(server.url, f"/{MODEL_ID}/resolve/main/config.json", method="HEAD")
    alias = raw(server.url, f"/{LEGACY_ALIAS_ID}/resolve/main/config.json", method="HEAD")
    alice = raw(server.url, f"/api/models/{MODEL_ID}", headers={"Authorization": f"Bearer {ALICE_TOKEN}"})
    cdn = raw(
        server.cdn_url,
        urlsplit(
            raw(server.url, f"/{MODEL_ID}/resolve/main/model.safetensors").header("Location") or ""
        ).path,
    )

    assert ratelimit(first) == ('"api";r=499;t=300', '"fixed window";"api";q=500;w=300')
    assert ratelimit(second) == ('"api";r=498;t=300', '"fixed window";"api";q=500;w=300')
    assert ratelimit(resolve) == ('"resolvers";r=2999;t=300', '"fixed window";"resolvers";q=3000;w=300')
    assert ratelimit(alias)[0] == '"resolvers";r=2998;t=300'
    assert ratelimit(alice) == ('"api";r=999;t=300', '"fixed window";"api";q=1000;w=300')
    assert ratelimit(cdn) == (None, None)
    assert hub.rate_limiter.used(LOCAL, "api") == 2
    assert hub.rate_limiter.used(Identity.of(user="alice", ip=None), "api") == 1


def test_past_the_limit_the_hub_answers_429_per_identity(hub: FakeHub, server: FakeHubServer) -> None:
    hub.rate_limiter.configure(RateLimits(api=2, authenticated_api=3))
    alice = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    path = f"/api/models/{MODEL_ID}"

    anonymous = [raw(server.url, path, headers=GZIP).status for _ in range(3)]
    refused = raw(server.url, path, headers={"Accept-Encoding": "identity"})
    as_alice = [raw(server.url, path, headers=alice).status for _ in range(4)]
    as_bob = raw(server.url, path, headers={"Authorization": f"Bearer {BOB_TOKEN}"})
    resolve = raw(server.url, f"/{MODEL_ID}/resolve/main/config.json", method="HEAD")

    assert anonymous == [200, 200, 429]
    assert refused.status == 429
    assert refused.header("Retry-After") == "300"
    assert ratelimit(refused) == ('"api";r=0;t=300', '"fixed window";"api";q=2;w=300')
    message = refused.header("X-Error-Message") or ""
    assert message.startswith("We had to rate limit your IP (127.0.0.1).")
    assert refused.json() == {"error": message}
    assert as_alice == [200, 200, 200, 429]
    assert as_bob.status == 200  # each user has a window of its own
    assert resolve.status == 200  # and each bucket
    hub.rate_limiter.reset()
    assert raw(server.url, path).status == 200


def test_a_short_window_reopens_by_itself(hub: FakeHub, server: FakeHubServer) -> None:
    hub.rate_limiter.configure(RateLimits(resolvers=1, window_s=1))
    path = f"/{MODEL_ID}/resolve/main/config.json"

    statuses = [raw(server.url, path, method="HEAD").status for _ in range(2)]
    time.sleep(1.05)

    assert statuses == [200, 429]
    assert raw(server.url, path, method="HEAD").status == 200


def test_a_driven_clock_moves_the_window() -> None:
    now = [1000.0]
    limiter = RateLimiter(RateLimits(api=1, window_s=300), clock=lambda: now[0])
    first = limiter.spend(LOCAL, "api")
    now[0] += 299.2
    refused = limiter.spend(LOCAL, "api")
    now[0] += 1
    again = limiter.spend(LOCAL, "api")

    assert first is not None
    assert (first.allowed, first.reset_in_s) == (True, 300)
    assert refused is not None
    assert (refused.allowed, refused.remaining, refused.reset_in_s) == (False, 0, 1)
    assert again is not None
    assert again.allowed


def test_the_real_client_waits_out_a_429(hub: FakeHub, server: FakeHubServer, tmp_path: Path) -> None:
    # The HEAD spends the only request of the window, so the GET is refused with t=2; huggingface_hub
    # (>= 1.2) reads RateLimit, sleeps t + 1 seconds, and retries in a fresh window.
    hub.rate_limiter.configure(RateLimits(resolvers=1, window_s=2))
    started = time.monotonic()

    data = download(server, tmp_path, MODEL_ID, "config.json")

    assert data == content(hub, "config.json")
    assert time.monotonic() - started >= 2
    assert hub.log.count(method="GET", path="*/config.json") == 2


def test_the_real_client_reports_the_limit(hub: FakeHub, server: FakeHubServer) -> None:
    hub.rate_limiter.configure(RateLimits(api=0))

    with pytest.raises(HfHubHTTPError, match="'api' rate limit") as caught:
        HfApi(endpoint=server.url, token=False).model_info(MODEL_ID)
    assert caught.value.response.status_code == 429


def test_rate_limits_can_be_off(server: FakeHubServer, hub: FakeHub) -> None:
    hub.rate_limiter.configure(RateLimits.off())
    answer = raw(server.url, f"/api/models/{MODEL_ID}")

    assert ratelimit(answer) == (None, None)
    assert FakeHub(rate_limits=None).rate_limiter.enabled is False


def test_the_limiter_counts_exactly_across_threads() -> None:
    limiter = RateLimiter(RateLimits(api=1000))
    allowed: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = 0
        for _ in range(250):
            decision = limiter.spend(LOCAL, "api")
            assert decision is not None
            mine += decision.allowed
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(allowed) == 1000
    assert limiter.used(LOCAL, "api") == 1000


# ------------------------------------------------------------------------------------------------ cookies


def test_every_hub_answer_clears_the_token_cookie(server: FakeHubServer) -> None:
    for path, method in (
        (f"/api/models/{MODEL_ID}", "GET"),
        ("/api/models/acme/missing", "GET"),
        (f"/{MODEL_ID}/resolve/main/config.json", "HEAD"),
        (f"/{MODEL_ID}/resolve/main/model.safetensors", "HEAD"),
        (f"/{LEGACY_ALIAS_ID}/resolve/main/config.json", "HEAD"),
    ):
        assert raw(server.url, path, method=method).all("Set-Cookie") == CLEARING, path
    location = urlsplit(
        raw(server.url, f"/{MODEL_ID}/resolve/main/model.safetensors").header("Location") or ""
    )
    assert raw(server.cdn_url, f"{location.path}?{location.query}").all("Set-Cookie") == []


def test_a_bearer_answer_opens_a_session_the_cookie_then_carries(hub: FakeHub, server: FakeHubServer) -> None:
    authenticated = raw(server.url, "/api/whoami-v2", headers={"Authorization": f"Bearer {ALICE_TOKEN}"})
    session = next(c for c in authenticated.all("Set-Cookie") if c.startswith("hf_session="))
    cookie = session.split(";")[0]

    as_browser = raw(server.url, f"/api/models/{PRIVATE_MODEL_ID}", headers={"Cookie": cookie})
    whoami = raw(server.url, "/api/whoami-v2", headers={"Cookie": f"other=1; {cookie}"})
    stale = raw(server.url, f"/api/models/{PRIVATE_MODEL_ID}", headers={"Cookie": "hf_session=forged"})

    assert session == f"{cookie}; Path=/; HttpOnly; SameSite=Lax"
    assert as_browser.status == 200
    assert as_browser.all("Set-Cookie") == CLEARING  # a session answer opens no new session
    assert whoami.json()["name"] == "alice"  # type: ignore[index]
    assert stale.status == 401
    assert hub.rate_limiter.used(Identity.of(user="alice", ip=None), "api") == 3
    # Anonymous and refused answers open no session.
    assert (
        raw(server.url, "/api/whoami-v2", headers={"Authorization": "Bearer hf_unknown"}).all("Set-Cookie")
        == CLEARING
    )


async def test_a_shared_client_jar_turns_later_anonymous_requests_into_the_user() -> None:
    hub = build_demo_hub(xet_hints=False)
    alice = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    private = f"/api/models/{PRIVATE_MODEL_ID}"
    async with serve_fakehub(hub) as running:
        # unsafe=True: aiohttp's default jar refuses every cookie from an IP-address host like 127.0.0.1.
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as shared:
            async with shared.get(f"{running.url}/api/whoami-v2", headers=alice) as answer:
                assert answer.status == 200
            async with shared.get(running.url + private) as answer:
                leaked = answer.status
        async with ClientSession() as default_jar:
            async with default_jar.get(f"{running.url}/api/whoami-v2", headers=alice) as answer:
                assert answer.status == 200
            async with default_jar.get(running.url + private) as answer:
                kept_apart = answer.status

    assert leaked == 200
    assert kept_apart == 401
    cookies = [r.header("Cookie") for r in hub.log.find(path=private)]
    assert cookies[0] is not None
    assert cookies[0].startswith("hf_session=")
    assert cookies[1] is None


# ------------------------------------------------------------------------------------------ new faults


@pytest.mark.parametrize(
    ("location", "status"),
    [("http://169.254.169.254/latest/meta-data/", 302), ("http://127.0.0.1:1/elsewhere", 307), ("/x", 301)],
)
def test_redirect_fault_points_anywhere(
    hub: FakeHub, server: FakeHubServer, location: str, status: int
) -> None:
    handle = hub.faults.add(
        Fault(Redirect(location, status=status), match=f"/api/models/{MODEL_ID}", times=1)
    )

    answer = raw(server.url, f"/api/models/{MODEL_ID}")

    assert (answer.status, answer.header("Location")) == (status, location)
    assert handle.hits == 1
    assert raw(server.url, f"/api/models/{MODEL_ID}").status == 200


def test_gzip_bomb_streams_a_huge_body_in_bounded_memory(hub: FakeHub, server: FakeHubServer) -> None:
    decoded_size, prefix = 256 << 20, b'{"id": "'
    hub.faults.add(Fault(GzipBomb(decoded_size, prefix=prefix), match=f"/api/models/{MODEL_ID}", times=1))
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    wire = decoded = 0
    head = b""

    tracemalloc.start()
    try:
        connection.request("GET", f"/api/models/{MODEL_ID}", headers={"Accept-Encoding": "identity"})
        answer = connection.getresponse()
        while chunk := answer.read(64 * 1024):
            wire += len(chunk)
            while chunk:
                out = decoder.decompress(chunk, 1 << 20)  # bounded, as a careful proxy would decode
                decoded += len(out)
                head = head or out[: len(prefix)]
                chunk = decoder.unconsumed_tail
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        connection.close()

    assert answer.status == 200
    assert answer.getheader("Content-Encoding") == "gzip"
    assert answer.getheader("Content-Type") == "application/json; charset=utf-8"
    assert decoder.eof
    assert decoded == decoded_size
    assert head == prefix
    assert wire < decoded_size // 500
    assert peak < 16 << 20  # the fake (same process) never held the decoded quarter GiB


def test_gzip_bomb_on_the_resolve_of_a_regular_file(hub: FakeHub, server: FakeHubServer) -> None:
    path = f"/{MODEL_ID}/resolve/main/config.json"
    hub.faults.add(Fault(GzipBomb(5_000_000), match=path, method="GET"))

    head = raw(server.url, path, method="HEAD")
    bomb = raw(server.url, path)

    assert head.status == 200
    assert head.header("Content-Encoding") is None
    assert bomb.header("Content-Encoding") == "gzip"
    assert len(bomb.body) < 20_000
    assert bomb.decoded() == b" " * 5_000_000


def test_a_gzip_decoding_client_decodes_the_whole_bomb(hub: FakeHub, server: FakeHubServer) -> None:
    # The real client has no bound: it decodes all of it (a small bomb here), then fails on the JSON.
    # Only a proxy in between can refuse it early.
    hub.faults.add(Fault(GzipBomb(2_000_000, prefix=b'{"id": '), match=f"/api/models/{MODEL_ID}"))

    with pytest.raises(ValueError, match="Expecting value"):
        HfApi(endpoint=server.url, token=False).model_info(MODEL_ID)
    assert hub.log.count(path=f"/api/models/{MODEL_ID}") == 1
