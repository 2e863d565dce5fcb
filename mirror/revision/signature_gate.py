"""Model signatures in the gate: a revision's `model.sig` checked against the policy's trust rule.

Runs where the revision gates run (admission), once per commit and policy: the signature and the file
set are checked from the Hub's metadata before any weight is fetched (LFS files carry their sha256
there). Files whose digest the metadata does not give (small non-LFS files, or every file of a
signature that does not use per-file sha256) are fetched through the pipeline, so they are verified
and scanned like any download, and their stored bytes are checked against the signed digests. Weights
fetched later are verified against the metadata's sha256, which the signature was compared with.
A failure becomes reasons of the revision's decision, which quarantine it for a human.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from mirror.blobs.fetch_request import FetchRequest
from mirror.blobs.pipeline import Pipeline
from mirror.errors import MirrorError
from mirror.hub.catalog import Catalog
from mirror.hub.models import Credentials, RepoRef
from mirror.policy.engine import PolicyEngine, Reason, Verdict
from mirror.provenance import Failure, FailureReason
from mirror.provenance.paths import DEFAULT_SIGNATURE_PATH
from mirror.provenance.trust import ResolvedTrust, SignatureMode
from mirror.provenance.verify import SignatureVerdict, VerdictStatus, verify_revision
from storage.objects import ObjectStore
from storage.queries import utcnow
from storage.records import FileEntry
from storage.signature_store import SignatureCheck, SignatureStore

log = logging.getLogger(__name__)
# A model.sig is a few KiB; anything far larger is not one, and is not read into memory.
MAX_SIGNATURE_BYTES = 4 << 20


class SignatureGate:
    def __init__(
        self,
        *,
        policy: PolicyEngine,
        catalog: Catalog,
        pipeline: Pipeline,
        store: ObjectStore,
        records: SignatureStore,
    ) -> None:
        self._policy = policy
        self._catalog = catalog
        self._pipeline = pipeline
        self._store = store
        self._records = records

    async def reasons(self, repo: RepoRef, commit: str, credentials: Credentials) -> list[Reason]:
        """What the signature check adds to the revision's decision (nothing when it passes)."""
        matched = self._policy.signature_trust(repo)
        if matched is None or matched[1].mode is SignatureMode.IGNORED:
            return []
        label, trust = matched
        verdict = await self.check(repo, commit, credentials, trust)
        await self._records.save(repo.key, commit, _record(verdict, label))
        log.info("%s@%s: %s", repo, commit[:12], verdict.summary())
        if verdict.passed:
            return []
        return [
            Reason(f"signatures.{failure.reason.value}", _message(failure), Verdict.REVIEW)
            for failure in verdict.reasons
        ] or [Reason("signatures.failed", verdict.summary(), Verdict.REVIEW)]

    async def check(
        self, repo: RepoRef, commit: str, credentials: Credentials, trust: ResolvedTrust
    ) -> SignatureVerdict:
        entries = {entry.path: entry for entry in await self._catalog.list_files(repo, commit, credentials)}
        signature = entries.get(DEFAULT_SIGNATURE_PATH)
        try:
            sig_bytes = (
                None if signature is None else await self._content(repo, commit, signature, credentials)
            )
        except _TooLarge as exc:
            return _failed(
                trust.mode, Failure(FailureReason.MALFORMED_BUNDLE, str(exc), DEFAULT_SIGNATURE_PATH)
            )
        files = {path: entry.lfs_sha256 for path, entry in entries.items()}
        # Parsing JSON and checking ECDSA or certificate chains is CPU work: off the event loop.
        verdict = await asyncio.to_thread(verify_revision, sig_bytes, files, trust)
        if verdict.status is not VerdictStatus.VERIFIED or not verdict.pending:
            return verdict
        for path in sorted(verdict.pending):
            failure = await self._check_content(repo, commit, entries[path], credentials, verdict)
            if failure is not None:
                return dataclasses.replace(verdict, status=VerdictStatus.FAILED, reasons=(failure,))
        return verdict

    async def _check_content(
        self,
        repo: RepoRef,
        commit: str,
        entry: FileEntry,
        credentials: Credentials,
        verdict: SignatureVerdict,
    ) -> Failure | None:
        """Fetch (verify, scan, store) a file the metadata gives no usable digest for, and check its bytes
        against the signed digest."""
        stored = await self._pipeline.ensure(
            FetchRequest(repo=repo, commit=commit, entry=entry, credentials=credentials), wait_s=None
        )
        if not verdict.needs_content:
            return verdict.check_fetched(entry.path, stored.blob.sha256)
        checker = verdict.content_verifier(entry.path)
        if checker is None:
            return None
        async for chunk in self._store.open_range(stored.blob.sha256, 0, stored.blob.size):
            await asyncio.to_thread(checker.update, chunk)
        return checker.finish()

    async def _content(self, repo: RepoRef, commit: str, entry: FileEntry, credentials: Credentials) -> bytes:
        if entry.size > MAX_SIGNATURE_BYTES:
            raise _TooLarge(f"{entry.path} is {entry.size} bytes, not a model signature")
        stored = await self._pipeline.ensure(
            FetchRequest(repo=repo, commit=commit, entry=entry, credentials=credentials), wait_s=None
        )
        parts = [chunk async for chunk in self._store.open_range(stored.blob.sha256, 0, stored.blob.size)]
        return b"".join(parts)


class _TooLarge(MirrorError):
    pass


def _failed(mode: SignatureMode, failure: Failure) -> SignatureVerdict:
    return SignatureVerdict(VerdictStatus.FAILED, mode, reasons=(failure,))


def _message(failure: Failure) -> str:
    where = f" ({failure.path})" if failure.path and failure.path not in failure.message else ""
    return f"model signature: {failure.message}{where}"


def _record(verdict: SignatureVerdict, label: str) -> SignatureCheck:
    return SignatureCheck(
        status=verdict.status.value,
        method=verdict.method.value if verdict.method else "",
        signer=verdict.signer or "",
        reason="; ".join(f"{failure.reason.value}: {failure.message}" for failure in verdict.reasons),
        trust_rule=label,
        checked_at=utcnow(),
    )
