"""Repository-level gates: the repo allow/deny list, and the licence, origin and signature gates at the
requested commit.

A revision that needs a human (or is refused) gets a review of the revision, so a security team can
waive it once for that commit; the decision itself is cached per commit and version of the facts it
used. The licence and origin rules follow the same base_model lineage, walked once per decision.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cachetools import LRUCache

from mirror.errors import AccessDenied
from mirror.hub.lineage import Card, Lineage, LineageWalker
from mirror.hub.models import Credentials, RepoRef, RepoType
from mirror.inventory.origins import OriginTables
from mirror.inventory.recorder import InventoryRecorder
from mirror.policy.engine import Decision, LicenceLink, PolicyEngine, Reason, Verdict
from mirror.review.service import ReviewService, Subject, revision_key
from mirror.review.transitions import ReviewState
from mirror.revision.continuity import Continuity, waived
from mirror.revision.signature_gate import SignatureGate
from storage.records import ReviewRecord
from storage.review_store import StaleReview

log = logging.getLogger(__name__)


class Admission:
    def __init__(
        self,
        *,
        policy: PolicyEngine,
        walker: LineageWalker,
        origins: OriginTables,
        reviews: ReviewService,
        inventory: InventoryRecorder,
        signatures: SignatureGate,
        continuity: Continuity | None = None,
    ) -> None:
        self._continuity = continuity
        self._policy = policy
        self._walker = walker
        self._origins = origins
        self._signatures = signatures
        self._reviews = reviews
        self._inventory = inventory
        self._revision_decisions: LRUCache[tuple[RepoRef, str, str], Decision] = LRUCache(maxsize=20_000)

    @property
    def revision_version(self) -> str:
        """The version a revision decided now is decided under (policy, origin rules, tables)."""
        return self._policy.revision_version(self._origins.version)

    def admit_repo(self, repo: RepoRef, *, aliases: Sequence[RepoRef] = ()) -> None:
        """Raise AccessDenied when the policy refuses the canonical `repo` or any spelling of it used."""
        decision = self._policy.admit_repo(repo, aliases=aliases)
        if decision.enforced:
            raise AccessDenied(f"blocked by hubgate policy: {decision.summary()}")

    async def admit_revision(self, repo: RepoRef, commit: str, credentials: Credentials) -> None:
        """Raise AccessDenied unless the repo, its licence, its origins and (where the policy asks) its
        model signature at `commit` may be used."""
        self.admit_repo(repo)
        continuity = await self._continuity_reasons(repo, commit)
        decision = self._policy.extended(await self._revision_decision(repo, commit, credentials), continuity)
        if all(reason.verdict is Verdict.ALLOW for reason in decision.reasons):
            return  # nothing for a human: no review to keep (audit-only findings do get one)
        review = await self._keep_review(repo, commit, decision)
        if continuity and review.state == ReviewState.APPROVED and not waived(review, continuity[0]):
            # Approved before the Hub stopped serving the repository: back to the queue (the change's own
            # requeue does this for every served revision; this covers one it has not reached).
            try:
                review = await self._reviews.requeue(review, continuity[0])
            except StaleReview:
                review = await self._reviews.current_by_id(review.id)
        if not self._reviews.servable(review):
            raise self._reviews.refuse(review, commit=commit)

    async def reevaluate_revision(self, repo: RepoRef, commit: str, credentials: Credentials) -> Decision:
        """Decide a stored revision again under the current policy and tables, without a request: its
        review is created, revoked or approved as the new decision says, and the inventory learns the new
        facts. What an approval covered and a waiver did not is revoked, as for files."""
        decision = await self.fresh_revision_decision(repo, commit, credentials)
        needs_review = any(reason.verdict is not Verdict.ALLOW for reason in decision.reasons)
        key = revision_key(repo.repo_type.value, repo.repo_id, commit)
        if needs_review or await self._reviews.current("revision", key) is not None:
            await self._keep_review(repo, commit, decision)
        return decision

    async def _keep_review(self, repo: RepoRef, commit: str, decision: Decision) -> ReviewRecord:
        """The revision's review: created for `decision`, or reconsidered if decided under another version."""
        key = revision_key(repo.repo_type.value, repo.repo_id, commit)
        review = await self._reviews.current("revision", key)
        if review is None:
            subject = Subject(
                kind="revision", key=key, repo_type=repo.repo_type.value, repo_id=repo.repo_id, commit=commit
            )
            return await self._reviews.record_decision(subject, decision)
        if review.policy_version != decision.policy_version:
            return await self._reviews.reconsider(review, decision)
        return review

    async def fresh_revision_decision(self, repo: RepoRef, commit: str, credentials: Credentials) -> Decision:
        """Decide again under the current policy (for rescans), refreshing the cached decision."""
        self._revision_decisions.pop((repo, commit, self._origins.version), None)
        decision = await self._revision_decision(repo, commit, credentials)
        return self._policy.extended(decision, await self._continuity_reasons(repo, commit))

    async def _continuity_reasons(self, repo: RepoRef, commit: str) -> list[Reason]:
        """A review reason while the Hub no longer serves the repo and the policy wants a human to decide
        (never cached with the licence: it lasts as long as the repository's state)."""
        return [] if self._continuity is None else await self._continuity.reasons(repo, commit)

    async def _revision_decision(self, repo: RepoRef, commit: str, credentials: Credentials) -> Decision:
        cached = self._revision_decisions.get((repo, commit, self._origins.version))
        if cached is not None:
            return cached
        card = await self._walker.card(repo, commit, credentials)
        rules = self._policy.policy.licences
        lineage = await self._walker.walk(repo, card, credentials, max_depth=rules.max_base_model_depth)
        links = licence_links(repo, card, lineage, follow=rules.follow_base_model)
        licence = self._policy.decide_licence(links)
        # The facts and their version are read together (no await between): an entity list reloaded while
        # this decision waits on the Hub must not be recorded under the other list's version.
        facts_version = self._origins.version
        nodes = self._origins.nodes(lineage)
        origins = self._policy.decide_origins(nodes)
        # The inventory keeps the decision as made here, allowed or not (reviews keep only the latter);
        # it is written with the download log's next batch, not on this request's path.
        self._inventory.revision_decided(
            repo,
            commit,
            card=card,
            lineage=links,
            decision=licence,
            origins=nodes,
            origin_decision=origins,
            policy_version=self._policy.revision_version(facts_version),
        )
        # The model signature is the other revision-level gate: its failures join the licence's and the
        # origins' reasons, so one revision review (and one waiver) covers them all.
        signature_reasons = await self._signatures.reasons(repo, commit, credentials)
        decision = self._policy.revision_decision(
            (licence, origins),
            extra=signature_reasons,
            facts_version=facts_version,
            severity="high" if signature_reasons else licence.severity,
        )
        self._revision_decisions[(repo, commit, facts_version)] = decision
        return decision


def licence_links(repo: RepoRef, card: Card, lineage: Lineage, *, follow: bool) -> list[LicenceLink]:
    """The repo's licences and, when the policy follows base_model, those of its ancestors: an unreadable
    ancestor's licence is unknown (which the policy sends to review)."""
    links = [LicenceLink(repo_id=repo.repo_id, licences=_licences(card))]
    if not follow or repo.repo_type is not RepoType.MODEL:
        return links
    for node in lineage.ancestors:
        # A path-like base (`/workspace/out`, as trainers write) never counted for licences: it names no
        # repository whose licence anyone could read. The origin rules still see it as unknown lineage.
        if not node.is_repo_id and node.repo_id.count("/") > 1:
            continue
        licences = _licences(node.card) if node.card is not None else ((None, None),)
        links.append(LicenceLink(repo_id=node.repo_id, licences=licences))
    return links


def _licences(card: Card) -> tuple[tuple[str | None, str | None], ...]:
    licence = card.get("license")
    name = card.get("license_name")
    name_text = name if isinstance(name, str) else None
    if isinstance(licence, str):
        return ((licence, name_text),)
    if isinstance(licence, list):
        return tuple((str(item), name_text) for item in licence if isinstance(item, str)) or ((None, None),)
    return ((None, None),)
