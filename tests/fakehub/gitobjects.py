"""Real git object ids for fake commits, so every sha the fake shows is one git itself would compute."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

FILE_MODE = b"100644"
TREE_MODE = b"40000"
_AUTHOR = b"Fake Hub <fakehub@example.invalid>"


def _object_id(kind: bytes, payload: bytes) -> str:
    return hashlib.sha1(kind + b" " + str(len(payload)).encode() + b"\0" + payload).hexdigest()


def blob_id(content: bytes) -> str:
    return _object_id(b"blob", content)


def tree_ids(file_ids: Mapping[str, str]) -> dict[str, str]:
    """The git tree id of every directory ("" is the root) holding files `path -> blob id`."""
    children: dict[str, dict[bytes, tuple[bytes, str]]] = {"": {}}
    for path, oid in file_ids.items():
        parts = path.split("/")
        for depth in range(1, len(parts)):
            children.setdefault("/".join(parts[:depth]), {})
        parent = "/".join(parts[:-1])
        children[parent][parts[-1].encode()] = (FILE_MODE, oid)
    ids: dict[str, str] = {}
    # Deepest directories first: a tree's id depends on the ids of its subtrees.
    for directory in sorted(children, key=lambda d: d.count("/") + (d != ""), reverse=True):
        entries = children[directory]
        if directory:
            parent, _, own_name = directory.rpartition("/")
            children[parent][own_name.encode()] = (TREE_MODE, "")  # id filled in when the parent is hashed
        for name, (mode, _) in list(entries.items()):
            if mode == TREE_MODE:
                sub = f"{directory}/{name.decode()}" if directory else name.decode()
                entries[name] = (TREE_MODE, ids[sub])
        ids[directory] = _tree_id(entries)
    return ids


def _tree_id(entries: Mapping[bytes, tuple[bytes, str]]) -> str:
    # git orders tree entries by name, comparing a directory as if its name ended with "/".
    def order(name: bytes) -> bytes:
        return name + b"/" if entries[name][0] == TREE_MODE else name

    payload = b"".join(
        entries[name][0] + b" " + name + b"\0" + bytes.fromhex(entries[name][1])
        for name in sorted(entries, key=order)
    )
    return _object_id(b"tree", payload)


def commit_id(*, tree: str, parents: tuple[str, ...], message: str, date: datetime) -> str:
    stamp = f"{int(date.timestamp())} +0000".encode()
    lines = [b"tree " + tree.encode()]
    lines += [b"parent " + parent.encode() for parent in parents]
    lines += [b"author " + _AUTHOR + b" " + stamp, b"committer " + _AUTHOR + b" " + stamp]
    payload = b"\n".join(lines) + b"\n\n" + message.encode() + b"\n"
    return _object_id(b"commit", payload)
