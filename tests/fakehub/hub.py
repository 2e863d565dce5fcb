"""`FakeHub`: the state both fake servers answer from (repos, aliases, users, switches, request log,
faults, rate-limit windows, browser sessions).

Public API beyond repos and users (all safe to call from the test thread while the servers run):

    FakeHub(repos, *, users=None, xet_hints=True, compress=True, rate_limits=RateLimits(),
            tree_page_size=1000, tree_expand_page_size=50)
    hub.compress = False                     # CDN compression off (see compression.py)
    hub.rate_limiter.reset()                 # open every rate-limit window (see ratelimit.py)
    hub.rate_limiter.configure(RateLimits(api=3, window_s=2))   # or None: off
    hub.rename("model", "acme/old", "acme/new")      # old id answers a relative 307 (see aliases.py)
    hub.remove("model", "acme/x")                    # deleted: RepoNotFound from then on (see below)
    hub.make_private("acme/x"); hub.make_gated("acme/x", "manual")   # at runtime, as owners do
    hub.add_alias("model", "gpt2", "openai-community/gpt2")
    hub.lookup("model", "ACME/New")          # RepoMatch(repo, kind="case") or None
    hub.sessions                             # hf_session cookies handed out (see cookies.py)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Literal

from tests.fakehub.aliases import RepoDirectory, RepoMatch
from tests.fakehub.cookies import SessionBook
from tests.fakehub.faults import FaultBook
from tests.fakehub.files import FakeFile
from tests.fakehub.ratelimit import RateLimiter, RateLimits
from tests.fakehub.repo import FakeRepo, RepoType
from tests.fakehub.requestlog import RequestLog

# The Hub caps tree pages at 1000 entries, and at 50 when `expand=true` asks for the costly fields.
TREE_PAGE_SIZE = 1000
TREE_EXPAND_PAGE_SIZE = 50
# The real Hub's anonymous (per IP) and free-tier (per user) quotas; see ratelimit.py.
HUB_DEFAULT_RATE_LIMITS = RateLimits()


class FakeHub:
    """Repos by (type, id), known tokens (`token -> user name`), and the knobs tests turn.

    `xet_hints`: send what the real Hub sends for Xet-backed LFS files (`X-Xet-Hash`, the `xet-auth` and
    `xet-reconstruction-info` links on resolve, `xetHash` in tree and paths-info). With `hf_xet`
    installed the real client then leaves HTTP for Xet, so turn it off to drive the client directly.

    `compress`: gzip JSON and text answers for clients whose Accept-Encoding allows it, as the Hub's CDN
    does (on by default). `rate_limits`: the Hub's per-IP / per-user fixed windows, by default at the real
    Hub's anonymous and free-tier quotas; `None` or `RateLimits.off()` turns them off.
    """

    def __init__(
        self,
        repos: Iterable[FakeRepo] = (),
        *,
        users: Mapping[str, str] | None = None,
        xet_hints: bool = True,
        compress: bool = True,
        rate_limits: RateLimits | None = HUB_DEFAULT_RATE_LIMITS,
        tree_page_size: int = TREE_PAGE_SIZE,
        tree_expand_page_size: int = TREE_EXPAND_PAGE_SIZE,
    ) -> None:
        self._directory = RepoDirectory()
        self.users: dict[str, str] = dict(users or {})
        self.xet_hints = xet_hints
        self.compress = compress
        self.rate_limiter = RateLimiter(rate_limits)
        self.sessions = SessionBook()
        self.tree_page_size = tree_page_size
        self.tree_expand_page_size = tree_expand_page_size
        self.log = RequestLog()
        self.faults = FaultBook()
        # Signs CDN URLs, so the CDN can refuse URLs the Hub did not hand out (as presigned URLs do).
        self.cdn_secret = secrets.token_bytes(32)
        for repo in repos:
            self.add(repo)

    def add(self, repo: FakeRepo) -> FakeRepo:
        """Add (or replace) a repo; ValueError if its id differs only in case from another repo's."""
        return self._directory.add(repo)

    def remove(self, repo_type: RepoType, repo_id: str) -> None:
        """Delete a repo and the aliases that named it.

        Every request for it then answers as huggingface.co answers a missing repository: `RepoNotFound`
        in `X-Error-Code`, 401 to anonymous callers and 404 to authenticated ones, the same as a private
        repository the caller may not read (errors.repo_not_found; huggingface_hub `utils/_http.py`
        `hf_raise_for_status`: "401 is misleading as it is returned for: private and gated repos if user
        is not authenticated, missing repos")."""
        self._directory.remove(repo_type, repo_id)

    def make_private(self, repo_id: str, repo_type: RepoType = "model") -> FakeRepo:
        """The owner makes the repo private: callers not in `allowed_tokens` get `RepoNotFound` exactly as
        for a deleted repo (access.readable_repo); its info says `"private": true` to those who may."""
        repo = self.repo(repo_id, repo_type)
        repo.settings.private = True
        return repo

    def make_gated(
        self, repo_id: str, mode: Literal["auto", "manual"] = "auto", repo_type: RepoType = "model"
    ) -> FakeRepo:
        """The owner gates the repo: its info stays public (with `"gated": mode`), its files and auth-check
        answer `GatedRepo` (401 anonymous, 403 authenticated) to callers who have not accepted the terms
        (access.check_download; huggingface_hub maps the code to GatedRepoError)."""
        repo = self.repo(repo_id, repo_type)
        repo.settings.gated = mode
        return repo

    def repo(self, repo_id: str, repo_type: RepoType = "model") -> FakeRepo:
        """The repo with exactly this id, or KeyError: for test code that knows it exists."""
        found = self._directory.get(repo_type, repo_id)
        if found is None:
            raise KeyError((repo_type, repo_id))
        return found

    def find_repo(self, repo_type: RepoType, repo_id: str) -> FakeRepo | None:
        """The repo with exactly this (canonical) id; aliases and case variants are not followed."""
        return self._directory.get(repo_type, repo_id)

    def lookup(self, repo_type: RepoType, repo_id: str) -> RepoMatch | None:
        """The repo a requested id names: exactly, as a case variant, or through an alias."""
        return self._directory.lookup(repo_type, repo_id)

    def rename(self, repo_type: RepoType, old_id: str, new_id: str) -> FakeRepo:
        """Rename a repo; `old_id` stays as an alias (requests by it answer a relative 307)."""
        return self._directory.rename(repo_type, old_id, new_id)

    def add_alias(self, repo_type: RepoType, alias_id: str, canonical_id: str) -> None:
        """A legacy or old id for an existing repo; ValueError if it collides with a repo."""
        self._directory.add_alias(repo_type, alias_id, canonical_id)

    def aliases(self, repo_type: RepoType = "model") -> dict[str, str]:
        """`alias -> canonical id` of one repo type."""
        return self._directory.aliases(repo_type)

    @property
    def repos(self) -> tuple[FakeRepo, ...]:
        return self._directory.all()

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
        """Forget recorded requests, injected faults, rate-limit windows and sessions (between tests
        sharing one hub)."""
        self.log.clear()
        self.faults.clear()
        self.rate_limiter.reset()
        self.sessions.clear()
