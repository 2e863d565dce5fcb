"""The bootstrap admin token (auth.admin_token): a cluster's first API token comes from a Secret."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr, ValidationError

from mirror.config import load_settings
from mirror.review.auth import generate_token, hash_token
from mirror.review.bootstrap import BOOTSTRAP_TOKEN_NAME, ensure_admin_token
from storage import migrate
from storage.audit_trail import AuditTrail
from storage.db import Database
from storage.token_bootstrap import Ensured, TokenHashTaken
from storage.tokens import TokenStore
from tests.deploy.local import get
from tests.e2e.conftest import HubgateFactory
from tests.pg import PostgresServer


def _secret() -> SecretStr:
    return SecretStr(generate_token())


async def test_unset_creates_nothing(database: Database) -> None:
    assert await ensure_admin_token(None, database) is None
    store = TokenStore(database)
    trail = AuditTrail(database)
    assert await store.tokens() == []
    assert await trail.audit_events() == []


async def test_the_token_is_created_once_as_an_admin_and_audited(database: Database) -> None:
    secret = _secret()
    assert await ensure_admin_token(secret, database) is Ensured.CREATED
    assert await ensure_admin_token(secret, database) is Ensured.UNCHANGED
    store = TokenStore(database)
    trail = AuditTrail(database)
    record = await store.token_by_hash(hash_token(secret.get_secret_value()))
    assert record is not None
    assert (record.name, record.role, record.revoked_at, record.expires_at) == (
        BOOTSTRAP_TOKEN_NAME,
        "admin",
        None,
        None,
    )
    events = await trail.audit_events()
    assert [(e.action, e.subject, e.actor, e.role) for e in events] == [
        ("token-create", f"token:{BOOTSTRAP_TOKEN_NAME}", "hubgate", "system")
    ]


async def test_a_new_secret_replaces_the_old_token_and_nothing_else(database: Database) -> None:
    store = TokenStore(database)
    trail = AuditTrail(database)
    await store.create_token(
        name="sec-team", role="approver", token_hash=hash_token(generate_token()), expires_at=None
    )
    old, new = _secret(), _secret()
    assert await ensure_admin_token(old, database) is Ensured.CREATED
    assert await ensure_admin_token(new, database) is Ensured.ROTATED
    assert await store.token_by_hash(hash_token(old.get_secret_value())) is None
    rotated = await store.token_by_hash(hash_token(new.get_secret_value()))
    assert rotated is not None
    assert (rotated.name, rotated.role) == (BOOTSTRAP_TOKEN_NAME, "admin")
    tokens = {token.name: token for token in await store.tokens()}
    assert set(tokens) == {"sec-team", BOOTSTRAP_TOKEN_NAME}
    assert tokens["sec-team"].revoked_at is None
    assert tokens["sec-team"].role == "approver"
    events = await trail.audit_events()
    assert [(e.action, e.subject) for e in events] == [
        ("token-create", "token:sec-team"),
        ("token-create", f"token:{BOOTSTRAP_TOKEN_NAME}"),
        ("token-rotate", f"token:{BOOTSTRAP_TOKEN_NAME}"),
    ]
    # Appended to the one hash chain, each event linked to the one before.
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


async def test_a_revoked_bootstrap_token_stays_revoked_until_the_secret_changes(database: Database) -> None:
    store = TokenStore(database)
    secret = _secret()
    await ensure_admin_token(secret, database)
    assert await store.revoke_token(BOOTSTRAP_TOKEN_NAME)
    # A restart with the same Secret must not undo an operator's revocation.
    assert await ensure_admin_token(secret, database) is Ensured.KEPT_REVOKED
    record = await store.token_by_hash(hash_token(secret.get_secret_value()))
    assert record is not None
    assert record.revoked_at is not None
    # A new Secret issues a new, active token.
    fresh = _secret()
    assert await ensure_admin_token(fresh, database) is Ensured.ROTATED
    record = await store.token_by_hash(hash_token(fresh.get_secret_value()))
    assert record is not None
    assert record.revoked_at is None


async def test_a_secret_that_is_already_another_token_is_refused(database: Database) -> None:
    store = TokenStore(database)
    token = generate_token()
    await store.create_token(name="alice", role="viewer", token_hash=hash_token(token), expires_at=None)
    with pytest.raises(TokenHashTaken, match="alice"):
        await ensure_admin_token(SecretStr(token), database)
    assert [t.name for t in await store.tokens()] == ["alice"]


async def test_replicas_starting_together_create_one_token(postgres: PostgresServer) -> None:
    url = postgres.url(postgres.create_database())
    replicas = [Database(url) for _ in range(4)]  # one engine each, as separate processes have
    try:
        await migrate.upgrade(replicas[0])
        secret = _secret()
        outcomes = await asyncio.gather(*(ensure_admin_token(secret, db) for db in replicas))
        assert sorted(str(outcome) for outcome in outcomes) == ["created", *["unchanged"] * 3]
        store = TokenStore(replicas[0])
        trail = AuditTrail(replicas[0])
        assert [t.name for t in await store.tokens()] == [BOOTSTRAP_TOKEN_NAME]
        assert [e.action for e in await trail.audit_events()] == ["token-create"]
    finally:
        for db in replicas:
            await db.close()


def test_the_setting_comes_from_the_environment_and_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    token = generate_token()
    # A Secret made from a file usually ends in a newline.
    monkeypatch.setenv("HUBGATE_AUTH__ADMIN_TOKEN", token + "\n")
    secret = load_settings().auth.admin_token
    assert secret is not None
    assert secret.get_secret_value() == token
    for bad in ("hgt_short", "hf_" + token[4:], token[:-1] + "!"):
        monkeypatch.setenv("HUBGATE_AUTH__ADMIN_TOKEN", bad)
        with pytest.raises(ValidationError) as refused:
            load_settings()
        message = str(refused.value)
        assert "auth.admin_token" in message
        assert "must be a hubgate API token" in message
        assert bad not in message


def test_the_cli_refuses_a_malformed_token_without_printing_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBGATE_")}
    env["HUBGATE_AUTH__ADMIN_TOKEN"] = "hgt_thisIsNotLongEnough"
    result = subprocess.run(
        [sys.executable, "-m", "mirror.cli", "migrate", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "auth.admin_token" in result.stderr
    assert "hgt_thisIsNotLongEnough" not in result.stderr


def _status(url: str, token: str | None) -> int:
    port = urlsplit(url).port
    assert port is not None
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return get(port, "/api/hubgate/v1/reviews", headers=headers)[0]


def test_running_replicas_honour_the_bootstrap_token_and_its_rotation(
    make_hubgate: HubgateFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "shared"  # one data dir: one database (and bucket), like replicas
    first, second = generate_token(), generate_token()
    old = make_hubgate(data_dir=data_dir, auth={"admin_token": first})
    assert _status(old.url, first) == 200
    assert _status(old.url, None) == 401
    assert _status(old.url, generate_token()) == 401
    # A replica rolled out with a rotated Secret: the old value stops working on every replica at once.
    new = make_hubgate(data_dir=data_dir, auth={"admin_token": second})
    assert _status(new.url, second) == 200
    assert _status(new.url, first) == 401
    assert _status(old.url, first) == 401
    assert _status(old.url, second) == 200
