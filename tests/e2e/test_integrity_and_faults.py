"""Every injected upstream fault ends with nothing stored and a coded error; stored files survive outages."""

from __future__ import annotations

import hashlib
import http.client
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download

from mirror.blobs.live import HOLDBACK_BYTES
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import (
    Disconnect,
    FakeFile,
    FakeHub,
    FakeRepo,
    Fault,
    Host,
    RepoSettings,
    Respond,
    Slow,
    Truncate,
    WrongDigest,
)
from tests.fakehub.faults import Effect
from tests.fakehub.fixtures import BIG_FILE_PATH, BIG_FILE_SIZE, BIG_MODEL_ID, MODEL_ID, big_model_repo


def _assert_nothing_stored(hubgate: RunningHubgate) -> None:
    # A client is cut as soon as the fetch fails; its upload is aborted in the background.
    hubgate.run(hubgate.components.pipeline.drain())
    assert hubgate.stored_objects() == []
    assert hubgate.unfinished_uploads() == []
    spool = hubgate.settings.spool_path
    assert not spool.exists() or list(spool.iterdir()) == []


@pytest.mark.parametrize(
    ("effect", "host", "path", "status", "code"),
    [
        (WrongDigest(), Host.CDN, "*", 502, "IntegrityError"),
        (Truncate(after_bytes=100), Host.CDN, "*", 502, "UpstreamProtocolError"),
        (Respond(status=500), Host.CDN, "*", 503, "UpstreamUnavailable"),
        (Disconnect(), Host.CDN, "*", 503, "UpstreamUnavailable"),
        (Respond(status=502), Host.HUB, "*/resolve/*", 503, "UpstreamUnavailable"),
        (WrongDigest(), Host.HUB, "*/resolve/*/config.json", 502, "IntegrityError"),
        (Truncate(after_bytes=5), Host.HUB, "*/resolve/*/config.json", 502, "UpstreamProtocolError"),
    ],
)
def test_faults_store_nothing_and_answer_a_coded_error(
    hubgate: RunningHubgate, fake_hub: FakeHub, effect: Effect, host: Host, path: str, status: int, code: str
) -> None:
    filename = "config.json" if "config" in path or host is Host.HUB else "model.safetensors"
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/{filename}"
    fault = fake_hub.faults.add(Fault(effect, match=path, host=host, method="GET"))
    answer = request("GET", url)
    assert fault.hits >= 1
    assert answer.status == status
    assert answer.header("X-Error-Code") == code
    assert answer.header("X-Repo-Commit") == fake_hub.repo(MODEL_ID).head.sha
    _assert_nothing_stored(hubgate)
    # Once upstream behaves, the same request succeeds: nothing was poisoned.
    fake_hub.faults.remove(fault)
    healthy = request("GET", url)
    assert healthy.status == 200
    expected = fake_hub.repo(MODEL_ID).head.files[filename]
    assert healthy.body == expected.blob.read(0, expected.size)


@pytest.mark.parametrize("corruption", [WrongDigest(at_end=True), WrongDigest(offset=BIG_FILE_SIZE // 2)])
def test_a_large_file_that_fails_its_digest_leaves_nothing_in_the_store(
    hubgate: RunningHubgate, fake_hub: FakeHub, corruption: WrongDigest
) -> None:
    """A file large enough that the object store takes it while it downloads (S3: its parts go up as they
    arrive): once its digest fails, nothing of it is stored, not even an unfinished upload."""
    big = fake_hub.add(big_model_repo())
    weights = big.head.files[BIG_FILE_PATH]
    url = f"{hubgate.url}/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}"
    fault = fake_hub.faults.add(Fault(corruption, match="*", host=Host.CDN, method="GET"))

    with pytest.raises(http.client.IncompleteRead) as cut:  # it streamed (its header passed), then was cut
        request("GET", url)
    assert len(cut.value.partial) <= weights.size - HOLDBACK_BYTES
    assert fault.hits == 1
    _assert_nothing_stored(hubgate)
    fake_hub.faults.remove(fault)
    assert request("GET", url).body == weights.blob.read(0, weights.size)
    assert hubgate.stored_objects() == [weights.blob.sha256]
    assert hubgate.unfinished_uploads() == []


def test_a_stalled_upstream_times_out_with_504(make_hubgate: HubgateFactory, fake_hub: FakeHub) -> None:
    hubgate = make_hubgate(upstream={"read_timeout_s": 0.5}, server={"fetch_wait_s": 30})
    fake_hub.faults.add(Fault(Slow(delay_seconds=3), host=Host.CDN, times=1))
    answer = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors")
    assert answer.status == 504
    assert answer.header("X-Error-Code") == "UpstreamTimeout"
    _assert_nothing_stored(hubgate)


def test_a_slow_cold_fetch_answers_429_then_serves(make_hubgate: HubgateFactory, fake_hub: FakeHub) -> None:
    hubgate = make_hubgate(server={"fetch_wait_s": 0.2})
    fake_hub.faults.add(Fault(Slow(delay_seconds=1.0), host=Host.CDN, times=1))
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
    waiting = request("GET", url)
    assert waiting.status == 429
    assert waiting.header("X-Error-Code") == "ScanPending"
    assert int(waiting.header("Retry-After") or "0") >= 1
    # The download went on without the client; the retry is served (eventually from the store).
    for _ in range(50):
        answer = request("GET", url)
        if answer.status == 200:
            break
    assert answer.status == 200
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 1


def test_offline_upstream_serves_what_is_stored(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    hubgate = make_hubgate(upstream={"ref_ttl_s": 0})
    api = HfApi(endpoint=hubgate.url)
    info_before = api.model_info(MODEL_ID)
    kept = hf_hub_download(MODEL_ID, "config.json", cache_dir=tmp_path / "warm", endpoint=hubgate.url)
    fake_hub.faults.go_offline()

    answer = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/config.json")
    assert answer.status == 200
    assert answer.body == Path(kept).read_bytes()
    assert "hubgate" in (answer.header("X-HF-Warning") or "")
    assert api.model_info(MODEL_ID).sha == info_before.sha
    again = hf_hub_download(MODEL_ID, "config.json", cache_dir=tmp_path / "cold", endpoint=hubgate.url)
    assert Path(again).read_bytes() == Path(kept).read_bytes()

    missing = request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors")
    assert missing.status in (503, 504)
    assert missing.header("X-Error-Code") in ("UpstreamUnavailable", "UpstreamTimeout")
    never_seen = request("GET", f"{hubgate.url}/api/models/acme/never-seen")
    assert never_seen.status == 503
    assert never_seen.header("X-Error-Code") == "UpstreamUnavailable"

    fake_hub.faults.go_online()
    assert request("GET", f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors").status == 200


def test_refs_are_cached_for_their_ttl(make_hubgate: HubgateFactory, fake_hub: FakeHub) -> None:
    hubgate = make_hubgate(upstream={"ref_ttl_s": 3600})
    api = HfApi(endpoint=hubgate.url)
    before = api.model_info(MODEL_ID).sha
    fake_hub.repo(MODEL_ID).push([FakeFile.text("new.txt", "new\n")], message="Move main")
    assert api.model_info(MODEL_ID).sha == before

    fresh = make_hubgate(upstream={"ref_ttl_s": 0})
    assert HfApi(endpoint=fresh.url).model_info(MODEL_ID).sha == fake_hub.repo(MODEL_ID).head.sha != before


def test_twenty_clients_share_one_upstream_download(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    big = fake_hub.add(big_model_repo())
    weights = big.head.files[BIG_FILE_PATH]
    hubgate = make_hubgate(server={"fetch_wait_s": 120})
    # Slow enough that every client arrives while the one download is still running.
    fake_hub.faults.add(Fault(Slow(delay_seconds=0.5), host=Host.CDN, times=1))

    def fetch(index: int) -> str:
        path = hf_hub_download(
            BIG_MODEL_ID, BIG_FILE_PATH, cache_dir=tmp_path / f"c{index}", endpoint=hubgate.url
        )
        digest = hashlib.sha256()
        with Path(path).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    with ThreadPoolExecutor(max_workers=20) as pool:
        digests = list(pool.map(fetch, range(20)))
    assert digests == [weights.sha256] * 20
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 1
    assert fake_hub.log.count(method="GET", host=Host.HUB, path=f"*/resolve/*/{BIG_FILE_PATH}") == 1
    assert hubgate.stored_objects() == [weights.sha256]


def test_a_blob_shared_by_two_repos_is_fetched_and_stored_once(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    weights = fake_hub.repo(MODEL_ID).head.files["model.safetensors"]
    fake_hub.add(
        FakeRepo(
            "acme/tiny-model-copy",
            [weights, FakeFile.text("config.json", "{}")],
            settings=RepoSettings(card_data={"license": "mit"}),
        )
    )
    first = hf_hub_download(MODEL_ID, "model.safetensors", cache_dir=tmp_path / "a", endpoint=hubgate.url)
    second = hf_hub_download(
        "acme/tiny-model-copy", "model.safetensors", cache_dir=tmp_path / "b", endpoint=hubgate.url
    )
    assert Path(first).read_bytes() == Path(second).read_bytes()
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 1
    assert hubgate.stored_objects() == [weights.sha256]


def test_a_missing_object_is_fetched_again(hubgate: RunningHubgate, fake_hub: FakeHub) -> None:
    url = f"{hubgate.url}/{MODEL_ID}/resolve/main/model.safetensors"
    assert request("GET", url).status == 200
    hubgate.delete_objects()
    answer = request("GET", url)
    assert answer.status == 200
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 2


def test_bytes_fetched_as_lfs_then_as_a_git_file_are_stored_once_and_found_again(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    """An LFS file is hashed with sha256 alone (its git id is the pointer's). When the same bytes come
    again as a file kept in git, their git blob sha1 is checked then, recorded with the stored blob, and
    from then on that file is served from the store like any other."""
    data = b'{"vocab": ["a", "b", "c"]}\n' * 40
    _publish_as_lfs_and_as_git(
        fake_hub, "vocab.json", data, lfs_repo="acme/lfs-copy", git_repo="acme/git-copy"
    )
    hubgate = make_hubgate(tmp_path / "data")
    lfs = hf_hub_download("acme/lfs-copy", "vocab.json", cache_dir=tmp_path / "a", endpoint=hubgate.url)
    git = hf_hub_download("acme/git-copy", "vocab.json", cache_dir=tmp_path / "b", endpoint=hubgate.url)
    assert Path(lfs).read_bytes() == Path(git).read_bytes() == data
    assert hubgate.stored_objects() == [hashlib.sha256(data).hexdigest()]
    fetched = fake_hub.log.count(method="GET", path="*/resolve/*/vocab.json")
    # A new client of the git-kept file is served from the store, also by a replica that has no memory
    # of the fetch (it finds the blob by the git id recorded with it): no new upstream download.
    replica = make_hubgate(tmp_path / "data")
    again = hf_hub_download("acme/git-copy", "vocab.json", cache_dir=tmp_path / "c", endpoint=replica.url)
    assert Path(again).read_bytes() == data
    assert fake_hub.log.count(method="GET", path="*/resolve/*/vocab.json") == fetched


def _publish_as_lfs_and_as_git(
    fake_hub: FakeHub, path: str, data: bytes, *, lfs_repo: str, git_repo: str
) -> None:
    """The same bytes as an LFS file in one repository and as a file kept in git in another."""
    for repo_id, lfs in ((lfs_repo, True), (git_repo, False)):
        files = [FakeFile.from_bytes(path, data, lfs=lfs)]
        fake_hub.add(FakeRepo(repo_id, files, settings=RepoSettings(card_data={"license": "mit"})))


def test_a_git_file_whose_bytes_do_not_match_its_git_id_is_refused_even_when_its_sha256_is_stored(
    hubgate: RunningHubgate, fake_hub: FakeHub
) -> None:
    """The stored blob of an LFS file carries no git sha1: a git-kept file is still checked by its own."""
    data = b"shared bytes\n" * 100
    _publish_as_lfs_and_as_git(
        fake_hub, "notes.txt", data, lfs_repo="acme/lfs-first", git_repo="acme/git-second"
    )
    assert request("GET", f"{hubgate.url}/acme/lfs-first/resolve/main/notes.txt").status == 200
    fake_hub.faults.add(Fault(WrongDigest(), match="*git-second/resolve/*", host=Host.HUB, method="GET"))
    answer = request("GET", f"{hubgate.url}/acme/git-second/resolve/main/notes.txt")
    assert answer.status == 502
    assert answer.header("X-Error-Code") == "IntegrityError"
