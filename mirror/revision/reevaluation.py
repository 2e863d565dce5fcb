"""Re-evaluation: rescans on request, and a background job after policy, scanner or table changes.

The job expires waivers whose time has come, re-decides every stored artifact whose recorded policy or
scanner version is not the current one, revoking what now fails (see ReviewService.reconsider), and
re-decides every revision in the inventory decided under another version of the revision rules or of
the facts they use (the publisher table, the entity list): a revision that now needs a human is
quarantined at once, not only when someone next asks for it. A new entity list wakes the job early.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from cachetools import LRUCache

from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.gate import Assessment, Gate, covered_interpretations
from mirror.blobs.spool import Digests, Spool
from mirror.clock import SYSTEM_CLOCK, Clock
from mirror.errors import MirrorError, NotFound, UpstreamRateLimited
from mirror.hub.client import HubClient
from mirror.hub.models import RepoRef, RepoType
from mirror.inventory.recorder import InventoryRecorder
from mirror.periodic import run_every
from mirror.policy.engine import Decision
from mirror.review.auth import Principal
from mirror.review.service import ReviewService
from mirror.revision.admission import Admission
from storage.inventory_store import InventoryStore
from storage.objects import ObjectStore, ObjectStoreError
from storage.records import FileEntry, RepoKey, ReviewRecord
from storage.repository import MetadataRepository
from storage.review_store import StaleReview

log = logging.getLogger(__name__)
_BATCH = 100
_FAILED_MEMORY = 10_000


class Reevaluator:
    def __init__(
        self,
        *,
        gate: Gate,
        admission: Admission,
        reviews: ReviewService,
        repository: MetadataRepository,
        store: ObjectStore,
        hub: HubClient,
        spool_dir: Path,
        inventory: InventoryStore,
        recorder: InventoryRecorder,
    ) -> None:
        self._gate = gate
        self._admission = admission
        self._inventory = inventory
        self._recorder = recorder
        # Revisions that could not be decided again (gone upstream, no access): not retried every round
        # until the version changes again.
        self._failed: LRUCache[tuple[RepoKey, str], str] = LRUCache(maxsize=_FAILED_MEMORY)
        self._wake = asyncio.Event()
        self._reviews = reviews
        self._repository = repository
        self._store = store
        self._hub = hub
        self._spool_dir = spool_dir

    async def rescan(self, review: ReviewRecord, principal: Principal, *, reason: str) -> ReviewRecord:
        """A human's rescan: the gate decides again under today's rules, and the review goes to PENDING
        and on to the new verdict in one transaction (never left PENDING by a failure in between)."""
        decision, assessment = await self._decide(review)
        return await self._reviews.rescan(
            review,
            principal,
            decision,
            reason=reason or "rescan requested",
            note=f"rescanned under {decision.policy_version}: {decision.summary()}",
            scanner_version=None if assessment is None else self._gate.runner.version,
            reports=() if assessment is None else assessment.report_rows,
        )

    def wake(self) -> None:
        """Run a round now (the loop's next wait ends): the facts revision decisions use have changed."""
        self._wake.set()

    async def run_once(self) -> int:
        """Expire due waivers, decide reviews an interrupted rescan left PENDING, re-decide outdated
        revisions and artifacts; returns how many reviews changed and revisions were decided again."""
        changed = await self._expire_waivers()
        changed += await self._resume_stranded()
        changed += await self._reevaluate_revisions()
        after = 0
        while True:
            outdated = await self._reviews.store.outdated(
                policy_version=self._gate.policy.version,
                scanner_version=self._gate.runner.version,
                after_id=after,
                limit=_BATCH,
            )
            if not outdated:
                return changed
            for review in outdated:
                after = review.id
                try:
                    decision, assessment = await self._decide(review)
                    updated = await self._reviews.reconsider(
                        review,
                        decision,
                        scanner_version=None if assessment is None else self._gate.runner.version,
                        reports=() if assessment is None else assessment.report_rows,
                    )
                except (MirrorError, ObjectStoreError, StaleReview) as exc:
                    log.warning("re-evaluation of review %d skipped: %s", review.id, exc)
                    continue
                changed += updated.state != review.state

    async def _reevaluate_revisions(self) -> int:
        """Decide again every inventory revision decided under another revision version (or before
        origins were recorded). Stops at an upstream rate limit: the next round goes on."""
        # Decisions noted since the download log's last batch are written first: a revision decided
        # moments ago under the old facts is found outdated now, not a round later.
        await self._recorder.write_decisions()
        version = self._admission.revision_version
        decided = 0
        after: tuple[RepoKey, str] | None = None
        credentials = self._hub.credentials(None)
        try:
            while batch := await self._inventory.outdated_revisions(
                policy_version=version, after=after, limit=_BATCH
            ):
                for key, commit in batch:
                    after = (key, commit)
                    if self._failed.get((key, commit)) == version:
                        continue
                    repo = RepoRef(repo_type=RepoType(key.repo_type), repo_id=key.repo_id)
                    try:
                        decision = await self._admission.reevaluate_revision(repo, commit, credentials)
                        log.debug("%s@%s decided again: %s", repo, commit[:12], decision.summary())
                    except UpstreamRateLimited as exc:
                        log.info("re-evaluation of revisions paused by the Hub's rate limit: %s", exc.message)
                        return decided
                    except (MirrorError, StaleReview) as exc:
                        log.warning("re-evaluation of %s@%s skipped: %s", repo, commit[:12], exc)
                        self._failed[(key, commit)] = version
                        continue
                    decided += 1
                # Record the new facts now, so the next round does not find these revisions outdated.
                await self._recorder.write_decisions()
        finally:
            if decided:
                log.info("re-evaluation decided %d revisions again under %s", decided, version)
        return decided

    async def _resume_stranded(self) -> int:
        resumed = 0
        after = 0
        while stranded := await self._reviews.store.stranded_pending(after_id=after, limit=_BATCH):
            for review in stranded:
                after = review.id
                try:
                    decision, assessment = await self._decide(review)
                    await self._reviews.resume_pending(
                        review,
                        decision,
                        scanner_version=None if assessment is None else self._gate.runner.version,
                        reports=() if assessment is None else assessment.report_rows,
                    )
                except (MirrorError, ObjectStoreError, StaleReview) as exc:
                    log.warning("review %d stays PENDING for now: %s", review.id, exc)
                    continue
                resumed += 1
        return resumed

    async def _expire_waivers(self) -> int:
        expired = 0
        for review in await self._reviews.store.expired_waivers(datetime.now(UTC)):
            current = await self._reviews.current(review.subject_kind, review.subject)
            expired += current is not None and current.state != review.state
        return expired

    async def _decide(self, review: ReviewRecord) -> tuple[Decision, Assessment | None]:
        repo = RepoRef(repo_type=RepoType(review.repo_type), repo_id=review.repo_id)
        if review.subject_kind == "revision":
            decision = await self._admission.fresh_revision_decision(
                repo, review.commit, self._hub.credentials(None)
            )
            return decision, None
        return await self._assess_stored_blob(repo, review)

    async def _assess_stored_blob(self, repo: RepoRef, review: ReviewRecord) -> tuple[Decision, Assessment]:
        entry = await self._repository.get_file_entry(
            RepoKey(review.repo_type, review.repo_id), review.commit, review.path
        )
        blob = await self._repository.find_blob(
            entry
            or FileEntry(path=review.path, size=review.size, git_oid="0" * 40, lfs_sha256=review.subject)
        )
        if blob is None or blob.sha256 != review.subject:
            raise NotFound(f"blob {review.subject} of review {review.id} is no longer stored")
        entry = entry or FileEntry(
            path=review.path, size=blob.size, git_oid=blob.git_sha1 or "", lfs_sha256=blob.sha256
        )
        request = FetchRequest(
            repo=repo, commit=review.commit, entry=entry, credentials=self._hub.credentials(None)
        )
        spool = Spool(self._spool_dir)
        try:
            digests = await spool.fill(
                self._store.open_range(blob.sha256, 0, blob.size), expected_size=blob.size, git_sha1=False
            )
            if digests.sha256 != blob.sha256:
                raise ObjectStoreError(f"stored object {blob.sha256} no longer matches its digest")
            assessment = await self._gate.assess(
                request,
                spool.path,
                Digests(digests.sha256, digests.git_sha1, digests.size),
                interpretations=covered_interpretations(review),
            )
            return assessment.decision, assessment
        finally:
            await asyncio.get_running_loop().run_in_executor(None, spool.remove)

    async def loop(self, interval_s: float, stop: asyncio.Event, *, clock: Clock = SYSTEM_CLOCK) -> None:
        """A round at once, then every `interval_s` until `stop` is set (see mirror.periodic); `wake()`
        starts the next round early."""
        await run_every(interval_s, stop, self._logged_round, clock=clock, wake=self._wake)

    async def _logged_round(self) -> int:
        changed = await self.run_once()
        if changed:
            log.info("re-evaluation changed %d reviews and revisions", changed)
        return changed
