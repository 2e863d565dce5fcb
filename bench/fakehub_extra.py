"""The demo fake Hub plus `acme/torch-model`: a big PyTorch zip checkpoint, for bench/gate.py.

    python -m bench.fakehub_extra --port 8790 --big-file-size 1073741824 --torch-zip-size 1073741824

The checkpoint is real `torch.save` output (a zip with `archive/data.pkl`, `archive/byteorder`,
`archive/version`, `archive/data/0`, ... stored uncompressed) of a state dict whose big tensor holds
deterministic pseudo-random bytes. It is built once into the fake Hub's blob directory, with its
digests next to it, and served from disk like the other generated files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from tests.fakehub.blobs import CHUNK_SIZE, Blob, default_blob_directory, git_blob_header
from tests.fakehub.files import FakeFile
from tests.fakehub.fixtures import ALICE_TOKEN, BIG_FILE_PATH, BIG_MODEL_ID, build_demo_hub, readme
from tests.fakehub.repo import FakeRepo, RepoSettings
from tests.fakehub.server import serve_fakehub

TORCH_MODEL_ID = "acme/torch-model"
TORCH_FILE_PATH = "pytorch_model.bin"
# Bump when the layout of the built checkpoint changes, so a stale file on disk is never reused.
_BUILD_VERSION = 1
_COLUMNS = 4096


def torch_zip_path(size: int, *, directory: Path | None = None) -> Path:
    """Where the checkpoint whose big tensor holds `size` bytes is (or will be) kept."""
    return (directory or default_blob_directory()) / f"torch-zip-v{_BUILD_VERSION}-size{size}.bin"


def build_torch_zip(size: int, *, seed: int = 3, directory: Path | None = None) -> Blob:
    """The checkpoint as a Blob on disk, built with torch.save at most once per size.

    The big tensor is float16 `(size // 8192, 4096)` of random bytes, so its storage (`data/0`) is
    `size` rounded down to 8 KiB; a small bias tensor (`data/1`) follows. The file is a little larger
    than `size` (the pickle, the other members and the zip directory).
    """
    path = torch_zip_path(size, directory=directory)
    digest_path = path.with_suffix(".json")
    with contextlib.suppress(OSError, ValueError, KeyError):
        recorded = json.loads(digest_path.read_text())
        if recorded["size"] == path.stat().st_size:
            return Blob(
                size=recorded["size"], sha256=recorded["sha256"], git_sha1=recorded["git_sha1"], path=path
            )
    import torch  # noqa: PLC0415 - heavy, and only needed the first time

    rows = max(1, size // (2 * _COLUMNS))
    raw = np.empty(rows * _COLUMNS * 2, dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for offset in range(0, raw.size, CHUNK_SIZE):
        length = min(CHUNK_SIZE, raw.size - offset)
        raw[offset : offset + length] = np.frombuffer(rng.bytes(length), dtype=np.uint8)
    state = {
        "model.embed_tokens.weight": torch.from_numpy(raw).view(torch.float16).reshape(rows, _COLUMNS),
        "lm_head.bias": torch.zeros(_COLUMNS, dtype=torch.float16),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # torch names the zip's root folder after the file's stem: save as ".../archive.pt" for "archive/".
    with tempfile.TemporaryDirectory(dir=path.parent, prefix="torch-zip-") as tmp:
        staged = Path(tmp) / "archive.pt"
        torch.save(state, staged)
        del state, raw
        blob = _digests(staged)
        os.replace(staged, path)
    digest_tmp = digest_path.with_suffix(f".{os.getpid()}.tmp")
    digest_tmp.write_text(json.dumps({"size": blob.size, "sha256": blob.sha256, "git_sha1": blob.git_sha1}))
    os.replace(digest_tmp, digest_path)
    return Blob(size=blob.size, sha256=blob.sha256, git_sha1=blob.git_sha1, path=path)


def _digests(path: Path) -> Blob:
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(git_blob_header(size))
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            sha256.update(chunk)
            sha1.update(chunk)
    return Blob(size=size, sha256=sha256.hexdigest(), git_sha1=sha1.hexdigest(), path=path)


def torch_model_repo(checkpoint: Blob) -> FakeRepo:
    card = {"license": "apache-2.0", "library_name": "transformers"}
    return FakeRepo(
        TORCH_MODEL_ID,
        [
            FakeFile.text("README.md", readme(card, "# Torch model\n\nA PyTorch zip checkpoint.")),
            FakeFile.text("config.json", '{"model_type": "torch-bench"}'),
            FakeFile(path=TORCH_FILE_PATH, blob=checkpoint, lfs=True),
        ],
        settings=RepoSettings(card_data=card, library_name="transformers"),
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fakehub_extra", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cdn-host", default=None, help="default: 127.0.0.2 if available, else --host")
    parser.add_argument("--cdn-port", type=int, default=0)
    parser.add_argument("--big-file-size", type=int, default=1 << 30, help="bytes of the big safetensors")
    parser.add_argument("--torch-zip-size", type=int, default=1 << 30, help="bytes of the big tensor")
    parser.add_argument(
        "--no-xet-hints", action="store_true", help="do not send Xet hints (plain HTTP clients)"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    hub = build_demo_hub(big_file_size=args.big_file_size, xet_hints=not args.no_xet_hints)
    checkpoint = build_torch_zip(args.torch_zip_size)
    hub.add(torch_model_repo(checkpoint))
    big = hub.repo(BIG_MODEL_ID).head.files[BIG_FILE_PATH]
    async with serve_fakehub(
        hub, host=args.host, port=args.port, cdn_host=args.cdn_host, cdn_port=args.cdn_port
    ) as server:
        # The first line is printed once both big files are ready (bench/harness.py waits for it).
        print(f"fake Hub: {server.url}\nfake CDN: {server.cdn_url}", flush=True)
        for repo_id, file in (
            (BIG_MODEL_ID, big),
            (TORCH_MODEL_ID, hub.repo(TORCH_MODEL_ID).head.files[TORCH_FILE_PATH]),
        ):
            print(f"big file: {server.url}/{repo_id}/resolve/main/{file.path}", flush=True)
            print(f"  size {file.size}, sha256 {file.sha256}", flush=True)
        print(f"token with access to gated/private repos: {ALICE_TOKEN}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
