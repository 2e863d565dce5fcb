"""Revision resolution: every branch, tag, PR ref or short commit becomes a full commit.

Refs are cached with a short TTL; a full commit needs no lookup. When upstream is down, the last known
commit of a ref is used and the answer says it may be stale. When the Hub answers that the repository is
gone or gated, the last known commit is what continuity (mirror.hub.upstream_state) may serve instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from cachetools import TTLCache

from mirror.errors import MirrorError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from mirror.hub.client import HubClient
from mirror.hub.models import Credentials, RepoRef, RepoType, is_commit
from mirror.hub.upstream_state import ContinuityHooks, refused
from mirror.singleflight import SingleFlight
from storage.queries import utcnow
from storage.records import RepoFlags
from storage.repository import MetadataRepository

# Spaces cannot be gated and the Hub refuses `expand=gated` for them.
_FLAG_FIELDS = {
    RepoType.MODEL: (("expand", "sha"), ("expand", "private"), ("expand", "gated")),
    RepoType.DATASET: (("expand", "sha"), ("expand", "private"), ("expand", "gated")),
    RepoType.SPACE: (("expand", "sha"), ("expand", "private")),
}
DEFAULT_BRANCH = ""  # the ref name under which the default branch's commit is remembered


@dataclass(frozen=True, slots=True)
class Resolved:
    commit: str
    flags: RepoFlags
    stale: bool  # upstream was unreachable and a remembered answer was used
    # The Hub no longer serves the repository and continuity serves this commit hubgate held while it was
    # public: the X-HF-Warning saying so. Such an answer needs no access check (it was public).
    continuity: str | None = None


class RevisionResolver:
    def __init__(
        self,
        *,
        hub: HubClient,
        repository: MetadataRepository,
        ref_ttl_s: float,
        continuity: ContinuityHooks | None = None,
    ) -> None:
        self._hub = hub
        self._continuity = continuity
        self._repository = repository
        self._ttl = timedelta(seconds=ref_ttl_s)
        # Fresh answers are also kept in memory for the same TTL: the hot path then needs no query.
        self._recent: TTLCache[tuple[RepoRef, str | None], Resolved] = TTLCache(maxsize=50_000, ttl=ref_ttl_s)
        self._flights: SingleFlight[tuple[RepoRef, str | None, str], Resolved] = SingleFlight()
        self._public: set[RepoRef] = set()

    async def resolve(self, repo: RepoRef, revision: str | None, credentials: Credentials) -> Resolved:
        """Resolve `revision` (None: the default branch). Raises the upstream's coded errors.

        Answers are shared by every caller within the TTL, and concurrent callers share one upstream call
        (per upstream identity, except for public repositories, whose answers hold for everyone): a
        hundred clients resolving `main` cost one call. Who may read a private or gated repository is
        checked for each caller separately (mirror.hub.access).
        """
        recent = self._recent.get((repo, revision))
        if recent is not None:
            return recent
        sharer = "public" if repo in self._public else credentials.identity
        flight = self._flights.start(
            (repo, revision, sharer), lambda: self._resolve_and_remember(repo, revision, credentials)
        )
        return await asyncio.shield(flight)

    async def _resolve_and_remember(
        self, repo: RepoRef, revision: str | None, credentials: Credentials
    ) -> Resolved:
        resolved = await self._resolve(repo, revision, credentials)
        if not resolved.stale and resolved.continuity is None:
            self._recent[(repo, revision)] = resolved
            if resolved.flags.private or resolved.flags.gated:
                self._public.discard(repo)
            else:
                self._public.add(repo)
        return resolved

    def is_public(self, repo: RepoRef) -> bool:
        """Whether the Hub last said the repository is neither private nor gated (in this process)."""
        return repo in self._public

    async def _resolve(self, repo: RepoRef, revision: str | None, credentials: Credentials) -> Resolved:
        flags = await self._repository.repo_flags(repo.key)
        if revision is not None and is_commit(revision):
            # A commit hubgate does not hold yet is asked about once, so that whether it was public when
            # hubgate got it is the Hub's word about that commit (continuity serves only such revisions).
            if (
                flags is not None
                and self._fresh(flags.checked_at)
                and (self._continuity is None or await self._continuity.holds(repo, revision))
            ):
                return Resolved(commit=revision, flags=flags, stale=False)
            return await self._ask_upstream(
                repo, revision, credentials, fallback_commit=revision, flags=flags
            )
        name = revision if revision is not None else DEFAULT_BRANCH
        ref = await self._repository.get_ref(repo.key, name)
        if (
            ref is not None
            and flags is not None
            and self._fresh(ref.resolved_at)
            and self._fresh(flags.checked_at)
        ):
            return Resolved(commit=ref.commit, flags=flags, stale=False)
        fallback = None if ref is None else ref.commit
        return await self._ask_upstream(repo, revision, credentials, fallback_commit=fallback, flags=flags)

    def _fresh(self, when: datetime | None) -> bool:
        return when is not None and utcnow() - when < self._ttl

    async def _ask_upstream(
        self,
        repo: RepoRef,
        revision: str | None,
        credentials: Credentials,
        *,
        fallback_commit: str | None,
        flags: RepoFlags | None,
    ) -> Resolved:
        path = f"/api/{repo.repo_type.api_segment}/{repo.repo_id}"
        if revision is not None:
            path += f"/revision/{quote(revision, safe='')}"
        try:
            answer = await self._hub.get_json(
                path, params=_FLAG_FIELDS[repo.repo_type], credentials=credentials
            )
        except (UpstreamUnavailable, UpstreamTimeout):
            if fallback_commit is not None and flags is not None:
                return Resolved(commit=fallback_commit, flags=flags, stale=True)
            raise
        except MirrorError as exc:
            return await self._withdrawn(repo, exc, fallback_commit=fallback_commit, flags=flags)
        info = answer.parsed()
        if not isinstance(info, dict) or not is_commit(str(info.get("sha", ""))):
            msg = f"upstream did not say which commit {revision or 'the default branch'} of {repo} is"
            raise UpstreamProtocolError(msg)
        commit = str(info["sha"])
        gated = info.get("gated") or ""
        private = bool(info.get("private", False))
        await self._repository.save_repo_flags(repo.key, private=private, gated=str(gated))
        if revision is None or not is_commit(revision):
            await self._repository.save_ref(
                repo.key, revision if revision is not None else DEFAULT_BRANCH, commit
            )
        fresh = RepoFlags(private=private, gated=str(gated), checked_at=utcnow())
        if self._continuity is not None:
            await self._continuity.answered(repo, commit, fresh)
        return Resolved(commit=commit, flags=fresh, stale=False)

    async def _withdrawn(
        self, repo: RepoRef, error: MirrorError, *, fallback_commit: str | None, flags: RepoFlags | None
    ) -> Resolved:
        """The Hub refused: when it says the repository is gone or gated, that is recorded, and continuity
        may serve the last commit hubgate knew of the ref; any other refusal is the client's answer."""
        observation = refused(error)
        if observation is None or self._continuity is None:
            raise error
        await self._continuity.refused(repo, fallback_commit, observation)
        if fallback_commit is None:
            raise error
        notice = await self._continuity.carry_on(repo, fallback_commit, observation, error)
        held = flags or RepoFlags(private=False, gated="", checked_at=utcnow())
        return Resolved(commit=fallback_commit, flags=held, stale=False, continuity=notice)
