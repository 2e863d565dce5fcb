"""Which repo a URL's repo id names: exact ids, case variants, and aliases of renamed or legacy repos.

What huggingface.co does:
- Renamed repos keep answering under their old id, and the legacy one-segment ids of the first models
  (`gpt2`, `bert-base-uncased`) now name `openai-community/gpt2` and `google-bert/bert-base-uncased`.
  The Hub answers such a request with a relative `307` to the same URL under the canonical id.
  huggingface_hub follows these and only these (`file_download.py`, `_request_wrapper(
  follow_relative_redirects=True)`: "relative redirection (redirection to the same site) ... Useful when
  we want to follow a redirection to a renamed repository without following redirection to a CDN";
  in 2.x `utils/_http.py` `_httpx2_follow_hub_redirects_with_backoff`).
- Repo ids match without regard to case: on `/api/` the answer is the canonical repo's (its info carries
  the canonical `id`); on `/resolve/` a case variant gets the same relative 307 to the canonical spelling.

`RepoDirectory` holds the repos of a FakeHub and these aliases. Ids are unique case-insensitively, and an
alias may not shadow a repo. Thread-safe: tests rename repos while the servers look them up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from tests.fakehub import errors
from tests.fakehub.repo import FakeRepo, RepoType
from tests.fakehub.routing import split_repo_id

MatchKind = Literal["exact", "case", "alias"]


@dataclass(frozen=True)
class RepoMatch:
    """The repo a requested id names, and how it was named (`exact`, a `case` variant, or an `alias`)."""

    repo: FakeRepo
    kind: MatchKind

    @property
    def canonical_id(self) -> str:
        return self.repo.repo_id


def _fold(repo_type: RepoType, repo_id: str) -> tuple[RepoType, str]:
    return (repo_type, repo_id.lower())


def _validate(repo_id: str) -> None:
    try:
        split_repo_id(repo_id)
    except errors.HubError as error:
        raise ValueError(error.message) from error


class RepoDirectory:
    """Repos by (type, id) plus aliases; every lookup and change holds one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repos: dict[tuple[RepoType, str], FakeRepo] = {}  # by case-folded key
        self._aliases: dict[tuple[RepoType, str], tuple[str, str]] = {}  # folded -> (alias, canonical)

    def add(self, repo: FakeRepo) -> FakeRepo:
        """Add or replace a repo. A new repo may take an alias's id: the repo wins, the alias goes (on the
        Hub, creating a repo under a renamed repo's old name ends the redirect)."""
        key = _fold(repo.repo_type, repo.repo_id)
        with self._lock:
            existing = self._repos.get(key)
            if existing is not None and existing.repo_id != repo.repo_id:
                raise ValueError(f"{repo.repo_id!r} differs only in case from {existing.repo_id!r}")
            self._aliases.pop(key, None)
            self._repos[key] = repo
        return repo

    def remove(self, repo_type: RepoType, repo_id: str) -> None:
        """Delete a repo (exact id) and every alias that named it."""
        with self._lock:
            key = _fold(repo_type, repo_id)
            repo = self._repos.get(key)
            if repo is None or repo.repo_id != repo_id:
                return
            del self._repos[key]
            self._drop_aliases_of(repo_type, repo_id)

    def get(self, repo_type: RepoType, repo_id: str) -> FakeRepo | None:
        """The repo with exactly this id (no case folding, no aliases)."""
        with self._lock:
            repo = self._repos.get(_fold(repo_type, repo_id))
        return repo if repo is not None and repo.repo_id == repo_id else None

    def lookup(self, repo_type: RepoType, repo_id: str) -> RepoMatch | None:
        """The repo this id names: exactly, by case, or through an alias (matched case-insensitively)."""
        key = _fold(repo_type, repo_id)
        with self._lock:
            repo = self._repos.get(key)
            if repo is not None:
                return RepoMatch(repo, "exact" if repo.repo_id == repo_id else "case")
            alias = self._aliases.get(key)
            if alias is None:
                return None
            target = self._repos.get(_fold(repo_type, alias[1]))
        return RepoMatch(target, "alias") if target is not None else None

    def all(self) -> tuple[FakeRepo, ...]:
        with self._lock:
            return tuple(self._repos.values())

    def aliases(self, repo_type: RepoType) -> dict[str, str]:
        """`alias -> canonical id` for one repo type."""
        with self._lock:
            return {
                alias: canonical
                for (kind, _), (alias, canonical) in self._aliases.items()
                if kind == repo_type
            }

    def add_alias(self, repo_type: RepoType, alias_id: str, canonical_id: str) -> None:
        """`alias_id` (e.g. legacy `gpt2`) now names the existing repo `canonical_id` (its exact id)."""
        _validate(alias_id)
        with self._lock:
            target = self._repos.get(_fold(repo_type, canonical_id))
            if target is None or target.repo_id != canonical_id:
                raise KeyError(f"no {repo_type} repo {canonical_id!r} to alias")
            key = _fold(repo_type, alias_id)
            if key in self._repos:
                raise ValueError(f"alias {alias_id!r} collides with the repo {self._repos[key].repo_id!r}")
            self._aliases[key] = (alias_id, canonical_id)

    def rename(self, repo_type: RepoType, old_id: str, new_id: str) -> FakeRepo:
        """Move the repo `old_id` to `new_id`; `old_id` and the repo's earlier aliases redirect to it."""
        _validate(new_id)
        with self._lock:
            old_key, new_key = _fold(repo_type, old_id), _fold(repo_type, new_id)
            repo = self._repos.get(old_key)
            if repo is None or repo.repo_id != old_id:
                raise KeyError(f"no {repo_type} repo {old_id!r} to rename")
            clash = self._repos.get(new_key)
            if clash is not None and clash is not repo:
                raise ValueError(f"cannot rename {old_id!r} to {new_id!r}: that repo exists")
            del self._repos[old_key]
            repo.repo_id = new_id
            self._repos[new_key] = repo
            # Earlier aliases follow the repo; the new id cannot stay an alias of itself.
            for key, (alias, canonical) in list(self._aliases.items()):
                if key[0] == repo_type and canonical == old_id:
                    self._aliases[key] = (alias, new_id)
            self._aliases.pop(new_key, None)
            if old_key != new_key:
                self._aliases[old_key] = (old_id, new_id)
            return repo

    def _drop_aliases_of(self, repo_type: RepoType, repo_id: str) -> None:
        for key, (_, canonical) in list(self._aliases.items()):
            if key[0] == repo_type and canonical == repo_id:
                del self._aliases[key]
