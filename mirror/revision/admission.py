"""Repository-level gates: the repo allow/deny list and the licence gate at the requested commit.

A licence that needs a human (or is refused) becomes a review of the revision, so a security team can
waive it once for that commit; the decision itself is cached per commit and policy version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from cachetools import LRUCache

from mirror.errors import AccessDenied, MirrorError, UpstreamTimeout, UpstreamUnavailable
from mirror.hub.catalog import Catalog
from mirror.hub.models import Credentials, RepoRef, RepoType
from mirror.hub.names import RepoNames
from mirror.hub.rules import parse_repo_id
from mirror.inventory.recorder import InventoryRecorder
from mirror.policy.engine import Decision, LicenceLink, PolicyEngine, Reason, Verdict
from mirror.review.service import ReviewService, Subject, revision_key
from mirror.review.transitions import ReviewState
from mirror.revision.continuity import Continuity, waived
from mirror.revision.signature_gate import SignatureGate
from storage.review_store import StaleReview

log = logging.getLogger(__name__)


class Admission:
    def __init__(
        self,
        *,
        policy: PolicyEngine,
        catalog: Catalog,
        reviews: ReviewService,
        inventory: InventoryRecorder,
        signatures: SignatureGate,
        names: RepoNames,
        continuity: Continuity | None = None,
    ) -> None:
        self._names = names
        self._continuity = continuity
        self._policy = policy
        self._signatures = signatures
        self._catalog = catalog
        self._reviews = reviews
        self._inventory = inventory
        self._revision_decisions: LRUCache[tuple[RepoRef, str], Decision] = LRUCache(maxsize=20_000)

    def admit_repo(self, repo: RepoRef, *, aliases: Sequence[RepoRef] = ()) -> None:
        """Raise AccessDenied when the policy refuses the canonical `repo` or any spelling of it used."""
        decision = self._policy.admit_repo(repo, aliases=aliases)
        if decision.enforced:
            raise AccessDenied(f"blocked by hubgate policy: {decision.summary()}")

    async def admit_revision(self, repo: RepoRef, commit: str, credentials: Credentials) -> None:
        """Raise AccessDenied unless the repo, its licence and (where the policy asks) its model signature
        at `commit` may be used."""
        self.admit_repo(repo)
        continuity = await self._continuity_reasons(repo, commit)
        decision = self._policy.extended(await self._revision_decision(repo, commit, credentials), continuity)
        if all(reason.verdict is Verdict.ALLOW for reason in decision.reasons):
            return  # nothing for a human: no review to keep (audit-only findings do get one)
        key = revision_key(repo.repo_type.value, repo.repo_id, commit)
        review = await self._reviews.current("revision", key)
        if review is None:
            subject = Subject(
                kind="revision", key=key, repo_type=repo.repo_type.value, repo_id=repo.repo_id, commit=commit
            )
            review = await self._reviews.record_decision(subject, decision)
        elif review.policy_version != decision.policy_version:
            review = await self._reviews.reconsider(review, decision)
        if continuity and review.state == ReviewState.APPROVED and not waived(review, continuity[0]):
            # Approved before the Hub stopped serving the repository: back to the queue (the change's own
            # requeue does this for every served revision; this covers one it has not reached).
            try:
                review = await self._reviews.requeue(review, continuity[0])
            except StaleReview:
                review = await self._reviews.current_by_id(review.id)
        if not self._reviews.servable(review):
            raise self._reviews.refuse(review, commit=commit)

    async def fresh_revision_decision(self, repo: RepoRef, commit: str, credentials: Credentials) -> Decision:
        """Decide again under the current policy (for rescans), refreshing the cached decision."""
        self._revision_decisions.pop((repo, commit), None)
        decision = await self._revision_decision(repo, commit, credentials)
        return self._policy.extended(decision, await self._continuity_reasons(repo, commit))

    async def _continuity_reasons(self, repo: RepoRef, commit: str) -> list[Reason]:
        """A review reason while the Hub no longer serves the repo and the policy wants a human to decide
        (never cached with the licence: it lasts as long as the repository's state)."""
        return [] if self._continuity is None else await self._continuity.reasons(repo, commit)

    async def _revision_decision(self, repo: RepoRef, commit: str, credentials: Credentials) -> Decision:
        cached = self._revision_decisions.get((repo, commit))
        if cached is not None:
            return cached
        card = await self._card(repo, commit, credentials)
        lineage = await self._lineage(repo, card, credentials)
        decision = self._policy.decide_licence(lineage)
        # The inventory keeps the licence as decided here, allowed or not (reviews keep only the latter);
        # it is written with the download log's next batch, not on this request's path.
        self._inventory.licence_decided(repo, commit, card=card, lineage=lineage, decision=decision)
        # The model signature is the other revision-level gate: its failures join the licence's reasons,
        # so one revision review (and one waiver) covers both.
        signature_reasons = await self._signatures.reasons(repo, commit, credentials)
        decision = self._policy.extended(decision, signature_reasons, severity="high")
        self._revision_decisions[(repo, commit)] = decision
        return decision

    async def _lineage(
        self, repo: RepoRef, card: dict[str, object], credentials: Credentials
    ) -> list[LicenceLink]:
        """The repo's licences and, following `base_model`, those of its ancestors (bounded, cycle-safe)."""
        rules = self._policy.policy.licences
        lineage = [LicenceLink(repo_id=repo.repo_id, licences=_licences(card))]
        if not rules.follow_base_model or repo.repo_type is not RepoType.MODEL:
            return lineage
        seen = {repo.repo_id}
        frontier = _base_models(card)
        for _depth in range(rules.max_base_model_depth):
            next_frontier: list[str] = []
            for named in frontier:
                if named in seen:
                    continue
                seen.add(named)
                base_id = named
                try:
                    # Cards name bases in any spelling (legacy ids, other case): judge the repo it names.
                    spelling = RepoRef(repo_type=RepoType.MODEL, repo_id=parse_repo_id(named))
                    base = await self._names.canonical(spelling, credentials)
                    if base.repo_id != named and base.repo_id in seen:
                        continue
                    seen.add(base.repo_id)
                    base_id = base.repo_id
                    base_card = await self._card(base, None, credentials)
                except (UpstreamUnavailable, UpstreamTimeout):
                    # Not an answer about the ancestor: nothing is decided (or remembered) until the Hub
                    # can be asked, and the client gets the coded 503/504/429.
                    raise
                except MirrorError as exc:
                    # An unreadable ancestor leaves its licence unknown, which the policy sends to review.
                    log.info("base model %s of %s unreadable: %s", base_id, repo, exc.message)
                    lineage.append(LicenceLink(repo_id=base_id, licences=((None, None),)))
                    continue
                lineage.append(LicenceLink(repo_id=base_id, licences=_licences(base_card)))
                next_frontier.extend(_base_models(base_card))
            frontier = next_frontier
            if not frontier:
                break
        return lineage

    async def _card(self, repo: RepoRef, commit: str | None, credentials: Credentials) -> dict[str, object]:
        document = await self._catalog.repo_info(repo, commit, (("expand", "cardData"),), credentials)
        info = json.loads(document.body)
        card = info.get("cardData") if isinstance(info, dict) else None
        return card if isinstance(card, dict) else {}


def _licences(card: dict[str, object]) -> tuple[tuple[str | None, str | None], ...]:
    licence = card.get("license")
    name = card.get("license_name")
    name_text = name if isinstance(name, str) else None
    if isinstance(licence, str):
        return ((licence, name_text),)
    if isinstance(licence, list):
        return tuple((str(item), name_text) for item in licence if isinstance(item, str)) or ((None, None),)
    return ((None, None),)


def _base_models(card: dict[str, object]) -> list[str]:
    base = card.get("base_model")
    values = [base] if isinstance(base, str) else base if isinstance(base, list) else []
    return [value for value in values if isinstance(value, str) and value.count("/") <= 1 and value][:10]
