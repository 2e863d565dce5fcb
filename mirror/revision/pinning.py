"""Approved-revision pinning: a branch or tag of a pinned repo resolves to its newest approved commit.

Upstream moving `main` must not hand developers files nobody has reviewed yet. For a pinned repo
(by policy glob or `hubgate pin org/repo --approved`), a ref resolves to the newest commit that passed
review: the revision gates (repo, licence, signature) admit it and every file of it is stored with a
servable verdict. Upstream's newer commit is reviewed in the background (fetched, verified, scanned,
as a prefetch would) and becomes what clients get once it is approved, automatically if it is clean or
after a reviewer's decision if not. Until then clients get the older commit and an `X-HF-Warning`.

A ref seen for the first time has no approved commit to fall back on: it resolves as usual and the gate
judges each file, while the background review makes that commit the pin once it passes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cachetools import TTLCache

from mirror.hub.catalog import Catalog
from mirror.hub.models import Credentials, RepoRef, is_commit
from mirror.hub.refs import DEFAULT_BRANCH
from mirror.policy.engine import PolicyEngine
from mirror.revision.approval import RevisionApproval
from mirror.revision.prefetch import Prefetcher
from storage.approved_pins import ApprovedPinStore

log = logging.getLogger(__name__)
# How long a "not pinned" or "not approved yet" answer is trusted before it is looked up again: pins set
# by the CLI or another replica, and decisions made by reviewers, take effect within this time.
RECHECK_S = 5.0


@dataclass(frozen=True, slots=True)
class Hold:
    commit: str  # the commit clients get
    held_back: str | None  # upstream's newer commit of the ref that has not passed review yet

    def warning(self, repo: RepoRef, revision: str | None) -> str | None:
        if self.held_back is None:
            return None
        ref = revision or "the default branch"
        return (
            f"hubgate; {ref} of {repo} is pinned to its newest approved commit {self.commit[:12]}; "
            f"upstream's {self.held_back[:12]} is being reviewed"
        )


class ApprovedPinning:
    def __init__(
        self,
        *,
        policy: PolicyEngine,
        store: ApprovedPinStore,
        catalog: Catalog,
        approval: RevisionApproval,
        prefetcher: Prefetcher,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self._policy = policy
        self._store = store
        self._catalog = catalog
        self._approval = approval
        self._prefetcher = prefetcher
        self._pinned: TTLCache[RepoRef, bool] = TTLCache(maxsize=10_000, ttl=recheck_s)
        self._not_approved: TTLCache[tuple[RepoRef, str], bool] = TTLCache(maxsize=10_000, ttl=recheck_s)
        self._reviewing: dict[tuple[RepoRef, str], asyncio.Task[None]] = {}

    async def hold(self, repo: RepoRef, revision: str | None, credentials: Credentials) -> Hold | None:
        """The commit a client asking for `revision` gets, or None when pinning does not apply."""
        if revision is not None and is_commit(revision):
            return None
        if not await self.is_pinned(repo):
            return None
        resolved = await self._catalog.resolve(repo, revision, credentials, reading_files=False)
        upstream = resolved.commit
        if revision is not None and upstream.startswith(revision):
            return None  # a short commit: the client named the commit itself
        ref = revision if revision is not None else DEFAULT_BRANCH
        approved = await self._store.approved_commit(repo.key, ref)
        if approved == upstream:
            return Hold(upstream, None)
        if resolved.stale:
            # Upstream is unreachable: its newest commit is not known, the approved one still stands.
            return None if approved is None else Hold(approved, None)
        if await self._passed_review(repo, upstream, credentials) and await self._store.record_approved(
            repo.key, ref, upstream
        ):
            return Hold(upstream, None)
        self._review_in_background(repo, ref, upstream, credentials)
        return None if approved is None else Hold(approved, held_back=upstream)

    async def is_pinned(self, repo: RepoRef) -> bool:
        if self._policy.pins_to_approved(repo):
            return True
        cached = self._pinned.get(repo)
        if cached is None:
            cached = self._pinned[repo] = await self._store.is_pinned(repo.key)
        return cached

    async def _passed_review(self, repo: RepoRef, commit: str, credentials: Credentials) -> bool:
        if (repo, commit) in self._not_approved:
            return False
        if await self._approval.approved_files(repo, commit, credentials) is None:
            self._not_approved[(repo, commit)] = True
            return False
        return True

    def _review_in_background(self, repo: RepoRef, ref: str, commit: str, credentials: Credentials) -> None:
        key = (repo, commit)
        if key in self._reviewing:
            return
        task = asyncio.ensure_future(self._review(repo, ref, commit, credentials))
        self._reviewing[key] = task
        task.add_done_callback(lambda _: self._reviewing.pop(key, None))

    async def _review(self, repo: RepoRef, ref: str, commit: str, credentials: Credentials) -> None:
        try:
            job = await self._prefetcher.wait(self._prefetcher.start(repo, commit, credentials))
            self._not_approved.pop((repo, commit), None)
            if await self._passed_review(repo, commit, credentials):
                await self._store.record_approved(repo.key, ref, commit)
                log.info("%s@%s (%s) passed review: clients now get it", repo, commit[:12], ref)
            else:
                log.info("%s@%s (%s) awaits review (prefetch %s: %s)", repo, commit, ref, job.id, job.state)
        except Exception:
            # A background job must not die silently; the next request starts the review again.
            log.exception("reviewing %s@%s for approved-revision pinning failed", repo, commit)

    async def drain(self) -> None:
        tasks = list(self._reviewing.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
