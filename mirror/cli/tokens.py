"""`hubgate token create|list|revoke`: API tokens, written to the database directly (the bootstrap path
before any token exists). Only the token table is touched, so hubgate's components are not built."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from mirror.config import Settings
from mirror.review.auth import generate_token, hash_token
from mirror.review.transitions import Role
from storage import migrate
from storage.db import Database
from storage.tokens import TokenStore

T = TypeVar("T")


async def _with_store(settings: Settings, work: Callable[[TokenStore], Awaitable[T]]) -> T:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    try:
        await migrate.require_current(database)
        return await work(TokenStore(database))
    finally:
        await database.close()


def create_token(settings: Settings, args: argparse.Namespace) -> int:
    role = Role.parse(args.role)
    token = generate_token()
    expires = None if args.expires_in is None else datetime.now(UTC) + args.expires_in
    created = asyncio.run(
        _with_store(
            settings,
            lambda store: store.create_token(
                name=args.name,
                subject=args.subject,
                role=role.name.lower(),
                token_hash=hash_token(token),
                expires_at=expires,
            ),
        )
    )
    print(token)
    until = "never" if created.expires_at is None else created.expires_at.isoformat()
    print(
        f"token {created.name!r} of {created.subject!r}: role {created.role}, expires {until}. "
        "Shown once; store it now.",
        file=sys.stderr,
    )
    return 0


def list_tokens(settings: Settings, args: argparse.Namespace) -> int:
    tokens = asyncio.run(_with_store(settings, lambda store: store.tokens()))
    now = datetime.now(UTC)
    for token in tokens:
        if token.revoked_at is not None:
            status = f"revoked {token.revoked_at:%Y-%m-%d}"
        elif token.expires_at is not None and token.expires_at <= now:
            status = f"expired {token.expires_at:%Y-%m-%d}"
        else:
            status = "active" if token.expires_at is None else f"active until {token.expires_at:%Y-%m-%d}"
        print(f"{token.name:<24} {token.subject:<24} {token.role:<10} {status}")
    return 0


def revoke_token(settings: Settings, args: argparse.Namespace) -> int:
    revoked = asyncio.run(_with_store(settings, lambda store: store.revoke_token(args.name)))
    if not revoked:
        print(f"hubgate: no active token named {args.name!r}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked")
    return 0
