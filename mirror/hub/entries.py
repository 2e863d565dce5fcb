"""Reading file entries out of the Hub's tree, paths-info and repo-info JSON, defensively."""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from storage.records import FileEntry

_SHA1 = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def entry_from_tree_item(item: Any) -> FileEntry | None:
    """A FileEntry from a tree/paths-info item, or None for directories and malformed items."""
    if not isinstance(item, dict) or item.get("type") != "file":
        return None
    return _entry(item.get("path"), item.get("size"), item.get("oid"), item.get("lfs"))


def entry_from_sibling(item: Any) -> FileEntry | None:
    """A FileEntry from a repo-info sibling (present only with blobs=true)."""
    if not isinstance(item, dict):
        return None
    return _entry(item.get("rfilename"), item.get("size"), item.get("blobId"), item.get("lfs"))


def _entry(path: Any, size: Any, oid: Any, lfs: Any) -> FileEntry | None:
    if not isinstance(path, str) or not path or not isinstance(oid, str) or not _SHA1.fullmatch(oid):
        return None
    if isinstance(lfs, dict):
        sha256 = lfs.get("oid") or lfs.get("sha256")
        lfs_size = lfs.get("size")
        pointer = lfs.get("pointerSize") or lfs.get("pointer_size")
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256) or not _is_size(lfs_size):
            return None
        return FileEntry(
            path=path,
            size=lfs_size,
            git_oid=oid,
            lfs_sha256=sha256,
            lfs_pointer_size=pointer if _is_size(pointer) else None,
        )
    if not _is_size(size):
        return None
    return FileEntry(path=path, size=size, git_oid=oid)


def _is_size(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
