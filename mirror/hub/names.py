"""Which repository a client's spelling of a repo id names: the Hub's canonical id.

The Hub answers for legacy and renamed ids (`gpt2` is `openai-community/gpt2`, `bert-base-uncased` is
`google-bert/bert-base-uncased`) and for any case variant of an id (`QWEN/qwen2.5-0.5b`), and its info
answer names the canonical `id`. Everything hubgate decides per repository (policy, licences,
signatures, pinning, reviews, inventory, the download log) is keyed on that canonical id, so that no
spelling of a denied repository gets through and no spelling splits one repository's records in two.

Spellings are remembered (casefolded, as the Hub matches them) in memory and in the database, so that an
alias still finds its stored revisions when the Hub is unreachable or rate-limiting, or answers that the
repository is gone or gated (continuity decides what is served then; mirror.hub.upstream_state).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from cachetools import TTLCache

from mirror.errors import MirrorError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from mirror.hub.client import HubClient
from mirror.hub.models import Credentials, RepoRef
from mirror.hub.rules import parse_repo_id
from mirror.hub.upstream_state import refused
from mirror.singleflight import SingleFlight
from storage.queries import utcnow
from storage.repository import MetadataRepository

log = logging.getLogger(__name__)
_Key = tuple[str, str]  # (repo type, casefolded spelling)


class RepoNames:
    def __init__(self, *, hub: HubClient, repository: MetadataRepository, ttl_s: float) -> None:
        self._hub = hub
        self._repository = repository
        self._ttl = timedelta(seconds=ttl_s)
        self._recent: TTLCache[_Key, RepoRef] = TTLCache(maxsize=50_000, ttl=max(ttl_s, 0.001))
        self._flights: SingleFlight[tuple[_Key, str], RepoRef] = SingleFlight()

    async def canonical(self, spelling: RepoRef, credentials: Credentials) -> RepoRef:
        """The canonical repository for `spelling`. Raises the Hub's coded errors (RepoNotFound, ...)."""
        key = (spelling.repo_type.value, spelling.repo_id.casefold())
        known = self._recent.get(key)
        if known is not None:
            return known
        flight = self._flights.start(
            (key, credentials.identity), lambda: self._learn(spelling, key, credentials)
        )
        return await asyncio.shield(flight)

    def forget(self, spelling: RepoRef) -> None:
        self._recent.pop((spelling.repo_type.value, spelling.repo_id.casefold()), None)

    async def _learn(self, spelling: RepoRef, key: _Key, credentials: Credentials) -> RepoRef:
        stored = await self._repository.canonical_id(*key)
        if stored is not None and utcnow() - stored[1] < self._ttl:
            return self._remember(key, RepoRef(repo_type=spelling.repo_type, repo_id=stored[0]))
        try:
            answer = await self._hub.get_json(
                f"/api/{spelling.repo_type.api_segment}/{spelling.repo_id}",
                params=(("expand", "sha"),),
                credentials=credentials,
            )
        except (UpstreamUnavailable, UpstreamTimeout):
            if stored is not None:
                # Offline or rate-limited: the last name the Hub gave is still the best answer.
                return RepoRef(repo_type=spelling.repo_type, repo_id=stored[0])
            # Never seen: nothing is stored under any name for it, so the spelling as given can only lead
            # to upstream's own error later (hubgate stores under canonical ids alone).
            return spelling
        except MirrorError as exc:
            if stored is None or refused(exc) is None:
                raise
            # The Hub says the repository is gone or gated: the name it last gave is still the one hubgate
            # holds revisions under; whether any of them is served is decided when the revision is resolved.
            return RepoRef(repo_type=spelling.repo_type, repo_id=stored[0])
        canonical = RepoRef(repo_type=spelling.repo_type, repo_id=_canonical_id(answer.parsed(), spelling))
        if canonical.repo_id != spelling.repo_id:
            log.info("%s is %s on the Hub", spelling, canonical)
        await self._repository.save_alias(key[0], key[1], canonical.repo_id)
        own = canonical.repo_id.casefold()
        if own != key[1]:
            await self._repository.save_alias(key[0], own, canonical.repo_id)
            self._recent[(key[0], own)] = canonical
        return self._remember(key, canonical)

    def _remember(self, key: _Key, canonical: RepoRef) -> RepoRef:
        self._recent[key] = canonical
        return canonical


def _canonical_id(info: object, spelling: RepoRef) -> str:
    found = info.get("id") if isinstance(info, dict) else None
    if not isinstance(found, str) or not found:
        # An answer without an id names what was asked for.
        return spelling.repo_id
    try:
        return parse_repo_id(found)
    except MirrorError as exc:
        msg = f"upstream named {spelling} with an invalid id {found!r}"
        raise UpstreamProtocolError(msg) from exc
