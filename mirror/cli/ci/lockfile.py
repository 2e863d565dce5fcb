"""The lock file: TOML, reviewed in git, one `[[repo]]` per repository and revision the code uses.

Output is stable (entries sorted by repo type, id and revision; files by path; references by file and
line; no timestamps), so that a diff shows exactly what changed upstream or at the gate. It is written
to a temporary file beside the target and renamed over it, so a crash never leaves half a lock.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mirror.errors import InvalidPath, InvalidRepoId, InvalidRevision
from mirror.hub.rules import parse_path, parse_repo_id, parse_revision

LOCK_VERSION = 1
HEADER = (
    "# hubgate lock file: the models this code uses, pinned to a commit with every file's digest, and\n"
    "# what hubgate said about them when locked. Written by `hubgate lock`; checked in CI by\n"
    "# `hubgate check`. Review changes like code; do not edit by hand.\n"
)
_SHA256 = r"^[0-9a-f]{64}$"
_COMMIT = r"^[0-9a-f]{40}$"


class LockFileError(ValueError):
    """A lock file that cannot be read or does not have the expected shape."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LockedFile(_Frozen):
    path: str
    size: int = Field(ge=0)
    sha256: str | None = Field(default=None, pattern=_SHA256)  # LFS files, and small files hubgate stored
    git_oid: str = Field(pattern=r"^[0-9a-f]{40}$")
    lfs: bool = False
    review: str = ""  # the file's review state at hubgate when locked (or not-fetched)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        try:
            return parse_path(value)
        except InvalidPath as exc:
            raise ValueError(exc.message) from None


class Place(_Frozen):
    """Where the code names the repository."""

    file: str
    line: int = Field(ge=1)
    call: str


class SignOff(_Frozen):
    """The approval (waiver) of the revision's licence review: who signed off, why, until when."""

    kind: str = ""  # licence | signature: which rules the approval waived
    by: str
    token: str = ""
    reason: str
    at: str = ""
    expires_at: str | None = None
    rules: tuple[str, ...] = ()


class GateFacts(_Frozen):
    """What hubgate said about the revision when it was locked."""

    licence: str = ""
    licence_bucket: str = ""
    licence_verdict: str = ""
    origin: str = ""  # publisher (organisation, country) from hubgate's inventory
    review: str = ""  # the revision (licence/signature) review's state, or not-required
    review_id: int | None = None
    signature: str = ""
    sign_off: SignOff | None = None


class LockEntry(_Frozen):
    repo: str
    repo_type: Literal["model", "dataset", "space"] = "model"
    revision: str = "main"  # as the code names it: what clients resolve
    canonical: str | None = None  # the repository's own id, when the code uses another spelling
    commit: str = Field(pattern=_COMMIT)
    needs: tuple[str, ...] = ()  # the paths the code fetches (see needs.py)
    references: tuple[Place, ...] = ()
    gate: GateFacts = GateFacts()
    files: tuple[LockedFile, ...] = ()

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        try:
            return parse_repo_id(value)
        except InvalidRepoId as exc:
            raise ValueError(exc.message) from None

    @field_validator("canonical")
    @classmethod
    def _canonical(cls, value: str | None) -> str | None:
        return None if value is None else cls._repo(value)

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str) -> str:
        try:
            return parse_revision(value)
        except InvalidRevision as exc:
            raise ValueError(exc.message) from None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.repo_type, self.repo, self.revision)

    @property
    def name(self) -> str:
        return f"{self.repo}@{self.revision}"

    @property
    def repo_id(self) -> str:
        """The id hubgate keys its judgement on."""
        return self.canonical or self.repo

    def file(self, path: str) -> LockedFile | None:
        return next((locked for locked in self.files if locked.path == path), None)


class LockFile(_Frozen):
    version: int
    repo: tuple[LockEntry, ...] = ()

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != LOCK_VERSION:
            raise ValueError(f"this hubgate reads lock file version {LOCK_VERSION}, not {value}")
        return value


def normalised(entries: list[LockEntry]) -> LockFile:
    """The lock file of `entries`, everything sorted for a stable, diff-friendly text."""
    ordered = sorted(entries, key=lambda entry: entry.key)
    return LockFile(
        version=LOCK_VERSION,
        repo=tuple(
            entry.model_copy(
                update={
                    "needs": tuple(sorted(set(entry.needs))),
                    "references": tuple(sorted(set(entry.references), key=_place_order)),
                    "files": tuple(sorted(entry.files, key=lambda f: f.path)),
                }
            )
            for entry in ordered
        ),
    )


def dumps(lock: LockFile) -> str:
    return HEADER + tomli_w.dumps(lock.model_dump(mode="json", exclude_none=True))


def write(lock: LockFile, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, flushed, then renamed over `path`."""
    text = dumps(lock)
    folder = path.parent if str(path.parent) else Path()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read(path: Path) -> LockFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LockFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LockFileError(f"{path} is not valid TOML: {exc}") from None
    try:
        return LockFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]
        )
        raise LockFileError(f"{path} is not a hubgate lock file: {problems}") from None


def entry_lines(text: str) -> dict[tuple[str, str, str], int]:
    """The line of each entry's `repo = ...` in a lock file's text, to point findings at it."""
    lines: dict[tuple[str, str, str], int] = {}
    data = tomllib.loads(text)
    starts = [number for number, line in enumerate(text.splitlines(), 1) if line.strip() == "[[repo]]"]
    for number, raw in zip(starts, data.get("repo", []), strict=False):
        key = (raw.get("repo_type", "model"), raw.get("repo", ""), raw.get("revision", "main"))
        lines[key] = number
    return lines


def _place_order(place: Place) -> tuple[str, int, str]:
    return (place.file, place.line, place.call)
