"""`FakeRepo`: a repo's commit history, refs and visibility settings, mutable at run time."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

from tests.fakehub.files import FakeFile
from tests.fakehub.gitobjects import commit_id, tree_ids

RepoType = Literal["model", "dataset", "space"]
Gating = Literal[False, "auto", "manual"]
REPO_TYPES: tuple[RepoType, ...] = ("model", "dataset", "space")

DEFAULT_BRANCH = "main"
FIRST_COMMIT_DATE = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
_COMMIT_SPACING = timedelta(hours=1)
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA = re.compile(r"[0-9a-f]{7,39}")
_PR_REF = re.compile(r"refs/pr/([1-9][0-9]*)")


@dataclass(frozen=True)
class Commit:
    """A full snapshot: every file of the repo at this commit, and the git tree id of every directory."""

    sha: str
    parents: tuple[str, ...]
    files: Mapping[str, FakeFile]
    trees: Mapping[str, str]
    title: str
    date: datetime

    @staticmethod
    def build(
        files: Mapping[str, FakeFile], *, parents: tuple[str, ...], title: str, date: datetime
    ) -> Commit:
        trees = tree_ids({path: f.git_oid for path, f in files.items()})
        sha = commit_id(tree=trees[""], parents=parents, message=title, date=date)
        return Commit(
            sha=sha,
            parents=parents,
            files=MappingProxyType(dict(sorted(files.items()))),
            trees=MappingProxyType(trees),
            title=title,
            date=date,
        )

    def is_directory(self, path: str) -> bool:
        return path in self.trees

    @cached_property
    def children(self) -> Mapping[str, tuple[str, ...]]:
        """Full paths of the entries directly in each directory, in git's order (a directory sorts as
        if its name ended with "/")."""
        listing: dict[str, list[str]] = {directory: [] for directory in self.trees}
        for path in (*self.files, *(d for d in self.trees if d)):
            listing[path.rpartition("/")[0]].append(path)
        return MappingProxyType(
            {
                directory: tuple(sorted(paths, key=lambda p: p + "/" if p in self.trees else p))
                for directory, paths in listing.items()
            }
        )

    def walk(self, directory: str, *, recursive: bool) -> tuple[str, ...]:
        """Paths under `directory`: its entries, or every file and directory below it depth-first."""
        if not recursive:
            return self.children[directory]
        ordered: list[str] = []
        stack = list(reversed(self.children[directory]))
        while stack:
            path = stack.pop()
            ordered.append(path)
            if path in self.trees:
                stack.extend(reversed(self.children[path]))
        return tuple(ordered)

    def entry_oid(self, path: str) -> str | None:
        """Git id of a file or directory at `path`, None when absent ("" is the root tree)."""
        found = self.files.get(path)
        return found.git_oid if found is not None else self.trees.get(path)


@dataclass(frozen=True)
class ResolvedRevision:
    """A revision as the user wrote it, and the commit it points to now."""

    name: str
    commit: Commit


@dataclass
class RepoSettings:
    """Metadata the Hub shows about a repo besides its files. Mutable: tests flip gates and privacy."""

    private: bool = False
    gated: Gating = False
    disabled: bool = False
    # Tokens that may read a private repo, or that accepted the conditions of a gated one.
    allowed_tokens: set[str] = field(default_factory=set)
    card_data: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    library_name: str | None = None
    pipeline_tag: str | None = None
    downloads: int = 0
    likes: int = 0
    created_at: datetime = FIRST_COMMIT_DATE
    # Paths the Hub's own scanner reports as unsafe in `securityFileStatus` (expand=true listings).
    unsafe_paths: set[str] = field(default_factory=set)


class FakeRepo:
    """A repo of the fake Hub.

    `files` become the first commit of `main`. Later changes go through `push` (moves a branch),
    `create_branch`, `create_tag` and `open_pull_request` (creates `refs/pr/N`). Safe to call from the
    test thread while the server runs: a commit is fully built before a ref points to it.
    """

    def __init__(
        self,
        repo_id: str,
        files: Iterable[FakeFile] = (),
        *,
        repo_type: RepoType = "model",
        settings: RepoSettings | None = None,
        message: str = "Initial commit",
    ) -> None:
        if repo_type not in REPO_TYPES:
            raise ValueError(f"unknown repo type {repo_type!r}")
        # Mutable only through FakeHub.rename, which keeps the hub's index in step.
        self.repo_id = repo_id
        self.repo_type: RepoType = repo_type
        # Fixed at creation: the Hub's database id survives a rename.
        self._object_id = hashlib.sha1(f"{repo_type}:{repo_id}".encode()).hexdigest()[:24]
        self.settings = settings or RepoSettings()
        self._lock = threading.Lock()
        self._commits: dict[str, Commit] = {}
        self._branches: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._pull_requests: dict[int, str] = {}
        first = self._new_commit({f.path: f for f in files}, parents=(), title=message)
        self._branches[DEFAULT_BRANCH] = first.sha

    # -- identity -------------------------------------------------------------------------------

    @property
    def key(self) -> tuple[RepoType, str]:
        return (self.repo_type, self.repo_id)

    @property
    def author(self) -> str | None:
        namespace, separator, _ = self.repo_id.partition("/")
        return namespace if separator else None

    @property
    def object_id(self) -> str:
        """The 24-hex database id the Hub returns as `_id` (kept across renames)."""
        return self._object_id

    # -- history ----------------------------------------------------------------------------------

    @property
    def head(self) -> Commit:
        return self._commits[self._branches[DEFAULT_BRANCH]]

    @property
    def branches(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self._branches))

    @property
    def tags(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self._tags))

    @property
    def pull_requests(self) -> Mapping[int, str]:
        return MappingProxyType(dict(self._pull_requests))

    def commit(self, sha: str) -> Commit:
        return self._commits[sha]

    def commits(self) -> tuple[Commit, ...]:
        return tuple(self._commits.values())

    def push(
        self,
        files: Iterable[FakeFile] = (),
        *,
        branch: str = DEFAULT_BRANCH,
        delete: Iterable[str] = (),
        replace: bool = False,
        message: str = "Update files",
    ) -> Commit:
        """Commit on top of `branch` (created from main if new) and move the branch to the commit.

        `files` are added or overwritten; `delete` removes paths; `replace=True` drops every file
        not in `files`.
        """
        with self._lock:
            parent = self._commits[self._branches.get(branch, self._branches[DEFAULT_BRANCH])]
            commit = self._child_commit(parent, files, delete=delete, replace=replace, message=message)
            self._branches[branch] = commit.sha
            return commit

    def create_branch(self, name: str, *, revision: str = DEFAULT_BRANCH) -> Commit:
        return self._point_ref(self._branches, name, revision)

    def create_tag(self, name: str, *, revision: str = DEFAULT_BRANCH) -> Commit:
        return self._point_ref(self._tags, name, revision)

    def open_pull_request(
        self,
        files: Iterable[FakeFile] = (),
        *,
        base: str = DEFAULT_BRANCH,
        delete: Iterable[str] = (),
        message: str = "Pull request",
    ) -> int:
        """Commit on top of `base` without moving it; the commit becomes `refs/pr/<number>`."""
        with self._lock:
            parent = self._require(base)
            commit = self._child_commit(parent, files, delete=delete, replace=False, message=message)
            number = max(self._pull_requests, default=0) + 1
            self._pull_requests[number] = commit.sha
            return number

    def resolve(self, revision: str) -> ResolvedRevision | None:
        """Branch, tag, `refs/heads/..`, `refs/tags/..`, `refs/pr/N`, or a full or short (>= 7) commit."""
        sha = self._lookup(revision)
        return ResolvedRevision(name=revision, commit=self._commits[sha]) if sha is not None else None

    def last_change(self, commit: Commit, path: str) -> Commit:
        """The most recent commit, up to `commit`, that changed the file or directory at `path`."""
        oid = commit.entry_oid(path)
        current = commit
        while current.parents:
            parent = self._commits[current.parents[0]]
            if parent.entry_oid(path) != oid:
                return current
            current = parent
        return current

    # -- internals ------------------------------------------------------------------------------

    def _lookup(self, revision: str) -> str | None:
        for prefix, refs in (("refs/heads/", self._branches), ("refs/tags/", self._tags)):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs:
                return refs[revision[len(prefix) :]]
        if revision in self._branches:
            return self._branches[revision]
        if revision in self._tags:
            return self._tags[revision]
        if match := _PR_REF.fullmatch(revision):
            return self._pull_requests.get(int(match.group(1)))
        if _FULL_SHA.fullmatch(revision):
            return revision if revision in self._commits else None
        if _SHORT_SHA.fullmatch(revision):
            # tuple() snapshots the keys atomically: the test thread may be pushing meanwhile.
            candidates = [sha for sha in tuple(self._commits) if sha.startswith(revision)]
            return candidates[0] if len(candidates) == 1 else None
        return None

    def _require(self, revision: str) -> Commit:
        resolved = self.resolve(revision)
        if resolved is None:
            raise KeyError(f"{self.repo_id}: unknown revision {revision!r}")
        return resolved.commit

    def _point_ref(self, refs: dict[str, str], name: str, revision: str) -> Commit:
        with self._lock:
            commit = self._require(revision)
            refs[name] = commit.sha
            return commit

    def _child_commit(
        self,
        parent: Commit,
        files: Iterable[FakeFile],
        *,
        delete: Iterable[str],
        replace: bool,
        message: str,
    ) -> Commit:
        snapshot = {} if replace else dict(parent.files)
        for path in delete:
            snapshot.pop(path, None)
        snapshot.update({f.path: f for f in files})
        return self._new_commit(snapshot, parents=(parent.sha,), title=message)

    def _new_commit(self, files: dict[str, FakeFile], *, parents: tuple[str, ...], title: str) -> Commit:
        # Dates advance by a fixed step per commit so ids stay deterministic from run to run.
        date = FIRST_COMMIT_DATE + _COMMIT_SPACING * len(self._commits)
        commit = Commit.build(files, parents=parents, title=title, date=date)
        self._commits[commit.sha] = commit
        return commit
