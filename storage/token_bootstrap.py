"""Make sure one named API token exists with a given role and hash (the bootstrap admin token of a cluster).

Every replica runs this at startup with the same values, so it must be idempotent and safe when several
replicas race: the name is unique, so a replica that loses the race to insert retries once and then finds
the row the winner wrote. The change and its audit event commit in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.audit_trail import append_event
from storage.db import Database
from storage.queries import Queries, utcnow
from storage.tables import ApiTokenRow


class Ensured(StrEnum):
    CREATED = "created"
    ROTATED = "rotated"  # the row existed with another hash (the secret changed) or another role
    UNCHANGED = "unchanged"
    KEPT_REVOKED = "kept-revoked"  # an operator revoked this very token: only a new secret re-issues it


class TokenHashTaken(Exception):
    """The hash already belongs to a token of another name: the same secret cannot be two tokens."""


async def ensure_named_token(
    database: Database,
    *,
    name: str,
    role: str,
    token_hash: str,
    actor: str,
    actor_role: str,
    reason: str,
    subject: str | None = None,
) -> Ensured:
    """Create or update the token `name` so that it has `role`, `token_hash` and `subject` (the person it
    belongs to; default: its name); audit any change as done by `actor` holding `actor_role`.

    Nothing else is touched: other tokens stay as they are. Raises TokenHashTaken, DatabaseUnavailable.
    """
    store = Queries(database)
    wanted = _Wanted(name=name, subject=subject or name, role=role, token_hash=token_hash)
    try:
        return await _ensure_once(store, wanted, actor=(actor, actor_role), reason=reason)
    except IntegrityError:
        # Another replica inserted the same row between our read and our write; it is there now.
        return await _ensure_once(store, wanted, actor=(actor, actor_role), reason=reason)


@dataclass(frozen=True, slots=True)
class _Wanted:
    name: str
    subject: str
    role: str
    token_hash: str


async def _ensure_once(store: Queries, wanted: _Wanted, *, actor: tuple[str, str], reason: str) -> Ensured:
    name, role, token_hash = wanted.name, wanted.role, wanted.token_hash
    async with store.session() as session, session.begin():
        row = await session.scalar(select(ApiTokenRow).where(ApiTokenRow.name == name).with_for_update())
        holder = await session.scalar(select(ApiTokenRow.name).where(ApiTokenRow.token_hash == token_hash))
        if holder is not None and holder != name:
            msg = f"this token is already stored under the name {holder!r}; give {name!r} its own secret"
            raise TokenHashTaken(msg)
        if row is None:
            session.add(
                ApiTokenRow(
                    name=name, subject=wanted.subject, role=role, token_hash=token_hash, created_at=utcnow()
                )
            )
            await session.flush()
            action, outcome = "token-create", Ensured.CREATED
        elif row.token_hash == token_hash and row.revoked_at is not None:
            return Ensured.KEPT_REVOKED
        elif row.token_hash == token_hash and row.role == role and row.subject == wanted.subject:
            return Ensured.UNCHANGED
        else:
            # A new secret replaces the old one outright: the old value stops working on every replica.
            row.token_hash, row.role, row.revoked_at, row.expires_at = token_hash, role, None, None
            row.subject = wanted.subject
            action, outcome = "token-rotate", Ensured.ROTATED
        await append_event(
            session,
            actor=actor[0],
            role=actor[1],
            action=action,
            review_id=None,
            subject=f"token:{name}",
            reason=f"role {role}; subject {wanted.subject}; {reason}",
        )
        return outcome
