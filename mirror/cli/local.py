"""CLI commands that work on the data directory and database through hubgate's components: audit
verification and checkpoints, rescans, gc, pins, the attestation key (tokens: mirror.cli.tokens)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from mirror.app import COMPONENTS, create_app
from mirror.app.wiring import Components
from mirror.config import Settings
from mirror.errors import MirrorError
from mirror.hub.models import RepoRef, RepoType
from mirror.hub.rules import parse_repo_id, parse_revision
from mirror.provenance.signing import ModelSigner
from mirror.review.audit_verify import verify_trail
from mirror.review.checkpoints import AuditChainBroken
from storage.approved_pins import ApprovedPinStore

T = TypeVar("T")


async def _with_components(settings: Settings, work: Callable[[Components], Awaitable[T]]) -> T:
    """The whole app's components without serving HTTP and without its background jobs: the command does
    exactly its own work (a `gc --dry-run` evicts nothing, a `pin` starts no re-evaluation)."""
    app = create_app(settings, background_jobs=False)
    runner = web.AppRunner(app)  # set up (startup and cleanup contexts) but never bound to a port
    await runner.setup()
    try:
        return await work(app[COMPONENTS])
    finally:
        await runner.cleanup()


def audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    async def run(built: Components) -> dict[str, Any]:
        return await verify_trail(built.checkpoints, store=built.audit_trail, objects=built.store)

    result = asyncio.run(_with_components(settings, run))
    if result["ok"]:
        print(
            f"audit trail intact: {result['events']} events, head {result['head']}; "
            f"{result['checkpoints']} signed checkpoints, through event {result['anchored_through']} "
            f"({result['unanchored_events']} newer events not yet anchored)"
        )
        return 0
    where = f" at event {result['first_bad_id']}" if "first_bad_id" in result else ""
    print(f"audit trail BROKEN{where}: {result['problem']}", file=sys.stderr)
    return 1


def audit_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    async def run(built: Components) -> str:
        try:
            exported = await built.checkpoints.checkpoint()
        except AuditChainBroken as exc:
            raise MirrorError(str(exc), status=409, code="AuditChainBroken") from exc
        if exported is None:
            return "no checkpoint needed: the last one covers the whole trail (or a replica is writing one)"
        return (
            f"checkpoint {exported.name}: event {exported.checkpoint.last_event_id}, "
            f"head {exported.checkpoint.head_hash}, digest {exported.digest}"
        )

    print(asyncio.run(_with_components(settings, run)))
    return 0


def rescan(settings: Settings, args: argparse.Namespace) -> int:
    async def run(built: Components) -> int:
        return await built.reevaluator.run_once()

    changed = asyncio.run(_with_components(settings, run))
    print(
        f"re-evaluated stored artifacts under the current policy and scanner: {changed} reviews changed state"
    )
    return 0


def gc(settings: Settings, args: argparse.Namespace) -> int:
    async def run(built: Components) -> str:
        orphans = await built.housekeeper.collect_orphans(dry_run=args.dry_run)
        evicted = await built.housekeeper.enforce_budget() if not args.dry_run else None
        verb = "would delete" if args.dry_run else "deleted"
        line = f"orphaned objects: {verb} {orphans.objects} ({orphans.bytes} bytes)"
        if evicted is not None:
            line += f"; evicted for the size budget: {evicted.objects} ({evicted.bytes} bytes)"
        return line

    print(asyncio.run(_with_components(settings, run)))
    return 0


def pin(settings: Settings, args: argparse.Namespace) -> int:
    repo, revision = _repo_and_revision(args)
    if args.approved:
        return _pin_approved(settings, repo, revision, by=args.by)

    async def run(built: Components) -> str:
        credentials = built.hub.credentials(None)
        resolved = await built.catalog.resolve(repo, revision, credentials, reading_files=False)
        await built.retention.pin(repo.key, resolved.commit, by=args.by)
        return resolved.commit

    commit = asyncio.run(_with_components(settings, run))
    print(f"pinned {repo}@{commit}: retention keeps its blobs")
    return 0


def unpin(settings: Settings, args: argparse.Namespace) -> int:
    repo, revision = _repo_and_revision(args)
    if args.approved:
        return _unpin_approved(settings, repo, revision)

    async def run(built: Components) -> int:
        commit = None
        if revision is not None:
            credentials = built.hub.credentials(None)
            commit = (await built.catalog.resolve(repo, revision, credentials, reading_files=False)).commit
        return await built.retention.unpin(repo.key, commit)

    removed = asyncio.run(_with_components(settings, run))
    print(f"removed {removed} pin(s) of {repo}")
    return 0 if removed else 1


def key_show(settings: Settings, args: argparse.Namespace) -> int:
    path = settings.attestation_key_path
    if not path.exists():
        print(
            f"hubgate: no attestation key at {path} yet: `hubgate serve` creates it on first start "
            "(or set provenance.signing_key_path)",
            file=sys.stderr,
        )
        return 1
    signer = ModelSigner.from_key_file(path)
    print(signer.public_key_pem, end="" if signer.public_key_pem.endswith("\n") else "\n")
    print(f"fingerprint (sha256 of the PEM): {signer.fingerprint}", file=sys.stderr)
    return 0


def _pin_approved(settings: Settings, repo: RepoRef, revision: str | None, *, by: str) -> int:
    if revision is not None:
        print(
            "hubgate: --approved pins a whole repo (all its branches and tags): leave out @revision",
            file=sys.stderr,
        )
        return 2

    async def run(built: Components) -> None:
        await ApprovedPinStore(built.database).pin(repo.key, by=by)

    asyncio.run(_with_components(settings, run))
    print(
        f"pinned {repo} to approved revisions: its branches and tags resolve to their newest approved commit"
    )
    return 0


def _unpin_approved(settings: Settings, repo: RepoRef, revision: str | None) -> int:
    if revision is not None:
        print("hubgate: --approved unpins a whole repo: leave out @revision", file=sys.stderr)
        return 2

    async def run(built: Components) -> bool:
        return await ApprovedPinStore(built.database).unpin(repo.key)

    removed = asyncio.run(_with_components(settings, run))
    if not removed:
        print(f"{repo} was not pinned to approved revisions (a policy glob may still pin it)")
        return 1
    print(f"{repo} follows upstream again (unless the policy's [pinning] globs name it)")
    return 0


def _repo_and_revision(args: argparse.Namespace) -> tuple[RepoRef, str | None]:
    name, _, revision = args.repo.partition("@")
    repo = RepoRef(repo_type=RepoType(args.repo_type), repo_id=parse_repo_id(name))
    return repo, (parse_revision(revision) if revision else None)
