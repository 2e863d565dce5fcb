"""hubgate's own API tokens: random bearer tokens with a role, stored only as sha256 digests.

A token belongs to a person, its subject (`hubgate token create --name laptop --subject alice@corp`): one
person may hold several tokens, and the four-eyes rule and the audit trail go by the person.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from mirror.errors import MirrorError
from mirror.review.transitions import Role
from mirror.token_format import TOKEN_PREFIX
from storage.tokens import TokenStore


class Unauthenticated(MirrorError):
    status = 401
    code = "Unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="hubgate"'})


class Forbidden(MirrorError):
    status = 403
    code = "Forbidden"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str  # the token's name
    role: Role
    subject: str = ""  # the person holding the token; "" for hubgate itself (then `name` is the person)

    @property
    def person(self) -> str:
        """Who acts: what four-eyes compares and the audit trail names."""
        return self.subject or self.name


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a plain digest is as good as a slow hash and costs nothing per call.
    return hashlib.sha256(token.encode()).hexdigest()


async def authenticate(authorization: str, store: TokenStore) -> Principal:
    """The holder of the hubgate token in an `Authorization` header's value."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated(
            "send a hubgate API token: Authorization: Bearer hgt_... (see `hubgate token create`)"
        )
    record = await store.token_by_hash(hash_token(token))
    if record is None:
        raise Unauthenticated("unknown hubgate API token")
    now = datetime.now(UTC)
    if record.revoked_at is not None:
        raise Unauthenticated(f"the API token {record.name!r} was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise Unauthenticated(f"the API token {record.name!r} expired at {record.expires_at.isoformat()}")
    return Principal(name=record.name, role=Role.parse(record.role), subject=record.subject or record.name)


def require(principal: Principal, role: Role) -> None:
    if principal.role < role:
        held = principal.role.name.lower()
        raise Forbidden(f"this needs the {role.name.lower()} role; token {principal.name!r} has {held}")
