"""`FakeHub`: the state both fake servers answer from (repos, users, switches, request log, faults)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping

from tests.fakehub.faults import FaultBook
from tests.fakehub.files import FakeFile
from tests.fakehub.repo import FakeRepo, RepoType
from tests.fakehub.requestlog import RequestLog

# The Hub caps tree pages at 1000 entries, and at 50 when `expand=true` asks for the costly fields.
TREE_PAGE_SIZE = 1000
TREE_EXPAND_PAGE_SIZE = 50


class FakeHub:
    """Repos by (type, id), known tokens (`token -> user name`), and the knobs tests turn.

    `xet_hints`: send what the real Hub sends for Xet-backed LFS files (`X-Xet-Hash`, the `xet-auth` and
    `xet-reconstruction-info` links on resolve, `xetHash` in tree and paths-info). With `hf_xet`
    installed the real client then leaves HTTP for Xet, so turn it off to drive the client directly.
    """

    def __init__(
        self,
        repos: Iterable[FakeRepo] = (),
        *,
        users: Mapping[str, str] | None = None,
        xet_hints: bool = True,
        tree_page_size: int = TREE_PAGE_SIZE,
        tree_expand_page_size: int = TREE_EXPAND_PAGE_SIZE,
    ) -> None:
        self._repos: dict[tuple[RepoType, str], FakeRepo] = {}
        self.users: dict[str, str] = dict(users or {})
        self.xet_hints = xet_hints
        self.tree_page_size = tree_page_size
        self.tree_expand_page_size = tree_expand_page_size
        self.log = RequestLog()
        self.faults = FaultBook()
        # Signs CDN URLs, so the CDN can refuse URLs the Hub did not hand out (as presigned URLs do).
        self.cdn_secret = secrets.token_bytes(32)
        for repo in repos:
            self.add(repo)

    def add(self, repo: FakeRepo) -> FakeRepo:
        self._repos[repo.key] = repo
        return repo

    def remove(self, repo_type: RepoType, repo_id: str) -> None:
        self._repos.pop((repo_type, repo_id), None)

    def repo(self, repo_id: str, repo_type: RepoType = "model") -> FakeRepo:
        """The repo, or KeyError: for test code that knows it exists."""
        return self._repos[(repo_type, repo_id)]

    def find_repo(self, repo_type: RepoType, repo_id: str) -> FakeRepo | None:
        return self._repos.get((repo_type, repo_id))

    @property
    def repos(self) -> tuple[FakeRepo, ...]:
        return tuple(self._repos.values())

    def add_user(self, token: str, name: str) -> None:
        self.users[token] = name

    def find_lfs_file(self, sha256: str) -> FakeFile | None:
        """Any LFS file with this content, in any commit of any repo (what the CDN stores)."""
        for repo in self.repos:
            for commit in repo.commits():
                for file in commit.files.values():
                    if file.lfs and file.sha256 == sha256:
                        return file
        return None

    def reset(self) -> None:
        """Forget recorded requests and injected faults (between tests sharing one hub)."""
        self.log.clear()
        self.faults.clear()
