"""The `hubgate` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from mirror import logs
from mirror.app import create_app
from mirror.config import Settings, load_settings
from mirror.server import server_options
from storage import migrate
from storage.db import Database


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    command: int = args.run(args)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubgate", description="A verifying mirror and security gate for the Hugging Face Hub"
    )
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the mirror")
    _settings_flags(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--upstream", metavar="URL", help="the Hub to mirror (default https://huggingface.co)")
    serve.set_defaults(run=_serve)

    migrate_cmd = sub.add_parser("migrate", help="create or upgrade the metadata database schema")
    _settings_flags(migrate_cmd)
    migrate_cmd.set_defaults(run=_migrate)
    return parser


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML config file (or $HUBGATE_CONFIG)")
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="where the default disk store and SQLite live"
    )


def _load(args: argparse.Namespace) -> Settings | None:
    overrides = {
        "data_dir": args.data_dir,
        "server": {"host": getattr(args, "host", None), "port": getattr(args, "port", None)},
        "upstream": {"endpoint": getattr(args, "upstream", None)},
    }
    try:
        return load_settings(args.config, **overrides)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        print(f"hubgate: invalid configuration:\n{exc}", file=sys.stderr)
        return None


def _serve(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return 2
    logs.configure(level=settings.log.level, fmt=settings.log.format)
    web.run_app(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        shutdown_timeout=settings.server.shutdown_grace_s,
        **server_options(settings),
        print=lambda text: print(text, file=sys.stderr),
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return 2

    async def run() -> tuple[str | None, str]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database(settings.database_url)
        try:
            return await migrate.upgrade(database)
        finally:
            await database.close()

    before, after = asyncio.run(run())
    print(f"database schema: {before or 'empty'} -> {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
