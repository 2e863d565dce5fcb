"""The demo fake Hub plus `acme/sharded-model`: a checkpoint in N safetensors shards, for bench/throughput.py.

    python -m bench.fakehub_shards --port 8790 --big-file-size 1073741824 --shards 20 --shard-size 52428800

The shards are generated files (a valid one-tensor safetensors header, then pseudo-random bytes), built
once into the fake Hub's blob directory and served from disk like the big file; the index JSON names
them as `transformers` writes it, so `snapshot_download` fetches a repository shaped like a real one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

from tests.fakehub.files import FakeFile
from tests.fakehub.fixtures import build_demo_hub, readme
from tests.fakehub.repo import FakeRepo, RepoSettings
from tests.fakehub.safetensors_format import single_tensor_prefix
from tests.fakehub.server import serve_fakehub

SHARDED_MODEL_ID = "acme/sharded-model"


def shard_name(index: int, count: int) -> str:
    return f"model-{index:05d}-of-{count:05d}.safetensors"


def sharded_model_repo(shards: int, shard_size: int) -> FakeRepo:
    card = {"license": "apache-2.0", "library_name": "transformers"}
    names = [shard_name(i + 1, shards) for i in range(shards)]
    index = {
        "metadata": {"total_size": shards * shard_size},
        "weight_map": {f"layers.{i}.weight": name for i, name in enumerate(names)},
    }
    weights = [
        # The tensor is named after its shard, so every shard's bytes (and digest) differ.
        FakeFile.generated(
            name, shard_size, seed=100 + i, prefix=single_tensor_prefix(shard_size, name=f"layers.{i}.weight")
        )
        for i, name in enumerate(names)
    ]
    return FakeRepo(
        SHARDED_MODEL_ID,
        [
            FakeFile.text("README.md", readme(card, "# Sharded model\n")),
            FakeFile.text("config.json", '{"model_type": "sharded-bench"}'),
            FakeFile.text("model.safetensors.index.json", json.dumps(index, indent=2)),
            *weights,
        ],
        settings=RepoSettings(card_data=card, library_name="transformers"),
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fakehub_shards", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cdn-host", default=None, help="default: 127.0.0.2 if available, else --host")
    parser.add_argument("--cdn-port", type=int, default=0)
    parser.add_argument("--big-file-size", type=int, default=1 << 30, help="bytes of the big safetensors")
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--shard-size", type=int, default=50 << 20, help="bytes of each shard")
    parser.add_argument(
        "--no-xet-hints", action="store_true", help="do not send Xet hints (plain HTTP clients)"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    hub = build_demo_hub(big_file_size=args.big_file_size, xet_hints=not args.no_xet_hints)
    hub.add(sharded_model_repo(args.shards, args.shard_size))
    async with serve_fakehub(
        hub, host=args.host, port=args.port, cdn_host=args.cdn_host, cdn_port=args.cdn_port
    ) as server:
        # The first line is printed once every generated file is ready (bench/harness.py waits for it).
        print(f"fake Hub: {server.url}\nfake CDN: {server.cdn_url}", flush=True)
        print(f"sharded repo: {SHARDED_MODEL_ID}, {args.shards} x {args.shard_size} bytes", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
