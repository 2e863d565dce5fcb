"""Resource names and the ignore rules that decide which repository files a signature must cover.

The rule, as model_signing 1.1.1 applies it when verifying (`verifying.Config.verify`,
`hashing.Config.hash`, `_serialization.serialization.should_ignore`, and the CLI's `verify` commands):

- always ignored, at the model root only: `.git`, `.gitattributes`, `.github`, `.gitignore`
  (`hashing.Config(ignore_git_paths=True)`, the CLI default `--ignore-git-paths`);
- the signature file itself (the CLI adds `--signature` to the ignored paths);
- every path listed in the signed predicate's `serialization.ignore_paths`
  (`verifying.Config.verify` -> `add_ignored_paths`).

A path is ignored when it equals an ignored path or lies below it (`PurePath.is_relative_to`, so the
match is per path component: ignoring `.git` ignores `.git/config` but not `.gitkeep`). Ignored files
are neither hashed nor compared; every other file must be signed, and every signed file must exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from mirror.provenance.errors import BundleFormatError

GIT_IGNORED_PATHS: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")
DEFAULT_SIGNATURE_PATH = "model.sig"
MAX_PATH_LENGTH = 4096


def check_relative_path(name: str, where: str) -> str:
    """Return `name` if it is a normalised relative POSIX path inside the model, else raise.

    Rejected: empty, absolute, `.`/`..` or empty components (so no `a//b`, `./a`, `a/`), backslashes
    (Windows separators that could traverse elsewhere), NUL and other control characters.
    """
    if not name:
        raise BundleFormatError(f"{where}: empty path")
    if len(name) > MAX_PATH_LENGTH:
        raise BundleFormatError(f"{where}: path longer than {MAX_PATH_LENGTH} characters")
    if name.startswith("/"):
        raise BundleFormatError(f"{where}: absolute path {name!r}")
    if "\\" in name:
        raise BundleFormatError(f"{where}: backslash in path {name!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise BundleFormatError(f"{where}: control character in path {name!r}")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise BundleFormatError(f"{where}: path {name!r} is not a normalised relative path")
    return name


def is_under(path: str, prefix: str) -> bool:
    """`path` equals `prefix` or lies below it, comparing whole components."""
    return path == prefix or path.startswith(prefix + "/")


def ignored_paths(
    signature_path: str = DEFAULT_SIGNATURE_PATH, signed_ignore_paths: Iterable[str] = ()
) -> tuple[str, ...]:
    """Every ignore prefix in force for one verification (git paths, the signature, the signed list)."""
    seen: dict[str, None] = dict.fromkeys((*GIT_IGNORED_PATHS, signature_path, *signed_ignore_paths))
    return tuple(seen)


def is_ignored(path: str, ignore: Iterable[str]) -> bool:
    return any(is_under(path, prefix) for prefix in ignore)
