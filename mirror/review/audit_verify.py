"""`hubgate audit verify` and `GET /audit/verify`: the chain of rows, checked against every signed checkpoint.

The rows alone prove only that they agree with each other: a database writer can delete the newest ones
and fix the head, or recompute every hash. The checkpoints (mirror/review/checkpoints.py) are signed with
the attestation key and kept in the object store, so each one pins the row it names: that row must still
exist with the hash the checkpoint signed, and the checkpoints must form one unbroken chain of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from mirror.provenance.errors import BundleFormatError, TrustConfigError, VerificationFailed
from mirror.provenance.signing import verify_statement
from mirror.review.checkpoints import (
    CHECKPOINT_PREDICATE_TYPE,
    CHECKPOINT_PREFIX,
    AuditCheckpointer,
    Checkpoint,
    checkpoint_name,
    document_digest,
)
from storage.audit import GENESIS, stored_event_hash
from storage.audit_trail import AuditTrail
from storage.objects import ObjectStore, ObjectStoreError

_FETCH_AT_ONCE = 16


class _Broken(Exception):
    def __init__(
        self, problem: str, *, checkpoint: str | None = None, first_bad_id: int | None = None
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.checkpoint = checkpoint
        self.first_bad_id = first_bad_id


@dataclass(frozen=True, slots=True)
class _Anchor:
    name: str
    checkpoint: Checkpoint


async def verify_trail(
    checkpoints: AuditCheckpointer, *, store: AuditTrail, objects: ObjectStore
) -> dict[str, Any]:
    """verify_audit with the keys the checkpointer trusts: the attestation key and the earlier ones the
    operator still trusts (`audit.previous_keys`). An unreadable key file is a failed verification."""
    try:
        keys = checkpoints.trusted_keys()
    except TrustConfigError as exc:
        return {"ok": False, "events": 0, "problem": f"cannot read audit.previous_keys: {exc}"}
    return await verify_audit(store=store, objects=objects, trusted_keys=keys)


async def verify_audit(
    *, store: AuditTrail, objects: ObjectStore, trusted_keys: Sequence[ec.EllipticCurvePublicKey]
) -> dict[str, Any]:
    """The verdict as a JSON-able dict: `ok`, the number of events, and on failure the `problem` (naming
    the `checkpoint` when one caught it) and `first_bad_id`."""
    events = 0
    try:
        anchors = await _load_checkpoints(objects, trusted_keys)
        events, head = await _walk_rows(store, {a.checkpoint.last_event_id: a for a in anchors})
        _check_none_beyond(anchors, events)
    except _Broken as broken:
        result: dict[str, Any] = {"ok": False, "events": events, "problem": broken.problem}
        if broken.first_bad_id is not None:
            result["first_bad_id"] = broken.first_bad_id
        if broken.checkpoint is not None:
            result["checkpoint"] = broken.checkpoint
        return result
    anchored = anchors[-1].checkpoint.last_event_id if anchors else 0
    return {
        "ok": True,
        "events": events,
        "head": head,
        "checkpoints": len(anchors),
        "anchored_through": anchored,
        # Rows a database writer could still remove without verify noticing, until the next checkpoint.
        "unanchored_events": events - anchored,
    }


def _check_none_beyond(anchors: Sequence[_Anchor], events: int) -> None:
    """Rows a checkpoint vouches for must still exist: deleting the newest rows and fixing the head
    leaves the chain consistent, but not the checkpoints."""
    for anchor in anchors:
        if anchor.checkpoint.last_event_id > events:
            raise _Broken(
                f"checkpoint {anchor.name} vouches for event {anchor.checkpoint.last_event_id} "
                f"(hash {anchor.checkpoint.head_hash}), which is missing: the rows after event "
                f"{events} were removed",
                checkpoint=anchor.name,
                first_bad_id=events + 1,
            )


async def _walk_rows(store: AuditTrail, anchors: dict[int, _Anchor]) -> tuple[int, str]:
    """Check every row's hash and link, and the rows that checkpoints name; returns (count, head hash)."""
    prev, count, expected_id = GENESIS, 0, 1
    async for event in store.iter_audit():
        problem = None
        if event.id != expected_id:
            problem = f"row {expected_id} is missing"
        elif event.prev_hash != prev:
            problem = f"row {event.id} does not link to the row before it"
        elif stored_event_hash(event) != event.hash:
            problem = f"row {event.id} was altered (its hash does not match its content)"
        if problem is not None:
            raise _Broken(problem, first_bad_id=event.id)
        prev, count, expected_id = event.hash, count + 1, event.id + 1
        anchor = anchors.get(event.id)
        if anchor is not None and event.hash != anchor.checkpoint.head_hash:
            raise _Broken(
                f"checkpoint {anchor.name} signed hash {anchor.checkpoint.head_hash} for event {event.id}, "
                f"the database holds {event.hash}: the trail up to event {event.id} was rewritten",
                checkpoint=anchor.name,
                first_bad_id=event.id,
            )
    head_id, head_hash = await store.audit_head()
    if (head_id, head_hash) != (count, prev):
        raise _Broken("rows after the last one are missing", first_bad_id=count + 1)
    return count, prev


async def _load_checkpoints(
    objects: ObjectStore, trusted_keys: Sequence[ec.EllipticCurvePublicKey]
) -> list[_Anchor]:
    """Every exported checkpoint, signature-checked and chained, oldest first."""
    try:
        names = await objects.list_documents(CHECKPOINT_PREFIX)
    except ObjectStoreError as exc:
        raise _Broken(f"cannot read the audit checkpoints: {exc}") from exc
    anchors: list[_Anchor] = []
    previous: tuple[str, int] | None = None  # (digest, event id) of the checkpoint before
    for start in range(0, len(names), _FETCH_AT_ONCE):
        batch = names[start : start + _FETCH_AT_ONCE]
        documents = await asyncio.gather(*(_fetch(objects, name) for name in batch))
        for name, document in zip(batch, documents, strict=True):
            # Signature checks are CPU work: off the event loop.
            checkpoint = await asyncio.to_thread(_read, name, document, trusted_keys)
            _check_link(name, checkpoint, previous)
            anchors.append(_Anchor(name, checkpoint))
            previous = (document_digest(document), checkpoint.last_event_id)
    return anchors


async def _fetch(objects: ObjectStore, name: str) -> bytes:
    try:
        document = await objects.get_document(name)
    except ObjectStoreError as exc:
        raise _Broken(f"cannot read checkpoint {name}: {exc}", checkpoint=name) from exc
    if document is None:
        raise _Broken(f"checkpoint {name} vanished while being read", checkpoint=name)
    return document


def _read(name: str, document: bytes, trusted_keys: Sequence[ec.EllipticCurvePublicKey]) -> Checkpoint:
    try:
        statement = verify_statement(
            document, trusted_keys, predicate_type=CHECKPOINT_PREDICATE_TYPE, what="audit checkpoint"
        )
        checkpoint = Checkpoint.from_statement(statement)
    except (BundleFormatError, VerificationFailed) as exc:
        raise _Broken(f"checkpoint {name} is not genuine: {exc}", checkpoint=name) from exc
    if checkpoint_name(checkpoint.last_event_id) != name:
        raise _Broken(
            f"checkpoint {name} is stored under another name than its signed event id "
            f"({checkpoint.last_event_id})",
            checkpoint=name,
        )
    if checkpoint.event_count != checkpoint.last_event_id:
        # Event ids run from 1 without gaps, so a checkpoint of event N counted N rows.
        raise _Broken(
            f"checkpoint {name} counted {checkpoint.event_count} events up to event "
            f"{checkpoint.last_event_id}",
            checkpoint=name,
        )
    return checkpoint


def _check_link(name: str, checkpoint: Checkpoint, previous: tuple[str, int] | None) -> None:
    expected = (None, 0) if previous is None else previous
    if (checkpoint.previous_digest, checkpoint.previous_event_id) != expected:
        what = "no earlier checkpoint" if previous is None else f"the checkpoint of event {expected[1]}"
        raise _Broken(
            f"checkpoint {name} does not follow {what}: a checkpoint was removed, replaced or inserted",
            checkpoint=name,
        )
