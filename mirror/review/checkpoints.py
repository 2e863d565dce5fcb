"""Signed checkpoints of the audit chain, anchored outside the database.

The chain's hashes are unkeyed and its head lives in the same database, so a database writer can delete
the newest rows and fix the head, or recompute every hash. A checkpoint is hubgate's signed statement
{last event id, head hash, event count, time, digest of the previous checkpoint}, made with the
attestation key (the same EC key and signer as the model attestations) and exported where that writer
does not reach: the object store (`audit/checkpoints/<event id>.json`, beside the blobs), the log and the
webhook. `hubgate audit verify` then checks the rows against every checkpoint (mirror/review/audit_verify.py).

What this does not give: rows newer than the last checkpoint can still be removed by a database writer
until the next checkpoint covers them, and whoever holds the signing key can forge checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from mirror.clock import SYSTEM_CLOCK, Clock
from mirror.provenance.errors import BundleFormatError, TrustConfigError, VerificationFailed
from mirror.provenance.keys import load_public_keys
from mirror.provenance.signing import verify_statement
from mirror.provenance.statement import IN_TOTO_STATEMENT_TYPE
from mirror.provenance.strictjson import get_object, get_str
from mirror.review.attestor import Attestor
from mirror.review.webhook import Webhook
from storage.audit import GENESIS, stored_event_hash
from storage.audit_trail import AuditTrail
from storage.db import DATABASE_ERRORS, DatabaseUnavailable
from storage.leases import LeaseStore
from storage.objects import ObjectStore, ObjectStoreError

# A checkpoint needs the database and the object store; either may be down.
_CHECKPOINT_FAILURES: tuple[type[Exception], ...] = (*DATABASE_ERRORS, ObjectStoreError)

log = logging.getLogger(__name__)

CHECKPOINT_PREDICATE_TYPE = "https://hubgate.dev/audit-checkpoint/v1"
CHECKPOINT_PREFIX = "audit/checkpoints/"
_LEASE_KEY = "audit-checkpoint"
_LEASE_TTL_S = 120.0


def checkpoint_name(last_event_id: int) -> str:
    # Zero-padded, so that the names sort like the ids they carry.
    return f"{CHECKPOINT_PREFIX}{last_event_id:012d}.json"


def document_digest(document: bytes) -> str:
    """What the next checkpoint names its predecessor by: sha256 of the exported bytes."""
    return hashlib.sha256(document).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    last_event_id: int
    head_hash: str
    event_count: int
    at: datetime
    previous_digest: str | None  # None for the first checkpoint
    previous_event_id: int  # 0 for the first checkpoint

    def statement(self) -> dict[str, object]:
        return {
            "_type": IN_TOTO_STATEMENT_TYPE,
            "subject": [
                {"name": f"hubgate-audit-event-{self.last_event_id}", "digest": {"sha256": self.head_hash}}
            ],
            "predicateType": CHECKPOINT_PREDICATE_TYPE,
            "predicate": {
                "lastEventId": self.last_event_id,
                "headHash": self.head_hash,
                "eventCount": self.event_count,
                "checkpointedAt": self.at.astimezone(UTC).isoformat(),
                "previousCheckpoint": self.previous_digest,
                "previousEventId": self.previous_event_id,
            },
        }

    @classmethod
    def from_statement(cls, statement: dict[str, object]) -> Checkpoint:
        """Read back a verified statement. Raises BundleFormatError for anything malformed."""
        where = "checkpoint.predicate"
        predicate = get_object(statement, "predicate", "checkpoint")
        previous = predicate.get("previousCheckpoint")
        if previous is not None and not isinstance(previous, str):
            raise BundleFormatError(f"{where}.previousCheckpoint must be a string or null")
        try:
            at = datetime.fromisoformat(get_str(predicate, "checkpointedAt", where))
        except ValueError:
            raise BundleFormatError(f"{where}.checkpointedAt is not an ISO 8601 time") from None
        return cls(
            last_event_id=_whole(predicate, "lastEventId"),
            head_hash=get_str(predicate, "headHash", where),
            event_count=_whole(predicate, "eventCount"),
            at=at,
            previous_digest=previous,
            previous_event_id=_whole(predicate, "previousEventId"),
        )


def _whole(predicate: Mapping[str, Any], key: str) -> int:
    value = predicate.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BundleFormatError(f"checkpoint.predicate.{key} must be a whole number")
    return value


class AuditChainBroken(Exception):
    """The rows since the last checkpoint do not hold together (or it is not ours): nothing is signed."""


@dataclass(frozen=True, slots=True)
class Exported:
    name: str
    checkpoint: Checkpoint
    digest: str


class AuditCheckpointer:
    """Makes a checkpoint every `every_events` new events or every `every_s` seconds (when there is
    anything new), on demand, and at shutdown. Across replicas a lease lets one write at a time, so the
    checkpoints form one chain."""

    def __init__(
        self,
        *,
        store: AuditTrail,
        objects: ObjectStore,
        attestor: Attestor,
        webhook: Webhook,
        leases: LeaseStore,
        every_events: int,
        every_s: float,
        previous_keys: tuple[Path, ...] = (),
    ) -> None:
        self._store = store
        self._objects = objects
        self._attestor = attestor
        self._webhook = webhook
        self._leases = leases
        self._every_events = every_events
        self._every_s = every_s
        self._previous_keys = previous_keys
        self._holder = uuid.uuid4().hex
        self._lock = asyncio.Lock()

    def trusted_keys(self) -> list[ec.EllipticCurvePublicKey]:
        """The attestation key, and earlier ones still trusted after a rotation (`audit.previous_keys`).

        Reads the PEM files each time (a rotation needs no restart). Raises TrustConfigError."""
        keys = [self._attestor.signer.public_key]
        for path in self._previous_keys:
            keys.extend(load_public_keys(str(path)))
        return keys

    async def checkpoint(self) -> Exported | None:
        """Checkpoint the chain as it stands now; None when the last checkpoint already covers it or
        another replica is making one. Raises AuditChainBroken (the rows since the last checkpoint do not
        hold together: nothing is signed), ObjectStoreError, DatabaseUnavailable."""
        async with self._lock:
            if not await self._leases.acquire(_LEASE_KEY, self._holder, ttl_s=_LEASE_TTL_S):
                return None
            try:
                return await self._checkpoint_once()
            finally:
                with contextlib.suppress(DatabaseUnavailable):
                    await self._leases.release(_LEASE_KEY, self._holder)

    async def _checkpoint_once(self) -> Exported | None:
        previous_name, previous_document = await self._latest()
        previous_id, previous_head = 0, GENESIS
        if previous_name is not None and previous_document is not None:
            previous_id, previous_head = await self._own_anchor(previous_name, previous_document)
        last_id, head_hash = await self._store.audit_head()
        if last_id <= previous_id:
            return None
        # Never vouch for a chain that does not hold: the rows since the last checkpoint must link up.
        problem = await self._segment_problem(previous_id, previous_head, last_id, head_hash)
        if problem is not None:
            raise AuditChainBroken(f"no checkpoint signed: {problem}; run `hubgate audit verify`")
        previous_digest = None if previous_document is None else document_digest(previous_document)
        checkpoint = Checkpoint(
            last_event_id=last_id,
            head_hash=head_hash,
            event_count=await self._store.audit_count(through_id=last_id),
            at=datetime.now(UTC),
            previous_digest=previous_digest,
            previous_event_id=previous_id,
        )
        document = await asyncio.to_thread(self._attestor.signer.sign_statement, checkpoint.statement())
        name = checkpoint_name(last_id)
        await self._objects.put_document(name, document)
        exported = Exported(name=name, checkpoint=checkpoint, digest=document_digest(document))
        self._announce(exported, document)
        return exported

    async def _latest(self) -> tuple[str | None, bytes | None]:
        names = await self._objects.list_documents(CHECKPOINT_PREFIX)
        if not names:
            return None, None
        document = await self._objects.get_document(names[-1])
        if document is None:  # deleted between the listing and the read
            raise ObjectStoreError(f"checkpoint {names[-1]} vanished while being read")
        return names[-1], document

    async def _own_anchor(self, name: str, document: bytes) -> tuple[int, str]:
        """(event id, head hash) of the newest checkpoint, which must be one hubgate signed."""
        try:
            keys = await asyncio.to_thread(self.trusted_keys)
        except TrustConfigError as exc:
            raise AuditChainBroken(f"no checkpoint signed: audit.previous_keys: {exc}") from exc
        try:
            statement = await asyncio.to_thread(
                verify_statement,
                document,
                keys,
                predicate_type=CHECKPOINT_PREDICATE_TYPE,
                what="audit checkpoint",
            )
            checkpoint = Checkpoint.from_statement(statement)
        except (BundleFormatError, VerificationFailed) as exc:
            raise AuditChainBroken(
                f"no checkpoint signed: the newest one, {name}, is not genuine: {exc}"
            ) from exc
        return checkpoint.last_event_id, checkpoint.head_hash

    async def _segment_problem(
        self, after_id: int, after_hash: str, last_id: int, head_hash: str
    ) -> str | None:
        prev, expected = after_hash, after_id + 1
        while expected <= last_id:
            events = await self._store.audit_events(after_id=expected - 1, limit=1000)
            for event in events:
                if event.id > last_id:
                    break
                if event.id != expected or event.prev_hash != prev or stored_event_hash(event) != event.hash:
                    return f"audit row {expected} is missing, altered or unlinked"
                prev, expected = event.hash, expected + 1
            if not events:
                return f"audit row {expected} is missing"
        return None if prev == head_hash else "the audit head does not match the last row"

    def _announce(self, exported: Exported, document: bytes) -> None:
        checkpoint = exported.checkpoint
        # The log and the webhook are copies outside both the database and the object store.
        log.info(
            "audit checkpoint %s: event %d, head %s, %d events, digest %s, previous %s",
            exported.name,
            checkpoint.last_event_id,
            checkpoint.head_hash,
            checkpoint.event_count,
            exported.digest,
            checkpoint.previous_digest or "none",
        )
        self._webhook.notify(
            {
                "event": "audit-checkpoint",
                "name": exported.name,
                "digest": exported.digest,
                "last_event_id": checkpoint.last_event_id,
                "head_hash": checkpoint.head_hash,
                "event_count": checkpoint.event_count,
                "previous_checkpoint": checkpoint.previous_digest,
                "at": checkpoint.at.isoformat(),
                "document": document.decode("utf-8"),
            }
        )

    async def loop(self, stop: asyncio.Event, *, poll_s: float = 5.0, clock: Clock = SYSTEM_CLOCK) -> None:
        """Until `stop` is set: checkpoint when enough events or time went by since the last one."""
        # From 0: events a previous run left unanchored are due at once (a no-op if already covered).
        last_id, last_time = 0, clock.monotonic()
        while not stop.is_set():
            await clock.wait(stop, min(poll_s, self._every_s))
            head_id, _ = await self._safe_head()
            due = head_id - last_id >= self._every_events or (
                head_id > last_id and clock.monotonic() - last_time >= self._every_s
            )
            if not due or stop.is_set():
                continue
            try:
                await self.checkpoint()
            except AuditChainBroken as exc:
                log.error("%s", exc)  # noqa: TRY400 - an alarm about the data, not a stack to trace
                continue
            except _CHECKPOINT_FAILURES as exc:
                log.warning("audit checkpoint failed (%s); trying again next round", exc)
                continue
            last_id, last_time = head_id, clock.monotonic()

    async def _safe_head(self) -> tuple[int, str]:
        try:
            return await self._store.audit_head()
        except DATABASE_ERRORS:
            return 0, ""
