"""The Hub's rules for repository ids, revisions and file paths inside a repository.

Pure: no I/O. The URL table (mirror/http/routes.py) applies them to every request; the publisher table,
the alias resolver and the CLI apply them to ids that come from files and arguments.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from mirror.errors import InvalidPath, InvalidRepoId, InvalidRevision
from mirror.hub.pathtext import hidden_characters, visible

_NAME_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_REVISION = re.compile(r"[A-Za-z0-9._/+-]{1,255}")
_MAX_PATH = 1024


def parse_repo_id(repo_id: str) -> str:
    """Validate `namespace/name` (or a legacy single-segment id) with the Hub's own rules."""
    parts = repo_id.split("/")
    if len(parts) > 2 or not all(_NAME_PART.fullmatch(part) for part in parts):
        raise InvalidRepoId(
            f"invalid repository id {repo_id!r}: use 'namespace/name' with letters, digits, '-', '_' and '.'"
        )
    if any("--" in part or ".." in part for part in parts) or repo_id.endswith(".git"):
        raise InvalidRepoId(
            f"invalid repository id {repo_id!r}: '--', '..' and a '.git' suffix are not allowed"
        )
    return repo_id


def parse_revision(revision: str) -> str:
    """Validate a branch, tag, `refs/...` name or commit."""
    if not _REVISION.fullmatch(revision) or ".." in revision or revision.startswith("/") or "//" in revision:
        raise InvalidRevision(f"invalid revision {revision!r}")
    if revision.endswith(("/", ".lock", ".")):
        raise InvalidRevision(f"invalid revision {revision!r}")
    return revision


def parse_path(raw_path: str, *, allow_empty: bool = False) -> str:
    """Decode and validate a file path inside a repository; refuse anything that could escape it."""
    path = unquote(raw_path)
    if not path:
        if allow_empty:
            return ""
        raise InvalidPath("a file path is required")
    if len(path) > _MAX_PATH:
        raise InvalidPath(f"path is longer than {_MAX_PATH} characters")
    if path.startswith("/") or "\\" in path:
        raise InvalidPath(f"invalid path {visible(path)!r}: absolute paths and backslashes are refused")
    hidden = hidden_characters(path)
    if hidden:
        # Bidi overrides, zero-width and control characters make a name look like another one.
        raise InvalidPath(
            f"invalid path {visible(path)!r}: it contains invisible or control characters "
            f"({', '.join(hidden)}), which hubgate refuses"
        )
    segments = path.rstrip("/").split("/") if allow_empty else path.split("/")
    for segment in segments:
        # A second decoding catches double-encoded traversal such as %252e%252e.
        if segment in ("", ".", "..") or unquote(segment) in (".", ".."):
            raise InvalidPath(f"invalid path {path!r}: empty, '.' and '..' segments are refused")
    return path.rstrip("/") if allow_empty else path
