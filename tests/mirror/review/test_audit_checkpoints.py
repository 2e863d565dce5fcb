"""Signed audit checkpoints and `audit verify` against the attacks a database writer can make, on SQLite
and PostgreSQL, with the real signer, object store and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from mirror.provenance.signing import ModelSigner
from mirror.review.attestor import Attestor
from mirror.review.audit_verify import verify_audit
from mirror.review.checkpoints import (
    CHECKPOINT_PREFIX,
    AuditChainBroken,
    AuditCheckpointer,
    Checkpoint,
    checkpoint_name,
)
from mirror.review.webhook import Webhook
from storage import migrate
from storage.audit import stored_event_hash
from storage.audit_trail import AuditTrail
from storage.db import Database
from storage.filesystem import FilesystemObjectStore
from storage.leases import LeaseStore
from tests.mirror.fake_clock import SteppedClock
from tests.pg import PostgresServer


@dataclass
class Rig:
    database: Database
    store: AuditTrail
    objects: FilesystemObjectStore
    attestor: Attestor
    checkpoints: AuditCheckpointer

    async def events(self, count: int) -> None:
        for index in range(count):
            await self.store.audit(actor="alice@corp", role="admin", action="note", subject=f"s{index}")

    async def verify(self) -> dict[str, object]:
        return await verify_audit(
            store=self.store, objects=self.objects, trusted_keys=[self.attestor.signer.public_key]
        )

    async def sql(self, statement: str, **params: object) -> None:
        async with self.database.engine.begin() as connection:
            await connection.execute(text(statement), params)


@pytest.fixture(params=["sqlite", "postgres"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        database = Database(server.url(server.create_database()))
    else:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    await migrate.upgrade(database)
    attestor = Attestor(tmp_path / "attestation-key.pem")
    await attestor.start()
    objects = FilesystemObjectStore(tmp_path / "objects")
    store = AuditTrail(database)
    async with aiohttp.ClientSession() as session:
        checkpoints = AuditCheckpointer(
            store=store,
            objects=objects,
            attestor=attestor,
            webhook=Webhook(None, session),
            leases=LeaseStore(database),
            every_events=1000,
            every_s=300,
        )
        yield Rig(database, store, objects, attestor, checkpoints)
    await database.close()


async def _truncate(rig: Rig, keep: int) -> None:
    """What an insider with database access does to remove the newest rows without breaking the chain."""
    await rig.sql("DELETE FROM audit_events WHERE id > :keep", keep=keep)
    await rig.sql(
        "UPDATE audit_head SET last_id = :keep, last_hash = (SELECT hash FROM audit_events WHERE id = :keep)",
        keep=keep,
    )


async def test_an_untouched_trail_verifies_with_its_checkpoints(rig: Rig) -> None:
    await rig.events(3)
    first = await rig.checkpoints.checkpoint()
    assert first is not None
    assert first.name == checkpoint_name(3) == "audit/checkpoints/000000000003.json"
    assert await rig.checkpoints.checkpoint() is None  # nothing new: no second checkpoint of event 3
    await rig.events(2)
    second = await rig.checkpoints.checkpoint()
    assert second is not None
    assert second.checkpoint.previous_digest == first.digest
    assert second.checkpoint.previous_event_id == 3
    await rig.events(1)
    assert await rig.verify() == {
        "ok": True,
        "events": 6,
        "head": (await rig.store.audit_head())[1],
        "checkpoints": 2,
        "anchored_through": 5,
        "unanchored_events": 1,
    }


async def test_deleting_the_newest_rows_and_fixing_the_head_is_caught_by_the_checkpoint(rig: Rig) -> None:
    await rig.events(5)
    exported = await rig.checkpoints.checkpoint()
    assert exported is not None
    await _truncate(rig, keep=3)
    result = await rig.verify()
    assert result["ok"] is False
    assert result["checkpoint"] == exported.name
    assert "vouches for event 5" in str(result["problem"])
    assert "removed" in str(result["problem"])


async def test_rows_newer_than_the_last_checkpoint_are_the_documented_gap(rig: Rig) -> None:
    await rig.events(3)
    await rig.checkpoints.checkpoint()
    await rig.events(2)
    await _truncate(rig, keep=3)
    result = await rig.verify()
    # Exactly what the README says: a writer can still remove what no checkpoint has covered yet.
    assert (result["ok"], result["events"], result["unanchored_events"]) == (True, 3, 0)


async def test_recomputing_the_whole_chain_is_caught_by_the_checkpoint(rig: Rig) -> None:
    await rig.events(4)
    exported = await rig.checkpoints.checkpoint()
    assert exported is not None
    await rig.sql("UPDATE audit_events SET reason = 'nothing happened' WHERE id = 2")
    prev = "0" * 64
    for event in await rig.store.audit_events(limit=100):
        digest = stored_event_hash(replace(event, prev_hash=prev))
        await rig.sql(
            "UPDATE audit_events SET prev_hash = :prev, hash = :digest WHERE id = :id",
            prev=prev,
            digest=digest,
            id=event.id,
        )
        prev = digest
    await rig.sql("UPDATE audit_head SET last_hash = :digest", digest=prev)
    result = await rig.verify()
    assert result["ok"] is False
    assert result["checkpoint"] == exported.name
    assert "rewritten" in str(result["problem"])


async def test_a_checkpoint_signed_with_another_key_is_not_genuine(rig: Rig, tmp_path: Path) -> None:
    await rig.events(5)
    exported = await rig.checkpoints.checkpoint()
    assert exported is not None
    await _truncate(rig, keep=3)
    # The insider replaces the checkpoint with one that matches the truncated trail, signed by a key of
    # their own (they can write the object store, but do not hold hubgate's key).
    head_id, head_hash = await rig.store.audit_head()
    forged = Checkpoint(
        last_event_id=head_id,
        head_hash=head_hash,
        event_count=head_id,
        at=exported.checkpoint.at,
        previous_digest=None,
        previous_event_id=0,
    )
    own_key = ModelSigner.from_key_file(tmp_path / "insider.pem", create=True)
    await rig.objects.put_document(checkpoint_name(head_id), own_key.sign_statement(forged.statement()))
    names = await rig.objects.list_documents(CHECKPOINT_PREFIX)
    for name in names:
        if name != checkpoint_name(head_id):
            (rig.objects.root / name).unlink()
    result = await rig.verify()
    assert result["ok"] is False
    assert result["checkpoint"] == checkpoint_name(head_id)
    assert "not genuine" in str(result["problem"])


async def test_a_removed_checkpoint_breaks_the_checkpoints_own_chain(rig: Rig) -> None:
    names = []
    for _ in range(3):
        await rig.events(2)
        exported = await rig.checkpoints.checkpoint()
        assert exported is not None
        names.append(exported.name)
    (rig.objects.root / names[1]).unlink()
    result = await rig.verify()
    assert result["ok"] is False
    assert result["checkpoint"] == names[2]
    assert "does not follow" in str(result["problem"])


async def test_a_checkpoint_renamed_to_cover_other_rows_is_caught(rig: Rig) -> None:
    await rig.events(4)
    exported = await rig.checkpoints.checkpoint()
    assert exported is not None
    document = await rig.objects.get_document(exported.name)
    assert document is not None
    (rig.objects.root / exported.name).unlink()
    await rig.objects.put_document(checkpoint_name(2), document)
    result = await rig.verify()
    assert result["ok"] is False
    assert "another name" in str(result["problem"])


async def test_a_checkpoint_is_a_signed_in_toto_statement(rig: Rig) -> None:
    await rig.events(2)
    exported = await rig.checkpoints.checkpoint()
    assert exported is not None
    bundle = json.loads((rig.objects.root / exported.name).read_bytes())
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == rig.attestor.signer.fingerprint
    assert bundle["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"


def _checkpointer(
    rig: Rig, session: aiohttp.ClientSession, *, every_events: int, every_s: float
) -> AuditCheckpointer:
    return AuditCheckpointer(
        store=rig.store,
        objects=rig.objects,
        attestor=rig.attestor,
        webhook=Webhook(None, session),
        leases=LeaseStore(rig.database),
        every_events=every_events,
        every_s=every_s,
    )


async def _anchored_through(rig: Rig) -> object:
    return (await rig.verify()).get("anchored_through")


async def test_the_loop_anchors_events_left_by_an_earlier_run_and_then_every_n(rig: Rig) -> None:
    await rig.events(3)  # written before this process started checkpointing
    clock, stop = SteppedClock(), asyncio.Event()
    async with aiohttp.ClientSession() as session:
        every_two = _checkpointer(rig, session, every_events=2, every_s=3600)
        job = asyncio.ensure_future(every_two.loop(stop, poll_s=5, clock=clock))
        try:
            await clock.parked(job)
            await clock.step(job)
            assert await _anchored_through(rig) == 3
            await rig.events(1)
            await clock.step(job)
            assert await _anchored_through(rig) == 3, "one new event is below the threshold"
            await rig.events(1)
            await clock.step(job)
            assert await _anchored_through(rig) == 5
        finally:
            stop.set()
            await clock.step(job)
            await job


async def test_the_loop_anchors_a_few_events_once_enough_time_went_by(rig: Rig) -> None:
    clock, stop = SteppedClock(), asyncio.Event()
    async with aiohttp.ClientSession() as session:
        every_five_minutes = _checkpointer(rig, session, every_events=1000, every_s=300)
        job = asyncio.ensure_future(every_five_minutes.loop(stop, poll_s=5, clock=clock))
        try:
            await clock.parked(job)
            await clock.step(job)
            await rig.events(2)
            await clock.step(job, 200)
            assert await _anchored_through(rig) == 0, "two events, and not yet five minutes"
            await clock.step(job, 100)
            assert await _anchored_through(rig) == 2
            assert clock.waits[0] == 5, "it polls every poll_s, not every every_s"
        finally:
            stop.set()
            await clock.step(job)
            await job


async def test_a_broken_chain_is_never_signed(rig: Rig, tmp_path: Path) -> None:
    await rig.events(2)
    assert await rig.checkpoints.checkpoint() is not None
    await rig.events(2)
    await rig.sql("UPDATE audit_events SET reason = 'edited' WHERE id = 4")
    with pytest.raises(AuditChainBroken, match="row 4"):
        await rig.checkpoints.checkpoint()
    assert len(await rig.objects.list_documents(CHECKPOINT_PREFIX)) == 1


async def test_nothing_is_chained_onto_a_checkpoint_hubgate_did_not_sign(rig: Rig, tmp_path: Path) -> None:
    await rig.events(2)
    head_id, head_hash = await rig.store.audit_head()
    forged = Checkpoint(
        last_event_id=head_id,
        head_hash=head_hash,
        event_count=head_id,
        at=datetime.now(UTC),
        previous_digest=None,
        previous_event_id=0,
    )
    insider = ModelSigner.from_key_file(tmp_path / "insider.pem", create=True)
    await rig.objects.put_document(checkpoint_name(head_id), insider.sign_statement(forged.statement()))
    await rig.events(1)
    with pytest.raises(AuditChainBroken, match="not genuine"):
        await rig.checkpoints.checkpoint()


async def test_after_a_key_rotation_the_earlier_checkpoints_verify_only_when_their_key_is_trusted(
    rig: Rig, tmp_path: Path
) -> None:
    await rig.events(2)
    assert await rig.checkpoints.checkpoint() is not None
    old_public = tmp_path / "old-key.pub"
    old_public.write_text(rig.attestor.signer.public_key_pem)
    rotated = Attestor(tmp_path / "new-key.pem")
    await rotated.start()
    async with aiohttp.ClientSession() as session:

        def checkpointer(previous_keys: tuple[Path, ...]) -> AuditCheckpointer:
            return AuditCheckpointer(
                store=rig.store,
                objects=rig.objects,
                attestor=rotated,
                webhook=Webhook(None, session),
                leases=LeaseStore(rig.database),
                every_events=1000,
                every_s=300,
                previous_keys=previous_keys,
            )

        await rig.events(1)
        with pytest.raises(AuditChainBroken, match="not genuine"):
            await checkpointer(()).checkpoint()
        trusting = checkpointer((old_public,))
        assert await trusting.checkpoint() is not None
    only_new = await verify_audit(
        store=rig.store, objects=rig.objects, trusted_keys=[rotated.signer.public_key]
    )
    assert only_new["ok"] is False
    both = await verify_audit(store=rig.store, objects=rig.objects, trusted_keys=trusting.trusted_keys())
    assert (both["ok"], both["checkpoints"]) == (True, 2)
