"""Turning what the code wants (repos, references) into lock entries, from hubgate's answers."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mirror.cli.ci.gatefacts import RevisionStatus, read_status
from mirror.cli.ci.gateway import Gateway, GatewayError, RemoteFile, Resolved
from mirror.cli.ci.lockfile import GateFacts, LockedFile, LockEntry, Place
from mirror.cli.ci.needs import matching, needed_paths
from mirror.cli.ci.references import Reference
from mirror.errors import InvalidRepoId, InvalidRevision
from mirror.hub.rules import parse_repo_id, parse_revision

DEFAULT_REVISION = "main"  # what huggingface_hub asks for when the code names no revision
_PREFETCH_POLL_S = 0.5
_RECORD_WAIT_S = 10.0  # hubgate writes a prefetch's licence decision with its next batch (every 0.5 s)


class SpecError(ValueError):
    """A repository written in a form `org/name[@revision]` does not take."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """One repository at one revision that the code (or the operator) wants pinned."""

    repo_type: str
    repo: str
    revision: str
    references: tuple[Reference, ...] = ()
    places: tuple[Place, ...] = ()  # where it was named outside code (a list file's line)
    outright: bool = False  # named on the command line or in a list file: a snapshot of `include`
    include: tuple[str, ...] | None = None  # the snapshot's patterns; None: every file

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.repo_type, self.repo, self.revision)


def parse_spec(spec: str) -> tuple[str, str, str]:
    """`org/name[@revision]`, optionally prefixed `datasets/` or `spaces/`: (type, repo id, revision)."""
    text = spec.strip()
    repo_type = "model"
    for prefix, kind in (("datasets/", "dataset"), ("spaces/", "space"), ("models/", "model")):
        if text.startswith(prefix):
            repo_type, text = kind, text.removeprefix(prefix)
    name, _, revision = text.partition("@")
    try:
        return repo_type, parse_repo_id(name), parse_revision(revision) if revision else DEFAULT_REVISION
    except (InvalidRepoId, InvalidRevision) as exc:
        raise SpecError(f"{spec!r}: {exc.message}") from None


def from_specs(specs: Iterable[str], include: Sequence[str] | None = None) -> list[Wanted]:
    patterns = tuple(include) if include else None
    return [Wanted(*parse_spec(spec), outright=True, include=patterns) for spec in specs]


def from_list_file(path: Path, include: Sequence[str] | None = None) -> list[Wanted]:
    """One `org/name[@revision]` per line; `#` starts a comment."""
    wanted: list[Wanted] = []
    patterns = tuple(include) if include else None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            repo_type, repo, revision = parse_spec(line)
        except SpecError as exc:
            raise SpecError(f"{path}:{number}: {exc}") from None
        place = Place(file=path.as_posix(), line=number, call="list")
        wanted.append(Wanted(repo_type, repo, revision, places=(place,), outright=True, include=patterns))
    return wanted


def from_references(references: Iterable[Reference]) -> list[Wanted]:
    grouped: dict[tuple[str, str, str], list[Reference]] = {}
    for reference in references:
        key = (reference.repo_type, reference.repo_id, reference.revision or DEFAULT_REVISION)
        grouped.setdefault(key, []).append(reference)
    return [Wanted(*key, references=tuple(refs)) for key, refs in grouped.items()]


def merged(wanted: Iterable[Wanted]) -> list[Wanted]:
    """One Wanted per (type, repo, revision): references and places joined, file patterns widened."""
    by_key: dict[tuple[str, str, str], Wanted] = {}
    for item in wanted:
        known = by_key.get(item.key)
        if known is None:
            by_key[item.key] = item
            continue
        by_key[item.key] = Wanted(
            *item.key,
            references=known.references + item.references,
            places=known.places + item.places,
            outright=known.outright or item.outright,
            include=_union_patterns(known, item),
        )
    return list(by_key.values())


def _union_patterns(first: Wanted, second: Wanted) -> tuple[str, ...] | None:
    if not (first.outright and second.outright):
        return first.include if first.outright else second.include
    if first.include is None or second.include is None:
        return None
    return tuple(sorted(set(first.include) | set(second.include)))


def needs_of(wanted: Wanted, paths: Sequence[str]) -> tuple[str, ...]:
    """The files of the revision the code fetches (see needs.py)."""
    needed: set[str] = set()
    for reference in wanted.references:
        needed.update(needed_paths(reference, paths))
    if wanted.outright:
        needed.update(matching(paths, wanted.include))
    return tuple(sorted(needed))


def places_of(wanted: Wanted) -> tuple[Place, ...]:
    return wanted.places + tuple(
        Place(file=ref.file, line=ref.line, call=ref.call) for ref in wanted.references
    )


def status_of(gateway: Gateway, repo_type: str, repo: str, commit: str) -> RevisionStatus | None:
    answer = gateway.revision_status(repo_type, repo, commit)
    return None if answer is None else read_status(answer)


def lock_entry(
    wanted: Wanted,
    resolved: Resolved,
    files: Sequence[RemoteFile],
    status: RevisionStatus | None,
) -> LockEntry:
    paths = [item.path for item in files]
    known = {} if status is None else status.files
    locked = []
    for item in files:
        state = known.get(item.path)
        locked.append(
            LockedFile(
                path=item.path,
                size=item.size,
                # LFS files carry their sha256 in the Hub's metadata; a small file's is known once hubgate
                # stored it (its git blob id pins it either way).
                sha256=item.sha256 or (state.sha256 if state is not None else None),
                git_oid=item.git_oid,
                lfs=item.sha256 is not None,
                review=state.state if state is not None else "not-fetched",
            )
        )
    return LockEntry(
        repo=wanted.repo,
        repo_type=wanted.repo_type,  # type: ignore[arg-type]  # Wanted checked it against the literal
        revision=wanted.revision,
        canonical=resolved.repo_id if resolved.repo_id != wanted.repo else None,
        commit=resolved.commit,
        needs=needs_of(wanted, paths),
        references=places_of(wanted),
        gate=GateFacts() if status is None else status.gate,
        files=tuple(locked),
    )


def prefetch(gateway: Gateway, entry: LockEntry, *, timeout_s: float) -> dict[str, object]:
    """Have hubgate fetch, verify and scan the files the code needs (into hubgate, not here)."""
    job = gateway.prefetch(entry.repo_type, entry.repo_id, entry.commit, [_literal(p) for p in entry.needs])
    deadline = time.monotonic() + timeout_s
    while job.get("state") == "running":
        if time.monotonic() > deadline:
            raise GatewayError(504, f"hubgate's prefetch of {entry.name} did not finish in {timeout_s:.0f} s")
        time.sleep(_PREFETCH_POLL_S)
        job = gateway.prefetch_job(str(job["id"]))
    return job


def wait_for_status(gateway: Gateway, entry: LockEntry) -> RevisionStatus | None:
    """The revision's status once hubgate has written its decision (a prefetch's lands within a second)."""
    deadline = time.monotonic() + _RECORD_WAIT_S
    while True:
        status = status_of(gateway, entry.repo_type, entry.repo_id, entry.commit)
        if status is not None or time.monotonic() > deadline:
            return status
        time.sleep(_PREFETCH_POLL_S)


def _literal(path: str) -> str:
    """A glob that matches exactly `path` (prefetch takes fnmatch patterns)."""
    return re.sub(r"([*?\[])", r"[\1]", path)
