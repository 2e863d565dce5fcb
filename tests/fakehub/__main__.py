"""Serve the demo hub for benchmarks and manual poking: `python -m tests.fakehub --port 8790`.

Compression and the real Hub's rate limits are on unless `--no-compress` / `--no-rate-limits`.
It holds every fixture repo plus `acme/big-model` with a generated LFS `model.safetensors` of
`--big-file-size` bytes (1 GiB by default; generated once, then reused from the temp directory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from tests.fakehub.fixtures import ALICE_TOKEN, BIG_FILE_PATH, BIG_MODEL_ID, build_demo_hub
from tests.fakehub.server import serve_fakehub

ONE_GIB = 1 << 30


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakehub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cdn-host", default=None, help="default: 127.0.0.2 if available, else --host")
    parser.add_argument("--cdn-port", type=int, default=0)
    parser.add_argument("--big-file-size", type=int, default=ONE_GIB, help="bytes of the big LFS file")
    parser.add_argument(
        "--no-xet-hints", action="store_true", help="do not send Xet hints (plain HTTP clients)"
    )
    parser.add_argument(
        "--no-compress", action="store_true", help="no gzip of JSON and text answers (the Hub's CDN does it)"
    )
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="no 429s and no RateLimit headers (the Hub has them)"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    hub = build_demo_hub(big_file_size=args.big_file_size, xet_hints=not args.no_xet_hints)
    hub.compress = not args.no_compress
    if args.no_rate_limits:
        hub.rate_limiter.configure(None)
    big = hub.repo(BIG_MODEL_ID).head.files[BIG_FILE_PATH]
    async with serve_fakehub(
        hub, host=args.host, port=args.port, cdn_host=args.cdn_host, cdn_port=args.cdn_port
    ) as server:
        print(f"fake Hub: {server.url}\nfake CDN: {server.cdn_url}", flush=True)
        print(f"big file: {server.url}/{BIG_MODEL_ID}/resolve/main/{BIG_FILE_PATH}", flush=True)
        print(f"  size {big.size}, sha256 {big.sha256}", flush=True)
        print(f"token with access to gated/private repos: {ALICE_TOKEN}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
