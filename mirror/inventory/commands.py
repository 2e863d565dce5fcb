"""`hubgate sbom` and `hubgate report origins|licences|continuity`: read-only operator reports.

Like `hubgate audit verify` they read the metadata database directly (no server, no token needed, the
same config as `hubgate serve`); the API serves the same documents to token holders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

from mirror.config import Settings
from mirror.hub.rules import parse_repo_id
from mirror.inventory import reports
from mirror.inventory.publishers import PublisherTableError, load_publishers
from mirror.inventory.records import Inventory, RevisionView
from mirror.inventory.sbom import Links, build_sbom
from storage import migrate
from storage.db import Database, DatabaseUnavailable
from storage.inventory_store import EVERYTHING, InventoryStore, Scope
from storage.records import RepoKey

_COMMIT_PREFIX = re.compile(r"[0-9a-f]{4,40}")


def scope_of(target: str | None, repo_type: str) -> Scope:
    """`org/repo[@commit]` (a commit or its first hex digits) as an inventory scope."""
    if not target:
        return EVERYTHING
    name, _, commit = target.partition("@")
    if commit and not _COMMIT_PREFIX.fullmatch(commit):
        raise ValueError(f"{commit!r} is not a commit: give its hex digits (at least 4)")
    return Scope(repo=RepoKey(repo_type=repo_type, repo_id=parse_repo_id(name)), commit_prefix=commit)


def links_of(settings: Settings) -> Links:
    """Links as clients reach hubgate: `server.public_url`, else the configured address (no request here)."""
    server = settings.server
    # A wildcard listen address (compared here, not bound) is no place to link to; loopback at least
    # works on the server itself.
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host  # noqa: S104
    return Links(
        hubgate=server.public_url or f"http://{host}:{server.port}", upstream=settings.upstream.endpoint
    )


async def _revisions(settings: Settings, scope: Scope) -> list[RevisionView]:
    publishers = load_publishers(settings.inventory.publishers_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    try:
        await migrate.require_current(database)
        return await Inventory(InventoryStore(database), publishers).revisions(scope)
    finally:
        await database.close()


def sbom_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        scope = scope_of(args.repo, args.repo_type)
        revisions = asyncio.run(_revisions(settings, scope))
    except (ValueError, PublisherTableError, DatabaseUnavailable) as exc:
        print(f"hubgate: {exc}", file=sys.stderr)
        return 2
    if scope.repo is not None and not revisions:
        print(f"hubgate: {args.repo} is not in the inventory (hubgate never served it)", file=sys.stderr)
        return 1
    subject = "inventory" if scope.repo is None else f"{args.repo_type}:{args.repo}"
    document = build_sbom(revisions, links=links_of(settings), scope=subject)
    if args.output is None:
        sys.stdout.write(document + "\n")
    else:
        args.output.write_text(document + "\n", encoding="utf-8")
        print(f"wrote {args.output}: {len(revisions)} revisions", file=sys.stderr)
    return 0


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        revisions = asyncio.run(_revisions(settings, EVERYTHING))
    except (PublisherTableError, DatabaseUnavailable) as exc:
        print(f"hubgate: {exc}", file=sys.stderr)
        return 2
    try:
        report = reports.build(args.kind, revisions, by=args.by)
    except ValueError as exc:
        print(f"hubgate: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    elif args.format == "csv":
        sys.stdout.write(reports.render_csv(report))
    else:
        sys.stdout.write(reports.render_table(report))
    return 0
