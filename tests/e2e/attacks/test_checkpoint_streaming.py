"""Attacks on PyTorch zip checkpoints streamed while they download (mirror/blobs/checkpoint_stream.py).

A checkpoint streams only if it starts as torch.save starts it and its first pickle passed the scanner;
each later pickle entry is scanned before a byte past it flows; the tail a loader needs (and any end
record that could open a prefix as a zip) waits for the verified, approved file; any failure cuts the
connection. Each test plays an attacker's repository (or upstream) on the fake Hub against the real
hubgate, and asserts what a client holds: never an unapproved complete file, never a loadable prefix,
never a byte past what was judged.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import GatedRepoError

from tests.e2e.attacks.splicing import assert_resume_starts_over, assert_window_refused
from tests.e2e.conftest import HubgateFactory
from tests.e2e.http import request
from tests.e2e.hubgate_server import RunningHubgate
from tests.e2e.payloads import marker_pickle, plain_state_pickle
from tests.fakehub import FakeFile, FakeHub, FakeRepo, Fault, Host, RepoSettings, Slow, WrongDigest
from tests.fakehub.fixtures import MODEL_ID
from tests.torch_zips import checkpoint, embedded_archive, noise

REPO = "mallory/checkpoint"
NAME = "pytorch_model.bin"
MIB = 1 << 20
HOLDBACK = MIB  # mirror.blobs.live.HOLDBACK_BYTES
RATE = 8_000_000  # bytes per second upstream: the client reads along while hubgate downloads
# Where the time to the first byte is judged: slow enough that hubgate's own start (metadata, the first
# 4 MiB spool block, the pickle's scan) is small beside the whole download, on a busy machine too.
SLOW_RATE = 4_000_000
TAMPERED_AT = 6 * MIB  # well inside the file, handed out long before the digest check can see it


def _publish(fake_hub: FakeHub, data: bytes, name: str = NAME) -> str:
    fake_hub.add(
        FakeRepo(REPO, [FakeFile.from_bytes(name, data)], settings=RepoSettings(card_data={"license": "mit"}))
    )
    return f"/{REPO}/resolve/main/{name}"


def _throttle(fake_hub: FakeHub, rate: int = RATE) -> None:
    fake_hub.faults.add(Fault(Slow(bytes_per_second=rate), host=Host.CDN, times=1))


@pytest.fixture
def gate(make_hubgate: HubgateFactory) -> RunningHubgate:
    return _warm(make_hubgate(server={"fetch_wait_s": 60}))


def _warm(gate: RunningHubgate) -> RunningHubgate:
    """Scan one file first: the scanner processes start, so pickle checks take milliseconds, not seconds."""
    assert request("GET", f"{gate.url}/{MODEL_ID}/resolve/main/model.safetensors").status == 200
    return gate


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _timed_get(url: str) -> tuple[float, float, int, bytes]:
    """A whole-file GET: seconds to the answer's headers, seconds to its end, its status and body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        started = time.monotonic()
        connection.request("GET", parts.path)
        response = connection.getresponse()
        answered = time.monotonic() - started
        body = response.read()
        return answered, time.monotonic() - started, response.status, body
    finally:
        connection.close()


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


def _complete_files(cache_dir: Path, size: int) -> Iterator[Path]:
    """Every file of the client's cache that has the full size (whatever it is called)."""
    return (p for p in cache_dir.rglob("*") if p.is_file() and p.stat().st_size == size)


def _torch_load(path: Path, *, weights_only: bool) -> subprocess.CompletedProcess[str]:
    """torch.load in a child process (the test process never loads what it downloaded)."""
    script = (
        "import sys, torch\n"
        f"state = torch.load(sys.argv[1], weights_only={weights_only})\n"
        "print(sorted((k, float(v.double().sum())) for k, v in state.items()))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300, check=False
    )


# --- what streams, and loads -------------------------------------------------------------------------


def _real_checkpoint() -> tuple[bytes, dict[str, float]]:
    """torch.save of a small state dict (32 MiB, well over what is held back), and its tensors' sums."""
    import torch  # noqa: PLC0415 - only the tests marked `model` need it

    generator = torch.Generator().manual_seed(14)
    state = {
        "embed.weight": torch.randn(2048, 4096, generator=generator),
        "head.bias": torch.arange(4096, dtype=torch.float32),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue(), {key: float(value.double().sum()) for key, value in state.items()}


@pytest.mark.model
def test_a_torch_checkpoint_streams_while_it_downloads_and_loads_after(
    gate: RunningHubgate, make_hubgate: HubgateFactory, fake_hub: FakeHub, cache_dir: Path
) -> None:
    data, sums = _real_checkpoint()
    url = gate.url + _publish(fake_hub, data)
    _throttle(fake_hub, SLOW_RATE)
    answered, total, status, body = _timed_get(url)
    assert status == 200
    assert _sha256(body) == _sha256(data)
    # Upstream needs 8 s for the file; a store-then-serve mirror would answer only after all of it.
    assert total > len(data) / SLOW_RATE * 0.9
    assert answered < total / 2, (answered, total)

    # The real client on a fresh hubgate, streamed again; then torch.load as transformers calls it.
    fresh = _warm(make_hubgate(server={"fetch_wait_s": 60}))
    _throttle(fake_hub)
    path = Path(hf_hub_download(REPO, NAME, cache_dir=cache_dir, endpoint=fresh.url))
    loaded = _torch_load(path, weights_only=True)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == str(sorted(sums.items()))


BERT = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "vocab_size": 30000,  # 7 MiB of embeddings: the checkpoint is big enough to stream
}


def _bert_checkpoint() -> tuple[bytes, float]:
    """A BertModel's state dict as transformers saves it without safetensors, and its parameters' sum."""
    import torch  # noqa: PLC0415 - only the tests marked `model` need it
    from transformers import BertConfig, BertModel  # noqa: PLC0415

    torch.manual_seed(14)
    model = BertModel(BertConfig.from_dict(BERT))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue(), float(sum(p.double().sum() for p in model.state_dict().values()))


@pytest.mark.model
def test_transformers_loads_a_checkpoint_that_streamed(
    gate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    # What transformers does with a repository that has only pytorch_model.bin: hubgate streams it (the
    # test above shows the first bytes arriving long before the download ends) and the model loads.
    data, total = _bert_checkpoint()
    files = [FakeFile.text("config.json", json.dumps(BERT)), FakeFile.from_bytes(NAME, data)]
    fake_hub.add(FakeRepo(REPO, files, settings=RepoSettings(card_data={"license": "mit"})))
    _throttle(fake_hub, SLOW_RATE)
    script = (
        "import sys\nfrom transformers import AutoModel\n"
        "model = AutoModel.from_pretrained(sys.argv[1])\n"
        "print(float(sum(p.double().sum() for p in model.state_dict().values())))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update({"HF_ENDPOINT": gate.url, "HF_HOME": str(tmp_path / "home")})
    started = time.monotonic()
    loaded = subprocess.run(
        [sys.executable, "-c", script, REPO],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert float(loaded.stdout.strip().splitlines()[-1]) == pytest.approx(total)
    assert time.monotonic() - started > len(data) / SLOW_RATE * 0.9  # it came through the slow upstream
    assert _sha256(data) in gate.stored_objects()


# --- what must not stream ----------------------------------------------------------------------------

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _legacy_checkpoint(size: int) -> bytes:
    """The legacy (non-zip) torch.save layout: five pickles (magic, protocol, system info, the object,
    the storage keys), then the raw storages. Its first bytes are a loadable pickle."""
    parts: tuple[object, ...] = (LEGACY_MAGIC, 1001, {"protocol_version": 1001}, {"step": 1}, [])
    head = b"".join(pickle.dumps(part, protocol=2) for part in parts)
    return head + noise(size - len(head), seed=3)


def _raw_pickle(size: int) -> bytes:
    return pickle.dumps({"weights": noise(size, seed=4)}, protocol=4)


def _polyglot(size: int) -> bytes:
    """A loadable pickle, then a whole checkpoint: zipfile-based loaders find the archive from its end,
    pickle loaders run the prefix."""
    head = pickle.dumps({"step": 1}, protocol=2)
    return head + checkpoint(plain_state_pickle(), [noise(size - len(head) - 4096, seed=5)]).build().data


@pytest.mark.parametrize(
    ("layout", "streams"),
    [
        ("torch zip", True),  # the control: the same download, streamed
        ("legacy torch", False),
        ("raw pickle", False),
        ("pickle, then a zip", False),
    ],
)
def test_only_a_file_that_starts_as_a_torch_zip_streams(
    gate: RunningHubgate, fake_hub: FakeHub, layout: str, *, streams: bool
) -> None:
    size = 28 * MIB
    data = {
        "torch zip": lambda: checkpoint(plain_state_pickle(), [noise(size, seed=6)]).build().data,
        "legacy torch": lambda: _legacy_checkpoint(size),
        "raw pickle": lambda: _raw_pickle(size),
        "pickle, then a zip": lambda: _polyglot(size),
    }[layout]()
    url = gate.url + _publish(fake_hub, data)
    _throttle(fake_hub, SLOW_RATE)
    answered, _, status, body = _timed_get(url)
    download_s = len(data) / SLOW_RATE  # upstream cannot deliver the file faster
    if streams:
        assert status == 200
        assert _sha256(body) == _sha256(data)
        assert answered < download_s / 2, (answered, download_s)
    else:
        # Whatever the verdict (a polyglot is quarantined), nothing was answered before it was reached.
        assert answered > download_s * 0.9, (answered, download_s, status)
        assert status in (200, 403)
        assert status == 403 or _sha256(body) == _sha256(data)


# --- pickles that fail ---------------------------------------------------------------------------------


def test_a_checkpoint_whose_first_pickle_fails_never_sends_a_byte(
    gate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path, marker: Path
) -> None:
    data = checkpoint(marker_pickle(marker), [noise(20 * MIB, seed=7)]).build().data
    url = gate.url + _publish(fake_hub, data)
    _throttle(fake_hub)
    answer = request("GET", url)
    assert answer.status == 403
    assert answer.header("X-Error-Code") == "GatedRepo"
    with pytest.raises(GatedRepoError):
        hf_hub_download(REPO, NAME, cache_dir=cache_dir, endpoint=gate.url)
    assert not list(_complete_files(cache_dir, len(data)))
    assert not marker.exists()


def test_a_pickle_entry_after_the_tensor_data_holds_back_every_byte_past_it(
    gate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path, marker: Path
) -> None:
    # data.pkl is clean and the storages stream; a second pickle entry, placed after 12 MiB of tensor
    # data, would run code if some loader unpickled it. Nothing from its header on may reach a client
    # before it was scanned, and once it fails, the client is cut.
    written = checkpoint(
        plain_state_pickle(),
        [noise(12 * MIB, seed=8)],
        after=[("archive/extra.pkl", marker_pickle(marker)), ("archive/data/1", noise(8 * MIB, seed=9))],
    ).build()
    url = gate.url + _publish(fake_hub, written.data)
    _throttle(fake_hub)
    partial = _cut_stream(url)
    unscanned = written.headers["archive/extra.pkl"]
    assert 0 < len(partial) <= unscanned
    assert partial == written.data[: len(partial)]
    with pytest.raises(GatedRepoError):  # the whole file's scan quarantines it too
        hf_hub_download(REPO, NAME, cache_dir=cache_dir, endpoint=gate.url)
    assert not list(_complete_files(cache_dir, len(written.data)))
    assert not marker.exists()


# --- verification failing mid-stream -------------------------------------------------------------------


def test_a_checkpoint_that_fails_verification_mid_stream_is_cut_and_never_completed(
    gate: RunningHubgate, fake_hub: FakeHub, cache_dir: Path
) -> None:
    genuine = checkpoint(plain_state_pickle(), [noise(22 * MIB, seed=10)]).build().data
    url = gate.url + _publish(fake_hub, genuine)
    # The first upstream answer has a byte changed in the middle: hubgate streams past it before its
    # digest check at the end fails, then cuts the client.
    fake_hub.faults.add(Fault(WrongDigest(offset=TAMPERED_AT), host=Host.CDN, times=1))
    _throttle(fake_hub)
    partial = _cut_stream(url)
    assert TAMPERED_AT < len(partial) <= len(genuine) - HOLDBACK
    assert partial != genuine[: len(partial)], "the client holds the tampered byte"
    assert _sha256(genuine) not in gate.stored_objects()

    # A resume of that partial file must never be completed from another download (a splice): it gets
    # the whole genuine file from byte 0 (the client starts again), and windows inside it are refused.
    assert_resume_starts_over(url, held=len(partial), genuine=genuine)
    assert_window_refused(url, start=TAMPERED_AT)
    # The real client ends with the genuine file (or an error), never a spliced one.
    path = Path(hf_hub_download(REPO, NAME, cache_dir=cache_dir, endpoint=gate.url))
    assert _sha256(path.read_bytes()) == _sha256(genuine)
    for complete in _complete_files(cache_dir, len(genuine)):
        assert _sha256(complete.read_bytes()) == _sha256(genuine), f"{complete} is not the genuine file"


# --- a prefix that opens as another archive ------------------------------------------------------------


def _checkpoint_hiding_archives(marker: Path, size: int, *, every: int = 32 * 1024) -> tuple[bytes, int]:
    """A checkpoint whose tensor data holds, from 4 MiB on, a whole small archive every `every` bytes (a
    malicious `evil/data.pkl`, its directory and end record, offsets counted from the file's first byte),
    so that wherever a download is cut after them, an end record lies in the last 64 KiB a reader
    searches. Returns the file and the offset of the first hidden end record."""
    probe = checkpoint(plain_state_pickle(), [bytes(size)]).build()
    start = probe.data_offsets["archive/data/0"]
    storage = bytearray(noise(size, seed=11))
    ends = []
    for at in range(start + 4 * MIB, start + size - every, every):
        hidden, end = embedded_archive(marker_pickle(marker), at=at)
        storage[at - start : at - start + len(hidden)] = hidden
        ends.append(at + end)
    written = checkpoint(plain_state_pickle(), [bytes(storage)]).build()
    assert written.data_offsets["archive/data/0"] == start
    return written.data, ends[0]


@pytest.mark.model
def test_an_end_record_in_the_tensor_data_is_never_handed_out(
    gate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path, marker: Path
) -> None:
    # The whole file is a harmless checkpoint: a loader reads its real directory at the end. But a
    # prefix that ends after a hidden end record opens as that hidden archive, and torch.load runs its
    # pickle. A client that keeps what it got when hubgate cut it (curl -o, wget) must never hold one.
    data, first_hidden_end = _checkpoint_hiding_archives(marker, 22 * MIB)
    naive = zipfile.ZipFile(io.BytesIO(data[: len(data) - HOLDBACK]))  # all but the held-back tail
    assert naive.namelist() == ["evil/data.pkl", "evil/version"]
    url = gate.url + _publish(fake_hub, data)
    fake_hub.faults.add(Fault(WrongDigest(at_end=True), host=Host.CDN, times=1))  # the cut comes at the end
    _throttle(fake_hub)
    partial = _cut_stream(url)
    assert 0 < len(partial) <= first_hidden_end
    kept = tmp_path / "partial-download.bin"
    kept.write_bytes(partial)
    loaded = _torch_load(kept, weights_only=False)  # the most trusting caller
    assert loaded.returncode != 0
    assert "central directory" in loaded.stderr
    assert not marker.exists()


# --- two views of one archive --------------------------------------------------------------------------


def test_local_headers_that_disagree_with_the_central_directory_are_cut(
    gate: RunningHubgate, fake_hub: FakeHub, marker: Path
) -> None:
    # A pickle in a local entry the central directory does not list: torch.load never sees it, so the
    # file's own scan (of what loaders read) passes it, but a streaming unzipper would extract it. The
    # stream judged the local view; the two views differ, so this download is not completed by
    # streaming. The verified file itself is approved: it is served whole from the store afterwards.
    written = checkpoint(
        plain_state_pickle(),
        [noise(20 * MIB, seed=12)],
        after=[("archive/data/7", marker_pickle(marker))],
        unlisted=frozenset({"archive/data/7"}),
    ).build()
    url = gate.url + _publish(fake_hub, written.data)
    _throttle(fake_hub)
    partial = _cut_stream(url)
    assert 0 < len(partial) <= len(written.data) - HOLDBACK
    stored = request("GET", url)
    assert stored.status == 200
    assert stored.body == written.data
    assert not marker.exists()
