"""The `hubgate` command line.

Parsing imports nothing heavy: each command imports its implementation when it runs. `hubgate check` in a
CI job or `hubgate review list` in a shell then starts in a fraction of a second, instead of loading the
server first (aiohttp's server, SQLAlchemy, the policy engine and the scanners' rules take seconds of CPU).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mirror.cli import remote as cli_api
from mirror.cli.ci import commands as ci_commands
from mirror.cli.durations import parse_duration
from mirror.config import command_line_environment
from mirror.inventory import command_line as inventory_commands

if TYPE_CHECKING:
    from mirror.config import Settings

LocalCommand = Callable[["Settings", argparse.Namespace], int]
Runner = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        code: int = args.run(args)
    except cli_api.ApiError as exc:
        print(f"hubgate: {exc.message}", file=sys.stderr)
        return 2
    return code


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

    scan = sub.add_parser(
        "scan", help="scan model files or folders (same as `python -m scanners`)", add_help=False
    )
    scan.add_argument("rest", nargs=argparse.REMAINDER)
    scan.set_defaults(run=_scan)

    policy = sub.add_parser("policy", help="check a policy file")
    policy.add_argument("action", choices=["check", "show-default"])
    policy.add_argument("file", nargs="?", type=Path)
    policy.set_defaults(run=_policy)

    _token_commands(sub)
    _review_commands(sub)
    inventory_commands.add_commands(sub, local=_local, settings_flags=_settings_flags)

    _audit_commands(sub)

    rescan = sub.add_parser(
        "rescan", help="re-evaluate stored artifacts under the current policy and scanner"
    )
    _settings_flags(rescan)
    rescan.set_defaults(run=_local("mirror.cli.local:rescan"))

    gc = sub.add_parser("gc", help="delete orphaned objects (crashed writes) and enforce the disk budget")
    _settings_flags(gc)
    gc.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    gc.set_defaults(run=_local("mirror.cli.local:gc"))

    for name, helptext, command in (
        (
            "pin",
            "keep a revision's blobs whatever the retention budget (--approved: pin the repo's refs)",
            "mirror.cli.local:pin",
        ),
        (
            "unpin",
            "remove a revision's pin (all pins of the repo without @revision; --approved: the repo's)",
            "mirror.cli.local:unpin",
        ),
    ):
        pinning = sub.add_parser(name, help=helptext)
        _settings_flags(pinning)
        pinning.add_argument("repo", metavar="org/repo[@revision]")
        pinning.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
        pinning.add_argument("--by", default=command_line_environment().user, help="who pins (recorded)")
        pinning.add_argument(
            "--approved",
            action="store_true",
            help="approved-revision pinning of the whole repo: branches and tags resolve to their newest "
            "approved commit until upstream's newer one passes review",
        )
        pinning.set_defaults(run=_local(command))

    _provenance_commands(sub)

    prefetch = sub.add_parser("prefetch", help="fetch, verify and scan a revision ahead of users")
    _api_flags(prefetch)
    prefetch.add_argument("repo", metavar="org/repo[@revision]")
    prefetch.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    prefetch.add_argument("--include", action="append", metavar="GLOB", help="only these paths (repeatable)")
    prefetch.add_argument("--exclude", action="append", metavar="GLOB", help="not these paths (repeatable)")
    prefetch.add_argument(
        "--hf-token", default=command_line_environment().hub_token, help="Hub token for gated/private repos"
    )
    prefetch.set_defaults(run=cli_api.prefetch)

    ci_commands.add_commands(sub, api_flags=_api_flags)
    return parser


def _provenance_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    attest = sub.add_parser(
        "attest", help="hubgate's signed attestation of an approved revision (OpenSSF model signature)"
    )
    _api_flags(attest)
    attest.add_argument("repo", metavar="org/repo[@revision]")
    attest.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
    attest.add_argument(
        "-o", "--output", default="hubgate.sig", help="file to write (- for stdout; default hubgate.sig)"
    )
    attest.add_argument(
        "--kind",
        default="model-signature",
        choices=["model-signature", "review"],
        help="model-signature: a model.sig over the approved files; review: the signed review statement",
    )
    attest.set_defaults(run=cli_api.attest)

    key = sub.add_parser("key", help="hubgate's attestation key")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    key_show = key_sub.add_parser("show", help="print the public key (PEM) and its fingerprint")
    _settings_flags(key_show)
    key_show.set_defaults(run=_local("mirror.cli.local:key_show"))


def _audit_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify",
        help="check that no audit row was altered, removed or inserted, against every signed checkpoint",
        description="Walk the audit chain and check it against every checkpoint exported to the object "
        "store (signature under the attestation key, the row it names, the checkpoints' own chain). Rows "
        "newer than the last checkpoint are covered only by the chain itself.",
    )
    _settings_flags(verify)
    verify.set_defaults(run=_local("mirror.cli.local:audit_verify"))
    checkpoint = audit_sub.add_parser(
        "checkpoint",
        help="sign and export a checkpoint of the audit chain's head now (also done periodically)",
    )
    _settings_flags(checkpoint)
    checkpoint.set_defaults(run=_local("mirror.cli.local:audit_checkpoint"))


def _token_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = sub.add_parser("token", help="hubgate API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser(
        "create",
        help="create a token (printed once)",
        description="Create an API token for a person. Four-eyes and the audit trail go by the person "
        "(--subject): two tokens of one subject count as one person.",
    )
    _settings_flags(create)
    create.add_argument("--name", required=True, help="the token's own name (unique), e.g. laptop")
    create.add_argument(
        "--subject",
        help="the person the token belongs to, e.g. alice@corp (default: the token's name)",
    )
    create.add_argument("--role", required=True, choices=["viewer", "requester", "approver", "admin"])
    create.add_argument("--expires-in", type=parse_duration, metavar="DURATION", help="e.g. 12h, 30d")
    create.set_defaults(run=_local("mirror.cli.tokens:create_token"))
    listing = token_sub.add_parser("list", help="list tokens")
    _settings_flags(listing)
    listing.set_defaults(run=_local("mirror.cli.tokens:list_tokens"))
    revoke = token_sub.add_parser("revoke", help="revoke a token")
    _settings_flags(revoke)
    revoke.add_argument("name")
    revoke.set_defaults(run=_local("mirror.cli.tokens:revoke_token"))


def _review_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = sub.add_parser("review", help="list, inspect and decide reviews (through the API)")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    listing = review_sub.add_parser("list")
    _api_flags(listing)
    listing.add_argument("--state", choices=["PENDING", "APPROVED", "QUARANTINED", "BLOCKED", "REVOKED"])
    listing.add_argument("--repo")
    listing.add_argument("--severity", choices=["critical", "high", "medium", "low", "info"])
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(run=cli_api.review_list)
    show = review_sub.add_parser("show")
    _api_flags(show)
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=cli_api.review_show)
    for decision in ("approve", "block", "revoke", "reopen"):
        command = review_sub.add_parser(decision)
        _api_flags(command)
        command.add_argument("id", type=int)
        command.add_argument("--reason", required=True)
        if decision == "approve":
            command.add_argument("--expires-in", type=parse_duration, metavar="DURATION")
        command.set_defaults(run=cli_api.review_decide, decision=decision)
    request = review_sub.add_parser("request", help="ask the security team for a review")
    _api_flags(request)
    request.add_argument("id", type=int)
    request.add_argument("--justification", required=True)
    request.set_defaults(run=cli_api.review_request)
    rescan = review_sub.add_parser("rescan")
    _api_flags(rescan)
    rescan.add_argument("id", type=int)
    rescan.add_argument("--reason")
    rescan.set_defaults(run=cli_api.review_rescan)


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML config file (or $HUBGATE_CONFIG)")
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="where the default disk store and SQLite live"
    )


def _api_flags(parser: argparse.ArgumentParser) -> None:
    environment = command_line_environment()
    parser.add_argument("--url", default=environment.api_url, help="hubgate's URL (or $HUBGATE_URL)")
    parser.add_argument("--token", default=environment.api_token, help="hgt_... (or $HUBGATE_TOKEN)")


def _load(args: argparse.Namespace) -> Settings | None:
    from pydantic import ValidationError  # noqa: PLC0415 - see the module's docstring

    from mirror.config import load_settings  # noqa: PLC0415

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


# Every "module:function" a command line names, so that a test imports each one (a misspelt name would
# otherwise surface only when someone runs that command).
LOCAL_TARGETS: list[str] = []


def _local(target: str) -> Runner:
    """A command on the data directory and database; `target` ("module:function") is imported to run it."""
    LOCAL_TARGETS.append(target)

    def run(args: argparse.Namespace) -> int:
        settings = _load(args)
        if settings is None:
            return 2
        from mirror import logs  # noqa: PLC0415 - see the module's docstring
        from mirror.errors import MirrorError  # noqa: PLC0415
        from mirror.inventory.publishers import PublisherTableError  # noqa: PLC0415
        from mirror.policy.file import PolicyError  # noqa: PLC0415
        from storage import migrate  # noqa: PLC0415

        module, _, name = target.partition(":")
        command: LocalCommand = getattr(importlib.import_module(module), name)
        logs.configure(level="WARNING", fmt="text")
        try:
            return command(settings, args)
        except (PolicyError, PublisherTableError, migrate.SchemaOutOfDate) as exc:
            print(f"hubgate: {exc}", file=sys.stderr)
            return 2
        except MirrorError as exc:
            print(f"hubgate: {exc.message}", file=sys.stderr)
            return 2

    return run


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web  # noqa: PLC0415 - see the module's docstring

    from mirror import logs  # noqa: PLC0415
    from mirror.app import create_app  # noqa: PLC0415
    from mirror.http.server import server_options  # noqa: PLC0415
    from mirror.inventory.publishers import PublisherTableError  # noqa: PLC0415
    from mirror.policy.file import PolicyError  # noqa: PLC0415

    settings = _load(args)
    if settings is None:
        return 2
    logs.configure(level=settings.log.level, fmt=settings.log.format)
    try:
        app = create_app(settings)
    except (PolicyError, PublisherTableError) as exc:
        print(f"hubgate: {exc}", file=sys.stderr)
        return 2
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        shutdown_timeout=settings.server.shutdown_grace_s,
        print=lambda text: print(text, file=sys.stderr),
        **server_options(settings),
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 - see the module's docstring

    from storage import migrate  # noqa: PLC0415
    from storage.db import Database  # noqa: PLC0415

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


def _scan(args: argparse.Namespace) -> int:
    from scanners.cli import main as scan_main  # noqa: PLC0415 - see the module's docstring

    code: int = scan_main(list(args.rest))
    return code


def _policy(args: argparse.Namespace) -> int:
    from mirror.policy.file import PolicyError, default_policy_text, load_policy  # noqa: PLC0415

    if args.action == "show-default":
        print(default_policy_text(), end="")
        return 0
    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        print(f"hubgate: {exc}", file=sys.stderr)
        return 2
    print(f"policy OK: {policy.fingerprint}")
    return 0
