"""Continuity: what hubgate does when the Hub stops serving a repository it holds revisions of.

The Hub's answers come in through mirror.hub.upstream_state (the resolver and catalog call the hooks
here). A change of a repository's state (present, removed, gated) is recorded once, shared by every
replica, audited (`upstream-removed`, `upstream-gated`, `upstream-present`) and sent to the webhook.

Only revisions hubgate held while the Hub said the repository was public are ever served past the Hub:
a repository that was private or gated when hubgate got it stays the Hub's to refuse, whatever it
answers now (a 404 to someone without access looks exactly like a deleted repository). For the others
the policy's `[continuity]` section decides: serve (with an X-HF-Warning naming the date hubgate first
saw the change), refuse (the Hub's answer), or, for a removed repository, review: its revisions go back
to the review queue through the review state machine (a new revision review, or APPROVED -> QUARANTINED
by `requeue`) and are served once a reviewer approves them. When the Hub serves the repository again,
the state flips back to present, and revision reviews continuity had queued are decided again without
its reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from cachetools import LRUCache, TTLCache

from mirror.errors import MirrorError
from mirror.hub.models import RepoRef
from mirror.hub.upstream_state import Observation, UpstreamState, answered
from mirror.policy.engine import Decision, PolicyEngine, Reason
from mirror.review.service import ReviewService, Subject, revision_key
from mirror.review.transitions import IllegalTransition, ReviewState
from mirror.review.webhook import Webhook
from storage.continuity import PRESENT, ContinuityStore, repo_subject
from storage.db import DATABASE_ERRORS
from storage.records import RepoFlags, ReviewRecord, UpstreamChange, UpstreamStatus
from storage.review_store import StaleReview

log = logging.getLogger(__name__)
RULE_PREFIX = "continuity."
_Decide = Callable[[RepoRef, str], Awaitable[Decision]]


class Continuity:
    """Implements mirror.hub.upstream_state.ContinuityHooks, and gives admission its reasons."""

    def __init__(
        self,
        *,
        store: ContinuityStore,
        policy: PolicyEngine,
        reviews: ReviewService,
        webhook: Webhook,
        state_ttl_s: float,
    ) -> None:
        self._store = store
        self._policy = policy
        self._reviews = reviews
        self._webhook = webhook
        ttl = max(state_ttl_s, 0.001)
        # Each repository's recorded state, and what the Hub last said of it, reused for a ref TTL (the
        # same staleness a ref answer has): the hot path asks the database at most once per TTL.
        self._status: TTLCache[RepoRef, UpstreamStatus] = TTLCache(maxsize=50_000, ttl=ttl)
        self._observed: TTLCache[RepoRef, UpstreamState] = TTLCache(maxsize=50_000, ttl=ttl)
        # Revisions known held, and whether public then (never changes back from public).
        self._held: LRUCache[tuple[RepoRef, str], bool] = LRUCache(maxsize=200_000)
        self._decide: _Decide | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def use_decisions(self, decide: _Decide) -> None:
        """How a revision is decided afresh (Admission.fresh_revision_decision), for reviews queued by
        continuity once the Hub serves their repository again."""
        self._decide = decide

    # -- the hooks the Hub layer calls ---------------------------------------------------------------

    async def holds(self, repo: RepoRef, commit: str) -> bool:
        return await self._public(repo, commit) is not None

    async def answered(self, repo: RepoRef, commit: str, flags: RepoFlags) -> None:
        public = not flags.restricted
        known = self._held.get((repo, commit))
        if known is None or (public and not known):
            self._held[(repo, commit)] = await self._store.hold(repo.key, commit, public=public)
        await self._observe(repo, answered(flags))

    async def refused(self, repo: RepoRef, commit: str | None, observation: Observation) -> None:
        await self._observe(repo, observation)

    async def carry_on(
        self, repo: RepoRef, commit: str, observation: Observation, refusal: MirrorError
    ) -> str:
        if not await self._public(repo, commit):
            raise refusal  # private or gated when hubgate got it (or never held): the Hub decides
        choice = self._policy.continuity(repo).on(observation.state)
        status = await self.status(repo)
        when = _date(status.since)
        what = "removed from" if observation.state is UpstreamState.REMOVED else "gated on"
        if choice == "refuse":
            raise MirrorError(
                f"{refusal.message} (hubgate holds {commit[:12]} from when {repo} was public, but its "
                f"continuity policy refuses it: {what} the Hub since {when})",
                status=refusal.status,
                code=refusal.code,
                commit=refusal.commit,
                headers=refusal.headers,
            )
        if choice == "review":
            return (
                f"hubgate; {repo} was {what} the Hub on {when}: revision {commit[:12]}, stored while it was "
                "public, is served only as long as a reviewer approves it"
            )
        return (
            f"hubgate; {repo} was {what} the Hub on {when}: serving revision {commit[:12]}, which hubgate "
            "stored while it was public"
        )

    # -- admission -----------------------------------------------------------------------------------

    async def reasons(self, repo: RepoRef, commit: str) -> list[Reason]:
        """What continuity adds to a revision's decision: a review reason while the Hub no longer serves
        the repository and the policy wants a human to decide (only for revisions held while public)."""
        status = await self.status(repo)
        if status.state == PRESENT:
            return []
        reason = self._policy.continuity_review(repo, state=status.state, message=_reason_text(repo, status))
        if reason is None or not await self._public(repo, commit):
            return []
        return [reason]

    async def status(self, repo: RepoRef) -> UpstreamStatus:
        cached = self._status.get(repo)
        if cached is None:
            cached = await self._store.status(repo.key)
            self._status[repo] = cached
        return cached

    # -- recording a change ------------------------------------------------------------------------------

    async def _public(self, repo: RepoRef, commit: str) -> bool | None:
        known = self._held.get((repo, commit))
        if known is None:
            known = await self._store.held(repo.key, commit)
            if known is not None:
                self._held[(repo, commit)] = known
        return known

    async def _observe(self, repo: RepoRef, observation: Observation) -> None:
        if self._observed.get(repo) is observation.state:
            return
        change = await self._store.change(repo.key, observation.state.value, detail=observation.detail)
        self._observed[repo] = observation.state
        if change is None:
            self._status.pop(repo, None)
            return
        self._status[repo] = UpstreamStatus(state=change.to_state, since=change.since, detail=change.detail)
        await self._announce(repo, change)

    async def _announce(self, repo: RepoRef, change: UpstreamChange) -> None:
        log.warning(
            "%s: the Hub's answer changed from %s to %s (%s)",
            repo,
            change.from_state,
            change.to_state,
            change.detail,
        )
        choice = "" if change.to_state == PRESENT else self._policy.continuity(repo).on(change.to_state)
        commits = await self._store.public_commits(repo.key)
        self._webhook.notify(
            {
                "event": f"upstream-{change.to_state}",
                "subject": repo_subject(repo.key),
                "repo": repo_subject(repo.key),
                "state": change.to_state,
                "from_state": change.from_state,
                "since": change.since.isoformat(),
                "detail": change.detail,
                "continuity": choice,
                "revisions": commits,
                "audit_event_id": change.audit_event_id,
                "actor": "hubgate",
                "token": "",
                "at": datetime.now(UTC).isoformat(),
            }
        )
        if choice == "review":
            await self._requeue(repo, change)
        elif change.to_state == PRESENT:
            # Deciding again asks the Hub (the card, the signature): never inside the request that saw the
            # change, whose own resolution it would wait on.
            task = asyncio.ensure_future(self._decide_again(repo))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _requeue(self, repo: RepoRef, change: UpstreamChange) -> None:
        """Every revision clients were served of it goes back to the review queue at once."""
        status = UpstreamStatus(state=change.to_state, since=change.since, detail=change.detail)
        reason = self._policy.continuity_review(
            repo, state=change.to_state, message=_reason_text(repo, status)
        )
        if reason is None:
            return
        for commit in await self._store.served_public_commits(repo.key):
            try:
                await self.queue(repo, commit, reason)
            except (StaleReview, IllegalTransition) as exc:
                log.info("revision %s@%s not requeued: %s", repo, commit, exc)

    async def queue(self, repo: RepoRef, commit: str, reason: Reason) -> ReviewRecord:
        """The revision's review with `reason` in the queue: a new one, or an approval requeued."""
        key = revision_key(repo.repo_type.value, repo.repo_id, commit)
        review = await self._reviews.current("revision", key)
        if review is None:
            subject = Subject(
                kind="revision", key=key, repo_type=repo.repo_type.value, repo_id=repo.repo_id, commit=commit
            )
            return await self._reviews.record_decision(subject, self._policy.decide([reason]))
        if review.state == ReviewState.APPROVED and not waived(review, reason):
            return await self._reviews.requeue(review, reason)
        return review

    async def _decide_again(self, repo: RepoRef) -> None:
        """The Hub serves the repository again: reviews continuity queued are decided without its reason
        (a quarantine that now passes is approved by the gate; one a licence still needs stays)."""
        if self._decide is None:
            return
        try:
            queued = await self._reviews.store.list_reviews(
                states=(ReviewState.QUARANTINED.value,), repo=repo.repo_id, limit=500
            )
            for review in queued:
                if review.subject_kind != "revision" or review.repo_type != repo.repo_type.value:
                    continue
                if not any(
                    str(r.get("rule_id", "")).startswith(RULE_PREFIX) for r in json.loads(review.reasons)
                ):
                    continue
                decision = await self._decide(repo, review.commit)
                await self._reviews.reconsider(review, decision)
        except (MirrorError, StaleReview) as exc:
            log.warning("reviews of %s not decided again after it came back: %s", repo, exc)
        except DATABASE_ERRORS as exc:
            log.warning("reviews of %s not decided again after it came back: %s", repo, exc)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def waived(review: ReviewRecord, reason: Reason) -> bool:
    """Whether a reviewer approved the review knowing `reason` (its rule is among the waived ones)."""
    return reason.rule_id in set(json.loads(review.waived_rules or "[]"))


def _date(when: datetime | None) -> str:
    return "an unknown date" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d")


def _reason_text(repo: RepoRef, status: UpstreamStatus) -> str:
    what = "removed from" if status.state == UpstreamState.REMOVED else "gated on"
    since = "" if status.since is None else f" since {_date(status.since)}"
    return (
        f"{repo} is {what} the Hub{since} ({status.detail}); serve what hubgate stored while it was public?"
    )
