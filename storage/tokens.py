"""API tokens: stored as sha256 digests, each belonging to a person (its subject)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from storage.audit_trail import append_event
from storage.db import Database
from storage.queries import Queries, aware, utcnow
from storage.records import ApiToken
from storage.tables import ApiTokenRow


class TokenStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    def _session(self) -> Any:
        return self._q.session()

    async def create_token(
        self,
        *,
        name: str,
        role: str,
        token_hash: str,
        expires_at: datetime | None,
        subject: str | None = None,
    ) -> ApiToken:
        """A new token of `subject` (the person; default: the token's own name)."""
        async with self._session() as session, session.begin():
            row = ApiTokenRow(
                name=name,
                subject=subject or name,
                role=role,
                token_hash=token_hash,
                created_at=utcnow(),
                expires_at=expires_at,
            )
            session.add(row)
            await session.flush()
            await append_event(
                session,
                actor="cli",
                role="admin",
                action="token-create",
                review_id=None,
                subject=f"token:{name}",
                reason=f"role {role}; subject {row.subject}",
            )
            return _token(row)

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        async with self._session() as session:
            row = await session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash))
            return None if row is None else _token(row)

    async def revoke_token(self, name: str) -> bool:
        async with self._session() as session, session.begin():
            row = await session.scalar(select(ApiTokenRow).where(ApiTokenRow.name == name))
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = utcnow()
            await append_event(
                session,
                actor="cli",
                role="admin",
                action="token-revoke",
                review_id=None,
                subject=f"token:{name}",
            )
            return True

    async def tokens(self) -> list[ApiToken]:
        async with self._session() as session:
            return [
                _token(row) for row in await session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))
            ]


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        subject=row.subject,
        role=row.role,
        created_at=aware(row.created_at),
        expires_at=None if row.expires_at is None else aware(row.expires_at),
        revoked_at=None if row.revoked_at is None else aware(row.revoked_at),
    )
