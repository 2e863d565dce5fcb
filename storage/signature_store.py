"""Queries for signature checks: the latest outcome of checking each revision's model signature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Database
from storage.queries import Queries, aware
from storage.records import RepoKey
from storage.tables import SignatureCheckRow


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    status: str  # verified | failed | unsigned | not-required
    method: str
    signer: str
    reason: str
    trust_rule: str
    checked_at: datetime

    def to_dict(self) -> dict[str, str]:
        return {
            "status": self.status,
            "method": self.method,
            "signer": self.signer,
            "reason": self.reason,
            "trust_rule": self.trust_rule,
            "checked_at": self.checked_at.isoformat(),
        }


class SignatureStore:
    def __init__(self, database: Database) -> None:
        self._q = Queries(database)

    async def save(self, repo: RepoKey, commit: str, check: SignatureCheck) -> None:
        values = {
            "status": check.status,
            "method": check.method,
            "signer": check.signer[:500],
            "reason": check.reason,
            "trust_rule": check.trust_rule[:200],
            "checked_at": check.checked_at,
        }
        async with self._q.session() as session, session.begin():
            pk = await self._q.repo_pk(session, repo)
            stmt = self._q.insert(SignatureCheckRow).values(repo_pk=pk, commit=commit, **values)
            await session.execute(
                stmt.on_conflict_do_update(index_elements=["repo_pk", "commit"], set_=values)
            )

    async def get(self, repo: RepoKey, commit: str) -> SignatureCheck | None:
        async with self._q.session() as session:
            pk = await self._q.find_repo_pk(session, repo)
            if pk is None:
                return None
            row = await session.get(SignatureCheckRow, (pk, commit))
            if row is None:
                return None
            return SignatureCheck(
                status=row.status,
                method=row.method,
                signer=row.signer,
                reason=row.reason,
                trust_rule=row.trust_rule,
                checked_at=aware(row.checked_at),
            )
