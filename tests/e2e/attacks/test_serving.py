"""Attacks on the serving path: every way a client could end up holding bytes the gate never approved.

Each test plays an attacker's repository (or upstream) on the fake Hub against the real hubgate, with
the real `huggingface_hub` client where a client is involved, and asserts the payload never completes
on the client's disk.
"""

from __future__ import annotations

import hashlib
import http.client
import pickle
import re
import threading
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.admin_api import call, make_token, ok
from tests.e2e.attacks.splicing import assert_resume_starts_over, assert_window_refused
from tests.e2e.conftest import HubgateFactory
from tests.e2e.cutting_proxy import cutting_proxy
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.tcp_proxy import round_robin_proxy
from tests.fakehub import FakeFile, FakeHub, FakeRepo, Fault, Host, RepoSettings, Slow, WrongDigest
from tests.fakehub.fixtures import ALICE_TOKEN, GATED_MODEL_ID, MODEL_ID, PRIVATE_MODEL_ID
from tests.fakehub.safetensors_format import single_tensor_prefix

SPLICE_REPO = "mallory/spliced-weights"
WEIGHTS = "model.safetensors"
# Big enough to stream while downloading: hubgate spools in 4 MiB blocks and hands a block out once it is
# on disk, so the tampered middle must lie blocks before the end. Small enough to be quick.
SIZE = 24 << 20
# The byte the attacker changes on the first answer: well inside the file, so it is handed out long
# before the download ends and the digest check can see it, and before 10 MiB (huggingface_hub writes
# and so resumes in 10 MiB steps).
TAMPERED_AT = 6 << 20
# Slow enough that the client reads along while hubgate downloads (about three seconds).
THROTTLE = Slow(bytes_per_second=8_000_000)


@pytest.fixture
def weights(fake_hub: FakeHub) -> FakeFile:
    file = FakeFile.generated(WEIGHTS, SIZE, seed=11, prefix=single_tensor_prefix(SIZE))
    fake_hub.add(FakeRepo(SPLICE_REPO, [file], settings=RepoSettings(card_data={"license": "mit"})))
    return file


@pytest.fixture
def gate(make_hubgate: HubgateFactory) -> RunningHubgate:
    return _warm(make_hubgate(server={"fetch_wait_s": 30}))


def _warm(gate: RunningHubgate) -> RunningHubgate:
    """Scan one file first: the scanner processes start, so header checks take milliseconds, not seconds."""
    assert request("GET", f"{gate.url}/{MODEL_ID}/resolve/main/model.safetensors").status == 200
    return gate


def _tamper_first_answer(fake_hub: FakeHub) -> None:
    """The CDN's next answer has one byte changed in the middle, and is slow; later answers are genuine."""
    fake_hub.faults.add(Fault(WrongDigest(offset=TAMPERED_AT), host=Host.CDN, times=1))
    fake_hub.faults.add(Fault(THROTTLE, host=Host.CDN, times=1))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _complete_files(cache_dir: Path) -> Iterator[Path]:
    """Every file of the client's cache that has the full size (whatever it is called)."""
    return (p for p in cache_dir.rglob("*") if p.is_file() and p.stat().st_size == SIZE)


def _cut_stream(url: str) -> bytes:
    """A whole-file GET that hubgate cuts: what a client holds in its partial file afterwards."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead) as cut:
            response.read()
        return cut.value.partial
    finally:
        connection.close()


def test_a_resumed_download_never_splices_a_tampered_first_attempt(
    gate: RunningHubgate, fake_hub: FakeHub, weights: FakeFile, cache_dir: Path
) -> None:
    # The first upstream answer is tampered in the middle: hubgate streams most of it, then its digest
    # check fails and the client is cut. The client resumes from its partial file with `Range: bytes=N-`,
    # and upstream's second answer is genuine. A proxy that served that resume from the new download
    # would leave the client a file of the right size, half tampered, that no one verified.
    _tamper_first_answer(fake_hub)
    with cutting_proxy(gate.url, cut_after_bytes=1 << 40) as (proxy_url, traffic):
        try:
            path: Path | None = Path(
                hf_hub_download(SPLICE_REPO, WEIGHTS, cache_dir=cache_dir, endpoint=proxy_url)
            )
        except OSError:
            path = None  # an error is an acceptable end; a spliced file is not
    sent = b"".join(traffic.requests)
    resumed = [int(n) for n in re.findall(rb"(?i)range: bytes=([0-9]+)-", sent)]
    assert any(n > TAMPERED_AT for n in resumed), "the client resumed after holding the tampered byte"
    assert fake_hub.log.count(method="GET", host=Host.CDN) >= 2, "upstream answered twice"
    if path is not None:
        assert _sha256(path) == weights.sha256
    for complete in _complete_files(cache_dir):
        assert _sha256(complete) == weights.sha256, f"{complete} is a spliced file"


def test_a_partial_file_kept_across_runs_is_never_completed_from_the_store(
    gate: RunningHubgate, fake_hub: FakeHub, weights: FakeFile
) -> None:
    # Clients that keep a partial file across runs (huggingface_hub up to 1.x keeps `<etag>.incomplete`,
    # `curl -C -`, `wget -c`) resume later, when someone else has meanwhile stored the genuine file.
    url = f"{gate.url}/{SPLICE_REPO}/resolve/main/{WEIGHTS}"
    _tamper_first_answer(fake_hub)
    partial = _cut_stream(url)
    genuine = weights.blob.read(0, SIZE)
    assert TAMPERED_AT < len(partial) < SIZE
    assert partial != genuine[: len(partial)], "the client holds the tampered byte"
    assert weights.sha256 not in gate.stored_objects()

    other_user = request("GET", url)
    assert other_user.status == 200
    assert hashlib.sha256(other_user.body).hexdigest() == weights.sha256

    assert_resume_starts_over(url, held=len(partial), genuine=genuine)


def _replicas(make_hubgate: HubgateFactory, tmp_path: Path) -> tuple[RunningHubgate, RunningHubgate]:
    """Two hubgates sharing one database and one store, like replicas behind one Service."""
    shared = tmp_path / "replicas"
    return _warm(make_hubgate(shared, server={"fetch_wait_s": 30})), make_hubgate(
        shared, server={"fetch_wait_s": 30}
    )


def test_a_resume_on_another_replica_never_completes_a_tampered_prefix(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, weights: FakeFile, tmp_path: Path
) -> None:
    # A load balancer without session affinity sends the client's resume to the other replica, which
    # never saw the failed download: it must still know which prefix went out unverified.
    first, second = _replicas(make_hubgate, tmp_path)
    _tamper_first_answer(fake_hub)
    partial = _cut_stream(f"{first.url}/{SPLICE_REPO}/resolve/main/{WEIGHTS}")
    genuine = weights.blob.read(0, SIZE)
    assert TAMPERED_AT < len(partial) < SIZE
    assert partial != genuine[: len(partial)], "the client holds the tampered byte"

    url = f"{second.url}/{SPLICE_REPO}/resolve/main/{WEIGHTS}"
    assert_resume_starts_over(url, held=len(partial), genuine=genuine)
    assert_window_refused(url, start=TAMPERED_AT)


def test_the_real_client_resuming_across_replicas_never_ends_with_a_spliced_file(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, weights: FakeFile, tmp_path: Path, cache_dir: Path
) -> None:
    first, second = _replicas(make_hubgate, tmp_path)
    ports = [urlsplit(replica.url).port or 0 for replica in (first, second)]
    _tamper_first_answer(fake_hub)
    with round_robin_proxy(ports) as spread:
        try:
            path: Path | None = Path(
                hf_hub_download(SPLICE_REPO, WEIGHTS, cache_dir=cache_dir, endpoint=spread.url)
            )
        except OSError:
            path = None  # an error is an acceptable end; a spliced file is not
    # Each connection went to the next replica: the client's first GET (after its HEAD, on the same
    # connection) to one, its resume, on a new connection after the cut, to the other.
    resumes = [
        (index, re.findall(rb"(?i)range: bytes=([0-9]+)-", bytes(sent))) for index, sent in spread.connections
    ]
    resumed_on = {index for index, starts in resumes if any(int(n) > TAMPERED_AT for n in starts)}
    cut_on = next(index for index, sent in spread.connections if b"GET " in sent)
    assert resumed_on - {cut_on}, "the client resumed on the replica that did not cut it"
    if path is not None:
        assert _sha256(path) == weights.sha256
    for complete in _complete_files(cache_dir):
        assert _sha256(complete) == weights.sha256, f"{complete} is a spliced file"


def test_windows_inside_an_unverified_prefix_are_refused(
    gate: RunningHubgate, fake_hub: FakeHub, weights: FakeFile
) -> None:
    url = f"{gate.url}/{SPLICE_REPO}/resolve/main/{WEIGHTS}"
    _tamper_first_answer(fake_hub)
    partial = _cut_stream(url)
    genuine = weights.blob.read(0, SIZE)
    assert request("GET", url).status == 200  # stored and approved now

    window = assert_window_refused(url, start=TAMPERED_AT)
    assert window.header("X-Repo-Commit") == fake_hub.repo(SPLICE_REPO).head.sha
    # What cannot complete a handed-out prefix is served as usual: from byte 0, and past the prefix.
    head = request("GET", url, headers={"Range": "bytes=0-99"})
    assert (head.status, head.body) == (206, genuine[:100])
    tail = request("GET", url, headers={"Range": f"bytes={SIZE - 10}-"})
    assert (tail.status, tail.body) == (206, genuine[-10:])
    assert len(partial) < SIZE - 10


def test_a_ranged_request_never_joins_a_live_download(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, weights: FakeFile
) -> None:
    # A HEAD, then ranged GETs (a resume, a window, `bytes=0-`) while another client streams the
    # file as it downloads: each waits for the verified, stored file (429 here), never joins the stream.
    # The first 4 MiB block is on disk after 4 s and its header check has the rest of the 10 s a GET
    # waits (a busy machine's scanner pool can take seconds to start); the whole download takes 24 s,
    # longer than the first bytes plus the ranged GETs' 10 s wait.
    gate = _warm(make_hubgate(server={"fetch_wait_s": 10}))
    url = f"{gate.url}/{SPLICE_REPO}/resolve/main/{WEIGHTS}"
    fake_hub.faults.add(Fault(Slow(bytes_per_second=1_000_000), host=Host.CDN, times=1))
    streamed: dict[str, bytes] = {}
    first_bytes = threading.Event()
    streaming = threading.Thread(target=lambda: streamed.update(body=_whole_body(url, first_bytes)))
    streaming.start()
    try:
        assert first_bytes.wait(30), "the whole-file GET streams while the file downloads"
        assert request("HEAD", url).status == 200
        ranges = ("bytes=0-", "bytes=1000-", "bytes=1000-1999")
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            answers = list(pool.map(lambda r: request("GET", url, headers={"Range": r}), ranges))
        for ranged, answer in zip(ranges, answers, strict=True):
            assert answer.status == 429, (ranged, answer.status)
            assert answer.header("X-Error-Code") == "ScanPending"
    finally:
        streaming.join(timeout=60)
    assert hashlib.sha256(streamed["body"]).hexdigest() == weights.sha256
    window = request("GET", url, headers={"Range": "bytes=1000-1999"})
    assert (window.status, window.body) == (206, weights.blob.read(1000, 1000))


def test_if_range_with_any_other_validator_gets_the_whole_file(
    gate: RunningHubgate, weights: FakeFile
) -> None:
    url = f"{gate.url}/{SPLICE_REPO}/resolve/main/{WEIGHTS}"
    genuine = weights.blob.read(0, SIZE)
    for validator in (f'W/"{weights.sha256}"', '"0000"', "Tue, 01 Jan 2030 00:00:00 GMT"):
        answer = request("GET", url, headers={"Range": "bytes=100-", "If-Range": validator})
        assert (answer.status, answer.body) == (200, genuine), validator
    same = request("GET", url, headers={"Range": "bytes=100-", "If-Range": f'"{weights.sha256}"'})
    assert (same.status, same.body) == (206, genuine[100:])


def _whole_body(url: str, first_bytes: threading.Event) -> bytes:
    """A whole-file GET; `first_bytes` is set once its first bytes arrived."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        assert response.status == 200
        first = response.read(1024)
        first_bytes.set()
        return first + response.read()
    finally:
        connection.close()


# --- Files never render on hubgate's origin -------------------------------------------------------------

ORIGIN_REPO = "mallory/page-on-your-origin"
HTML = "<!doctype html><script>fetch('/api/hubgate/v1/reviews').then(r => r.text()).then(alert)</script>"


@pytest.fixture
def page_repo(fake_hub: FakeHub) -> FakeRepo:
    files = [
        FakeFile.text("index.html", HTML),
        FakeFile.text("image.svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        FakeFile.text("config.json", "{}"),
    ]
    return fake_hub.add(FakeRepo(ORIGIN_REPO, files, settings=RepoSettings(card_data={"license": "mit"})))


@pytest.mark.parametrize("name", ["index.html", "image.svg"])
def test_a_served_file_is_an_attachment_a_browser_never_runs(
    hubgate: RunningHubgate, page_repo: FakeRepo, cache_dir: Path, name: str
) -> None:
    # A repository's HTML or SVG, opened in a browser from hubgate's address, would run with the review
    # page's origin (and an approver's session token in that tab's storage).
    url = f"{hubgate.url}/{ORIGIN_REPO}/resolve/main/{name}"
    for method in ("HEAD", "GET"):
        answer = request(method, url)
        assert answer.status == 200
        assert answer.header("Content-Type") == "application/octet-stream"
        assert answer.header("X-Content-Type-Options") == "nosniff"
        assert answer.header("Content-Security-Policy") == "default-src 'none'; sandbox"
        disposition = answer.header("Content-Disposition") or ""
        assert disposition.startswith("attachment;")
        # The client still reads the file name from it (file_download.HEADER_FILENAME_PATTERN).
        assert re.search(r'filename="(?P<filename>.*?)";', disposition)["filename"] == name  # type: ignore[index]
    path = hf_hub_download(ORIGIN_REPO, name, cache_dir=cache_dir, endpoint=hubgate.url)
    assert Path(path).read_bytes() == page_repo.head.files[name].blob.read(0, 1 << 20)


# --- Names that hide what they are ---------------------------------------------------------------------

BIDI_REPO = "mallory/trojan-names"
# Shown as-is, `setup_helper\u202eyp.txt` reads "setup_helpertxt.py": a text file that looks like code,
# or the reverse. The other names hide characters (zero-width, tag, bidi isolate, control characters).
HIDDEN_NAMES = {
    "U+202E": "setup_helper\u202eyp.txt",
    "U+2066": "weights\u2066.bin",
    "U+200B": "model\u200b.safetensors",
    "U+200F": "config\u200f.json",
    "U+061C": "vocab\u061c.txt",
    "U+E0041": "notes\U000e0041.md",
    "U+0085": "readme\u0085.md",
    "U+001B": "term\u001b[31m.txt",
}
CONTROLS = ("U+0085", "U+001B")


@pytest.fixture
def trojan_repo(fake_hub: FakeHub) -> FakeRepo:
    files = [FakeFile.text(name, f"{code}\n") for code, name in HIDDEN_NAMES.items()]
    files.append(FakeFile.text("plain.txt", "plain\n"))
    return fake_hub.add(FakeRepo(BIDI_REPO, files, settings=RepoSettings(card_data={"license": "mit"})))


@pytest.mark.parametrize("code", sorted(HIDDEN_NAMES))
def test_paths_with_invisible_or_reordering_characters_are_refused(
    hubgate: RunningHubgate, trojan_repo: FakeRepo, cache_dir: Path, code: str
) -> None:
    name = HIDDEN_NAMES[code]
    answer = request("GET", f"{hubgate.url}/{BIDI_REPO}/resolve/main/{quote(name)}")
    assert answer.status == 400
    assert answer.header("X-Error-Code") == "InvalidPath"
    assert code in (answer.header("X-Error-Message") or "")
    # huggingface_hub reports a refused HEAD as "cannot find the file", with hubgate's answer as cause.
    with pytest.raises((HfHubHTTPError, LocalEntryNotFoundError)) as refused:
        hf_hub_download(BIDI_REPO, name, cache_dir=cache_dir, endpoint=hubgate.url)
    assert code in f"{refused.value} {refused.value.__cause__}"
    assert not [p for p in cache_dir.rglob("*") if p.is_file() and p.stat().st_size]
    assert hf_hub_download(BIDI_REPO, "plain.txt", cache_dir=cache_dir, endpoint=hubgate.url)


def test_the_review_api_marks_and_escapes_names_upstream_listed(
    hubgate: RunningHubgate, trojan_repo: FakeRepo
) -> None:
    # A prefetch takes every file upstream lists, names included: reviews show them escaped and marked.
    token = make_token(hubgate, "ops", "approver")
    # (The fake Hub cannot put a control character in its Content-Disposition: those two stay out.)
    listed = {code: name for code, name in HIDDEN_NAMES.items() if code not in CONTROLS}
    excluded = [name for code, name in HIDDEN_NAMES.items() if code in CONTROLS]
    job = ok(call(hubgate, "POST", "/prefetch", token, {"repo": BIDI_REPO, "exclude": excluded}))
    for _ in range(400):
        if ok(call(hubgate, "GET", f"/prefetch/{job['id']}", token))["state"] != "running":
            break
        time.sleep(0.05)
    reviews = ok(call(hubgate, "GET", f"/reviews?repo={BIDI_REPO}&state=APPROVED,QUARANTINED", token))
    by_path = {item["path"]: item for item in reviews["items"]}
    assert set(by_path) == {*listed.values(), "plain.txt"}
    for code, name in listed.items():
        review = by_path[name]
        assert review["path_hidden_characters"] == [code]
        assert f"<{code}>" in review["path_display"]
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in review["path_display"])
    assert by_path["plain.txt"]["path_hidden_characters"] == []
    assert by_path["plain.txt"]["path_display"] == "plain.txt"


# --- Anonymous callers and the service token ------------------------------------------------------------


def test_anonymous_callers_never_borrow_the_service_tokens_access(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, tmp_path: Path
) -> None:
    gate = make_hubgate(upstream={"token": ALICE_TOKEN})  # service_token_for_anonymous off: the default
    # Alice stores the gated and the private file; an anonymous caller then gets what the Hub would
    # give it, although hubgate holds both files and its service token may read them.
    for repo_id in (GATED_MODEL_ID, PRIVATE_MODEL_ID):
        hf_hub_download(
            repo_id, "config.json", cache_dir=tmp_path / "a", endpoint=gate.url, token=ALICE_TOKEN
        )
    with pytest.raises(GatedRepoError):
        hf_hub_download(GATED_MODEL_ID, "config.json", cache_dir=tmp_path / "anon", endpoint=gate.url)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(PRIVATE_MODEL_ID, "config.json", cache_dir=tmp_path / "anon", endpoint=gate.url)
    assert not [p for p in (tmp_path / "anon").rglob("*") if p.is_file() and p.stat().st_size]

    # Public repositories: upstream sees the service token (its rate limit), the log an anonymous caller.
    fake_hub.log.clear()
    hf_hub_download(MODEL_ID, "config.json", cache_dir=tmp_path / "anon", endpoint=gate.url)
    assert all(r.authorization == f"Bearer {ALICE_TOKEN}" for r in fake_hub.log.find(host=Host.HUB))
    gate.flush_downloads()
    token = make_token(gate, "sec", "viewer")
    sha = hashlib.sha256(fake_hub.repo(MODEL_ID).head.files["config.json"].blob.read(0, 1 << 20)).hexdigest()
    rows = ok(call(gate, "GET", f"/blobs/{sha}/downloads", token))["items"]
    assert [(row["identity"], row["client"].split(" ")[0]) for row in rows] == [
        ("anonymous", "[service-token]")
    ]


# --- Exhausting the scanner ----------------------------------------------------------------------------

SLOW_REPO = "mallory/slow-to-scan"


@pytest.fixture
def slow_repo(fake_hub: FakeHub) -> FakeRepo:
    # Legitimate training-state pickles; the first takes the scanner seconds (120k small dicts), long
    # enough for the others to be fetched and queued behind it while it runs.
    files = [
        FakeFile.from_bytes(f"state-{i}.pkl", pickle.dumps([{"step": n, "seed": i} for n in range(steps)]))
        for i, steps in enumerate((120_000, 500, 500))
    ]
    return fake_hub.add(FakeRepo(SLOW_REPO, files, settings=RepoSettings(card_data={"license": "mit"})))


def _wait_for_scan_queue(gate: RunningHubgate, *, running: int, waiting: int) -> None:
    seen: dict[str, float] = {}
    for _ in range(200):
        text = request("GET", f"{gate.url}/metrics").body.decode()
        seen = {
            family.name: family.samples[0].value
            for family in text_string_to_metric_families(text)
            if family.name in ("hubgate_scans_running", "hubgate_scans_waiting")
        }
        if seen == {"hubgate_scans_running": running, "hubgate_scans_waiting": waiting}:
            return
        time.sleep(0.05)
    pytest.fail(f"the scan queue never held {running} running and {waiting} waiting; last seen {seen}")


def test_a_full_scan_queue_answers_429_and_fetches_nothing(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, slow_repo: FakeRepo
) -> None:
    gate = make_hubgate(
        server={"fetch_wait_s": 0.2}, scanning={"workers": 1, "max_waiting": 1, "max_waiting_per_repo": 1}
    )
    url = f"{gate.url}/{SLOW_REPO}/resolve/main/state-{{}}.pkl"
    # One scans, one waits: the queue is full. Waited for on /metrics, not on a guess of the timing.
    assert request("GET", url.format(0)).status == 429
    _wait_for_scan_queue(gate, running=1, waiting=0)
    assert request("GET", url.format(1)).status == 429
    _wait_for_scan_queue(gate, running=1, waiting=1)
    refused = request("GET", url.format(2))
    assert refused.status == 429
    assert refused.header("X-Error-Code") == "ScanPending"
    assert "scanners are busy" in (refused.header("X-Error-Message") or "")
    assert int(refused.header("Retry-After") or "0") >= 1
    assert fake_hub.log.count(method="GET", path="*state-2.pkl") == 0, (
        "not fetched while it cannot be scanned"
    )
    # Asked again once the scanners have room, the file is fetched, scanned, decided and served.
    for index in (0, 1, 2):
        for _ in range(300):
            answer = request("GET", url.format(index))
            if answer.status != 429:
                break
            time.sleep(0.1)
        assert answer.status == 200, (index, answer.status, answer.header("X-Error-Message"))
        assert answer.body == slow_repo.head.files[f"state-{index}.pkl"].blob.read(0, 1 << 30)
