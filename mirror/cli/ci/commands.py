"""The `hubgate lock` and `hubgate check` commands."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mirror.cli.ci import lockfile
from mirror.cli.ci.checking import check_entry, unlocked
from mirror.cli.ci.findings import CheckResult, EntryResult, Location, Rule
from mirror.cli.ci.gateway import Gateway, GatewayError
from mirror.cli.ci.lockfile import LockEntry, LockFileError
from mirror.cli.ci.locking import (
    SpecError,
    Wanted,
    from_list_file,
    from_references,
    from_specs,
    lock_entry,
    merged,
    prefetch,
    status_of,
    wait_for_status,
)
from mirror.cli.ci.references import Reference, find_references
from mirror.cli.ci.report import FORMATS, render
from mirror.config import command_line_environment

DEFAULT_LOCK = Path("hubgate.lock")
Flags = Callable[[argparse.ArgumentParser], None]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, api_flags: Flags) -> None:
    lock = sub.add_parser(
        "lock",
        help="pin the models a code base uses (commit, every file's size and sha256, licence, origin, "
        "review state) in a lock file",
        description="Write a lock file (TOML, for review in git) for repositories named on the command "
        "line, in a list file, or found in a code tree (from_pretrained, hf_hub_download, "
        "snapshot_download, pipeline(model=...), SentenceTransformer string literals and YAML/JSON "
        "configs). Asks hubgate for metadata only; --prefetch has hubgate fetch and review the files the "
        "code needs first (a requester's token).",
    )
    api_flags(lock)
    _hub_token_flag(lock)
    lock.add_argument("repos", nargs="*", metavar="org/repo[@revision]")
    lock.add_argument("--from-file", type=Path, metavar="FILE", help="repositories, one per line")
    lock.add_argument("--scan", type=Path, action="append", metavar="PATH", help="a code tree (repeatable)")
    lock.add_argument(
        "--include", action="append", metavar="GLOB", help="for repositories named outright: only these files"
    )
    lock.add_argument("-o", "--output", type=Path, default=DEFAULT_LOCK, help="default: hubgate.lock")
    lock.add_argument("--prefetch", action="store_true", help="have hubgate fetch and review needed files")
    lock.add_argument("--prefetch-timeout", type=float, default=3600.0, metavar="SECONDS")
    lock.set_defaults(run=run_lock)

    check = sub.add_parser(
        "check",
        help="verify a lock file or a code tree against hubgate (for CI); exit 0 only when all pass",
        description="Check every locked model against hubgate: it still resolves to the locked commit "
        "with the locked digests, hubgate approved it under the current policy (licence, origin, signature, "
        "scan), and every file the code fetches is approved. A viewer's token is enough; no weights are "
        "downloaded. With --scan, models the code names but the lock misses fail too.",
    )
    api_flags(check)
    _hub_token_flag(check)
    check.add_argument("lockfile", nargs="?", type=Path, help="default: hubgate.lock when no --scan is given")
    check.add_argument("--scan", type=Path, action="append", metavar="PATH", help="a code tree (repeatable)")
    check.add_argument("--format", choices=FORMATS, default="table")
    check.add_argument(
        "-o", "--output", type=Path, help="write the report here (the table still goes to stdout)"
    )
    check.set_defaults(run=run_check)


def _hub_token_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hf-token",
        default=command_line_environment().hub_token,
        help="Hub token for gated or private repositories (or $HF_TOKEN); sent only on Hub-protocol calls",
    )


def _gateway(args: argparse.Namespace) -> Gateway:
    return Gateway(args.url, token=args.token, hf_token=args.hf_token)


def _scan(roots: Sequence[Path]) -> list[Reference]:
    """References under each root, with file names relative to the working directory where possible
    (so that CI annotations and the lock name files as the repository does)."""
    found: list[Reference] = []
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {root}")
        result = find_references(root)
        for skipped in result.skipped:
            print(f"hubgate: skipped {skipped.file}: {skipped.why}", file=sys.stderr)
        base = root if root.is_dir() else root.parent
        prefix = os.path.relpath(base.resolve(), Path.cwd().resolve())
        prefix = base.as_posix() if prefix.startswith("..") else prefix
        for reference in result.references:
            name = reference.file if prefix in ("", ".") else f"{Path(prefix).as_posix()}/{reference.file}"
            found.append(dataclasses.replace(reference, file=name))
    return found


def _wanted(args: argparse.Namespace) -> list[Wanted]:
    wanted = from_specs(args.repos, args.include)
    if args.from_file is not None:
        wanted += from_list_file(args.from_file, args.include)
    wanted += from_references(_scan(args.scan or []))
    return merged(wanted)


def run_lock(args: argparse.Namespace) -> int:
    if not (args.repos or args.from_file or args.scan):
        print("hubgate lock: name repositories, --from-file FILE or --scan PATH", file=sys.stderr)
        return 2
    try:
        wanted = _wanted(args)
    except (SpecError, OSError) as exc:
        print(f"hubgate lock: {exc}", file=sys.stderr)
        return 2
    gateway = _gateway(args)
    entries: list[LockEntry] = []
    try:
        for item in sorted(wanted, key=lambda w: w.key):
            entries.append(
                _lock_one(gateway, item, prefetching=args.prefetch, timeout_s=args.prefetch_timeout)
            )
    except GatewayError as exc:
        print(f"hubgate lock: {exc.message} (nothing written)", file=sys.stderr)
        return 2
    lockfile.write(lockfile.normalised(entries), args.output)
    print(f"wrote {args.output}: {len(entries)} repositories", file=sys.stderr)
    return 0


def _lock_one(gateway: Gateway, wanted: Wanted, *, prefetching: bool, timeout_s: float) -> LockEntry:
    resolved = gateway.resolve(wanted.repo_type, wanted.repo, wanted.revision)
    commit = resolved.commit
    files = gateway.files(wanted.repo_type, wanted.repo, commit)
    entry = lock_entry(wanted, resolved, files, None)
    status = status_of(gateway, wanted.repo_type, entry.repo_id, commit)
    if prefetching and entry.needs:
        job = prefetch(gateway, entry, timeout_s=timeout_s)
        print(f"  prefetched {entry.name}: {job.get('counts')}", file=sys.stderr)
        status = wait_for_status(gateway, entry)
    entry = lock_entry(wanted, resolved, files, status)
    gate = entry.gate
    print(
        f"  {entry.name} -> {commit[:12]}: {len(files)} files ({len(entry.needs)} needed), "
        f"licence {gate.licence or 'unrecorded'}, review {gate.review or 'not judged'}",
        file=sys.stderr,
    )
    return entry


def run_check(args: argparse.Namespace) -> int:
    gateway = _gateway(args)
    try:
        references = _scan(args.scan or [])
        path = args.lockfile or (None if args.scan else DEFAULT_LOCK)
        if path is not None:
            results, source = _check_lock(gateway, path, references, scanned=bool(args.scan))
        else:
            results, source = _check_tree(gateway, references), ", ".join(str(p) for p in args.scan)
    except (LockFileError, SpecError, OSError) as exc:
        print(f"hubgate check: {exc}", file=sys.stderr)
        return 2
    result = CheckResult(hubgate=gateway.url, source=source, entries=tuple(results))
    text = render(result, args.format)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        # The report goes to its file for the CI system; the log still shows people the table.
        sys.stdout.write(text if args.format == "table" else render(result, "table"))
    else:
        sys.stdout.write(text)
    return 0 if result.passed else 1


def _check_lock(
    gateway: Gateway, path: Path, references: Sequence[Reference], *, scanned: bool
) -> tuple[list[EntryResult], str]:
    text = path.read_text(encoding="utf-8")
    lock = lockfile.read(path)
    lines = lockfile.entry_lines(text)
    in_code: dict[tuple[str, str, str], list[Location]] = {}
    for reference in references:
        key = (reference.repo_type, reference.repo_id, reference.revision or "main")
        in_code.setdefault(key, []).append(Location(reference.file, reference.line))
    results = []
    for entry in lock.repo:
        # Where the code names it now (a scanned tree), else where the lock says, else the lock's own line.
        locations = in_code.get(entry.key) if scanned else None
        if not locations:
            locations = [Location(place.file, place.line) for place in entry.references]
        locations = locations or [Location(path.as_posix(), lines.get(entry.key, 1))]
        results.append(check_entry(gateway, entry, locations))
    locked = {entry.key for entry in lock.repo}
    missing = [
        (f"{key[1]}@{key[2]}", location)
        for key, places in sorted(in_code.items())
        if key not in locked
        for location in places
    ]
    return results + unlocked(missing), path.as_posix()


def _check_tree(gateway: Gateway, references: Sequence[Reference]) -> list[EntryResult]:
    """No lock: what the code names, as hubgate resolves it now."""
    results = []
    for wanted in sorted(from_references(references), key=lambda w: w.key):
        locations = [Location(ref.file, ref.line) for ref in wanted.references]
        try:
            resolved = gateway.resolve(wanted.repo_type, wanted.repo, wanted.revision)
            files = gateway.files(wanted.repo_type, wanted.repo, resolved.commit)
        except GatewayError as exc:
            entry = LockEntry.model_validate(
                {
                    "repo": wanted.repo,
                    "repo_type": wanted.repo_type,
                    "revision": wanted.revision,
                    "commit": "0" * 40,
                }
            )
            result = EntryResult(entry=entry, locations=tuple(locations))
            if exc.status == 404:
                result.add(Rule.MISSING, f"{entry.name} does not exist through hubgate: {exc.message}")
            elif exc.status == 403 and exc.code != "GatedRepo":
                result.add(Rule.REPO_DENIED, f"hubgate refuses {entry.repo}: {exc.message}")
            else:
                result.add(Rule.UNREACHABLE, f"hubgate could not answer for {entry.name}: {exc.message}")
            results.append(result)
            continue
        results.append(check_entry(gateway, lock_entry(wanted, resolved, files, None), locations))
    return results
