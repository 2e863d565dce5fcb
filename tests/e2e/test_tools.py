"""The `hf` CLI, resumed downloads and a real model loaded through hubgate."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download

from tests.e2e.conftest import HubgateFactory
from tests.e2e.cutting_proxy import cutting_proxy
from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeHub, Host
from tests.fakehub.fixtures import BIG_FILE_PATH, BIG_MODEL_ID, DATASET_ID, MODEL_ID, big_model_repo

BIN = Path(sys.executable).parent


def _client_env(hubgate: RunningHubgate, home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING"))}
    env.update({"HF_ENDPOINT": hubgate.url, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"})
    return env


def test_hf_download_cli(hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = subprocess.run(
        [
            str(BIN / "hf"),
            "download",
            MODEL_ID,
            "config.json",
            "model.safetensors",
            "--local-dir",
            str(target),
        ],
        env=_client_env(hubgate, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    head = fake_hub.repo(MODEL_ID).head
    for name in ("config.json", "model.safetensors"):
        expected = head.files[name]
        assert (target / name).read_bytes() == expected.blob.read(0, expected.size)
    assert fake_hub.log.count(path="*xet-read-token*") == 0


def test_an_interrupted_download_resumes_with_a_range_request(
    make_hubgate: HubgateFactory, fake_hub: FakeHub, cache_dir: Path
) -> None:
    big = fake_hub.add(big_model_repo())
    weights = big.head.files[BIG_FILE_PATH]
    hubgate = make_hubgate(server={"fetch_wait_s": 120})
    # The client reads in 10 MiB chunks and resumes from what it has written: cut well past the first.
    with cutting_proxy(hubgate.url, cut_after_bytes=25 << 20) as (proxy_url, state):
        try:
            path = hf_hub_download(BIG_MODEL_ID, BIG_FILE_PATH, cache_dir=cache_dir, endpoint=proxy_url)
        except OSError:
            # huggingface_hub 0.36 gives up on the broken connection and keeps `<etag>.incomplete`;
            # running the same call again resumes from it (1.x and later retry by themselves).
            path = hf_hub_download(BIG_MODEL_ID, BIG_FILE_PATH, cache_dir=cache_dir, endpoint=proxy_url)
    assert state.cuts_left == 0, "the download was interrupted"
    sent = b"".join(state.requests)
    assert re.search(rb"(?i)range: bytes=[1-9][0-9]*-", sent), "the client resumed with a Range request"
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == weights.sha256
    assert fake_hub.log.count(method="GET", host=Host.CDN) == 1


_EMBED = """
import json, sys
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1])
print(json.dumps(model.encode(["hubgate verifies every byte"]).tolist()))
"""


@pytest.mark.model
def test_sentence_transformers_loads_a_real_model_through_hubgate(
    hubgate: RunningHubgate, fake_hub: FakeHub, minilm_repo: tuple[str, Path], tmp_path: Path
) -> None:
    repo_id, folder = minilm_repo
    env = _client_env(hubgate, tmp_path / "home")
    through = subprocess.run(
        [sys.executable, "-c", _EMBED, repo_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert through.returncode == 0, through.stderr[-3000:]
    offline_env = {**env, "HF_HUB_OFFLINE": "1"}
    direct = subprocess.run(
        [sys.executable, "-c", _EMBED, str(folder)],
        env=offline_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert direct.returncode == 0, direct.stderr[-3000:]
    via_hubgate = json.loads(through.stdout.strip().splitlines()[-1])
    from_disk = json.loads(direct.stdout.strip().splitlines()[-1])
    assert len(via_hubgate[0]) == 384
    assert via_hubgate[0] == pytest.approx(from_disk[0], abs=1e-6)
    assert fake_hub.log.count(method="GET", host=Host.CDN) >= 1  # the weights came through hubgate's fetch
    assert fake_hub.log.count(path="*xet-read-token*") == 0


_LOAD_DATASET = """
import json, sys
from datasets import load_dataset
rows = load_dataset(sys.argv[1], data_files="data/test.jsonl", split="train")
print(json.dumps([rows.num_rows, rows[3]]))
"""


@pytest.mark.model
def test_datasets_load_dataset_through_hubgate(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_DATASET, DATASET_ID],
        env=_client_env(hubgate, tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    count, row = json.loads(result.stdout.strip().splitlines()[-1])
    assert count == 20
    assert row == {"text": "row 3", "label": 1}
    assert fake_hub.log.count(path="*xet-read-token*") == 0
