"""Sigstore keyless: a recorded public bundle (see data/README.md) verified offline with sigstore-python."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from mirror.provenance import (
    KEYLESS_NEEDS_EXTRA,
    FailureReason,
    KeylessIdentity,
    MaterialKind,
    SignatureMethod,
    TrustRule,
    VerdictStatus,
    parse_bundle,
    verify_revision,
)
from tests.mirror.provenance.conftest import rewrite_payload, root_digest

SIG = (Path(__file__).parent / "data" / "oms-v1.1.0-sigstore.model.sig").read_bytes()
IDENTITY = "stefanb@us.ibm.com"
ISSUER = "https://sigstore.verify.ibm.com/oauth2"
FILES: dict[str, str | None] = {
    "signme-1": "f6310066c7320497ea554260c32c43660bff648cb2a61194832cc086077085e1",
    "signme-2": None,  # not known from metadata: checked when fetched
    "ignore-me": None,  # listed in the signed ignore_paths
    "model.sig": None,
    ".gitattributes": None,
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network at all, and sigstore's TUF cache in a temporary directory."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _rule(*identities: KeylessIdentity) -> TrustRule:
    return TrustRule(keyless=identities or (KeylessIdentity(identity=IDENTITY, issuer=ISSUER),))


def test_bundle_is_recognised_as_keyless() -> None:
    bundle = parse_bundle(SIG)
    assert bundle.material.kind is MaterialKind.KEYLESS
    assert bundle.material.tlog_entry_count == 1


def test_recorded_keyless_signature_verifies_offline() -> None:
    verdict = verify_revision(SIG, FILES, _rule())
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert verdict.method is SignatureMethod.KEYLESS
    assert verdict.signer == f"{IDENTITY} (issuer {ISSUER})"
    assert verdict.pending == frozenset({"signme-2"})
    assert (
        verdict.check_fetched("signme-2", "32dcb1f8e1ae52d5963e56a6ba06ab58b424c15ed2a6b70d2feca1d089370028")
        is None
    )


def test_identity_regex() -> None:
    rule = _rule(KeylessIdentity(identity_regex=r"[a-z]+@us\.ibm\.com", issuer=ISSUER))
    assert verify_revision(SIG, FILES, rule).status is VerdictStatus.VERIFIED
    # A regex must match the whole identity.
    rule = _rule(KeylessIdentity(identity_regex=r"stefanb", issuer=ISSUER))
    assert [r.reason for r in verify_revision(SIG, FILES, rule).reasons] == [FailureReason.UNTRUSTED_IDENTITY]


@pytest.mark.parametrize(
    "entry",
    [
        KeylessIdentity(identity="someone.else@us.ibm.com", issuer=ISSUER),
        KeylessIdentity(identity=IDENTITY, issuer="https://accounts.google.com"),
        KeylessIdentity(identity_regex=r".*", issuer="https://token.actions.githubusercontent.com"),
    ],
)
def test_untrusted_identity(entry: KeylessIdentity) -> None:
    verdict = verify_revision(SIG, FILES, _rule(entry))
    assert verdict.status is VerdictStatus.FAILED
    assert [r.reason for r in verdict.reasons] == [FailureReason.UNTRUSTED_IDENTITY]
    assert IDENTITY in verdict.reasons[0].message


def test_no_keyless_identities_trusted() -> None:
    verdict = verify_revision(SIG, FILES, TrustRule(public_keys=()))
    assert [r.reason for r in verdict.reasons] == [FailureReason.UNTRUSTED_IDENTITY]


def test_edited_payload_fails() -> None:
    new = "00" * 32

    def edit(statement: dict[str, Any]) -> None:
        resources = statement["predicate"]["resources"]
        resources[0]["digest"] = new
        statement["subject"][0]["digest"]["sha256"] = root_digest(resources)

    verdict = verify_revision(rewrite_payload(SIG, edit), {**FILES, "signme-1": new}, _rule())
    assert verdict.status is VerdictStatus.FAILED
    assert [r.reason for r in verdict.reasons] == [FailureReason.BAD_SIGNATURE]


def test_files_are_compared_for_keyless_too() -> None:
    verdict = verify_revision(SIG, {**FILES, "extra.bin": "11" * 32, "signme-1": "22" * 32}, _rule())
    assert [(r.reason, r.path) for r in verdict.reasons] == [
        (FailureReason.UNSIGNED_FILE, "extra.bin"),
        (FailureReason.DIGEST_MISMATCH, "signme-1"),
    ]


def test_without_sigstore_keyless_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "sigstore" or m.startswith("sigstore.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("sigstore", "sigstore.errors", "sigstore.models", "sigstore.verify"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import sigstore...` raise ImportError
    verdict = verify_revision(SIG, FILES, _rule())
    assert verdict.status is VerdictStatus.FAILED
    assert not verdict.passed
    assert [(r.reason, r.message) for r in verdict.reasons] == [
        (FailureReason.UNSUPPORTED, KEYLESS_NEEDS_EXTRA)
    ]
    assert "hubgate[sigstore]" in KEYLESS_NEEDS_EXTRA
