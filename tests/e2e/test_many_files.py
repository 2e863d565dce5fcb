"""Many files at once: a sharded checkpoint downloads in parallel, and one slow shard holds no other back."""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

from tests.e2e.hubgate_server import RunningHubgate
from tests.fakehub import FakeFile, FakeHub, FakeRepo, Fault, Host, RepoSettings, Slow
from tests.fakehub.safetensors_format import single_tensor_prefix

SHARDED_ID = "acme/sharded-checkpoint"
SHARDS = 6
SHARD_SIZE = 3 << 20  # over 2 MiB: each shard streams while it downloads
SLOW_RATE = 256 << 10  # bytes per second: the slow shard takes 12 s


def _sharded_repo() -> tuple[FakeRepo, list[FakeFile]]:
    names = [f"model-{i + 1:05d}-of-{SHARDS:05d}.safetensors" for i in range(SHARDS)]
    shards = [
        FakeFile.generated(
            name, SHARD_SIZE, seed=300 + i, prefix=single_tensor_prefix(SHARD_SIZE, name=f"layers.{i}.weight")
        )
        for i, name in enumerate(names)
    ]
    index = {"metadata": {}, "weight_map": {f"layers.{i}.weight": name for i, name in enumerate(names)}}
    repo = FakeRepo(
        SHARDED_ID,
        [
            FakeFile.text("config.json", '{"model_type": "sharded"}'),
            FakeFile.text("model.safetensors.index.json", json.dumps(index)),
            *shards,
        ],
        settings=RepoSettings(card_data={"license": "apache-2.0"}),
    )
    return repo, shards


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_one_slow_shard_does_not_hold_the_others_back(
    hubgate: RunningHubgate, fake_hub: FakeHub, tmp_path: Path
) -> None:
    repo, shards = _sharded_repo()
    fake_hub.add(repo)
    slow, fast = shards[0], shards[1:]
    fault = fake_hub.faults.add(
        Fault(Slow(bytes_per_second=SLOW_RATE), match=f"*{slow.sha256}*", host=Host.CDN, method="GET")
    )
    with ThreadPoolExecutor(1) as pool:
        crawling = pool.submit(
            hf_hub_download, SHARDED_ID, slow.path, cache_dir=tmp_path / "slow", endpoint=hubgate.url
        )
        deadline = time.monotonic() + 30
        while fault.hits == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fault.hits == 1, "the slow shard's upstream download did not start"
        # The rest of the checkpoint, all at once like `from_pretrained` does, while the slow one crawls.
        folder = snapshot_download(
            SHARDED_ID,
            cache_dir=tmp_path / "rest",
            endpoint=hubgate.url,
            allow_patterns=["*.json", *(shard.path for shard in fast)],
            max_workers=len(fast),
        )
        assert not crawling.done(), "the other shards had to wait for the slow one"
        for shard in fast:
            assert _sha256(Path(folder) / shard.path) == shard.sha256
        # And the slow shard completes, verified, once its upstream has sent it all.
        assert _sha256(crawling.result(timeout=120)) == slow.sha256
    assert fault.hits == 1
    # Every file is stored once, the slow shard included.
    assert sorted(hubgate.stored_objects()) == sorted(file.sha256 for file in repo.head.files.values())
