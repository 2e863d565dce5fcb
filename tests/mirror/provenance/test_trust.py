"""Trust rules: validation, loading of keys and roots, and how the mode turns a result into pass/fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from mirror.provenance import (
    FailureReason,
    KeylessIdentity,
    ModelSigner,
    SignatureMode,
    TrustConfigError,
    TrustRule,
    VerdictStatus,
    verify_revision,
)
from tests.mirror.provenance.pki import cert_pem, make_ca, public_pem

KEY = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
FILES = {"w.bin": "aa" * 32}
SIG = ModelSigner(KEY).sign_manifest(FILES)
PUB = public_pem(KEY).decode()


def test_modes() -> None:
    required = TrustRule(mode=SignatureMode.REQUIRED, public_keys=(PUB,))
    if_present = TrustRule(mode=SignatureMode.IF_PRESENT, public_keys=(PUB,))
    ignored = TrustRule(mode=SignatureMode.IGNORED)

    unsigned = verify_revision(None, FILES, required)
    assert (unsigned.status, unsigned.passed) == (VerdictStatus.UNSIGNED, False)
    assert [r.reason for r in unsigned.reasons] == [FailureReason.MISSING_SIGNATURE]
    unsigned = verify_revision(None, FILES, if_present)
    assert (unsigned.status, unsigned.passed, unsigned.reasons) == (VerdictStatus.UNSIGNED, True, ())

    for rule in (required, if_present):
        assert verify_revision(SIG, FILES, rule).passed
        bad = verify_revision(SIG, {"w.bin": "bb" * 32}, rule)  # present but wrong: fails in both modes
        assert (bad.status, bad.passed) == (VerdictStatus.FAILED, False)

    for sig in (None, SIG, b"garbage"):
        verdict = verify_revision(sig, FILES, ignored)
        assert (verdict.status, verdict.passed) == (VerdictStatus.NOT_REQUIRED, True)


def test_rule_from_policy_data() -> None:
    rule = TrustRule.model_validate(
        {
            "mode": "if-present",
            "public_keys": [PUB],
            "keyless": [{"identity_regex": r".*@acme\.com", "issuer": "https://accounts.google.com"}],
        }
    )
    assert rule.mode is SignatureMode.IF_PRESENT
    assert rule.keyless[0].identity_regex == r".*@acme\.com"
    with pytest.raises(ValidationError):
        TrustRule.model_validate({"mode": "sometimes"})
    with pytest.raises(ValidationError):
        TrustRule.model_validate({"keys": [PUB]})  # unknown field


@pytest.mark.parametrize(
    "data",
    [
        {"issuer": "https://accounts.google.com"},  # no identity
        {"identity": "a@b", "identity_regex": "a@b", "issuer": "https://x"},  # both
        {"identity": "", "issuer": "https://x"},
        {"identity": "a@b", "issuer": ""},
        {"identity_regex": "(", "issuer": "https://x"},  # does not compile
    ],
)
def test_bad_keyless_identities(data: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        KeylessIdentity.model_validate(data)


def test_resolve_loads_files_and_pem_text(tmp_path: Path) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    bundle = tmp_path / "keys.pem"
    bundle.write_bytes(public_pem(KEY) + public_pem(other))
    root = make_ca("root")
    roots = tmp_path / "roots.pem"
    roots.write_bytes(cert_pem(root.cert) + cert_pem(make_ca("root 2").cert))
    trust = TrustRule(public_keys=(str(bundle),), certificate_roots=(str(roots),)).resolve()
    assert len(trust.public_keys) == 2
    assert len(trust.certificate_roots) == 2
    # A resolved rule can be passed directly (resolve once at policy load).
    assert verify_revision(SIG, FILES, trust).status is VerdictStatus.VERIFIED


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (TrustRule(public_keys=("/nonexistent/key.pub",)), "public_keys[0]: cannot read public key file"),
        (
            TrustRule(public_keys=("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",)),
            "unreadable",
        ),
        (TrustRule(public_keys=("-----BEGIN PUBLIC KEY-----\nAAAA\n",)), "unterminated"),
        (
            TrustRule(
                public_keys=(
                    rsa.generate_private_key(65537, 2048)
                    .public_key()
                    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                    .decode(),
                )
            ),
            "only EC public keys",
        ),
        (TrustRule(certificate_roots=("/nonexistent/root.pem",)), "certificate_roots[0]: cannot read"),
        (
            TrustRule(certificate_roots=("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",)),
            "certificate_roots[0]: unreadable certificate",
        ),
    ],
)
def test_unusable_rules_fail_closed(rule: TrustRule, message: str) -> None:
    with pytest.raises(TrustConfigError) as error:
        rule.resolve()
    assert message in str(error.value)
    verdict = verify_revision(SIG, FILES, rule)
    assert (verdict.status, verdict.passed) == (VerdictStatus.FAILED, False)
    assert [r.reason for r in verdict.reasons] == [FailureReason.TRUST_CONFIG]


def test_key_signature_when_only_certificates_are_trusted() -> None:
    rule = TrustRule(certificate_roots=(cert_pem(make_ca("root").cert).decode(),))
    verdict = verify_revision(SIG, FILES, rule)
    assert [r.reason for r in verdict.reasons] == [FailureReason.WRONG_KEY]


def test_verdict_serialises() -> None:
    verdict = verify_revision(SIG, {**FILES, "extra": None}, TrustRule(public_keys=(PUB,)))
    data = verdict.to_dict()
    assert data["status"] == "failed"
    assert data["passed"] is False
    assert data["method"] == "key"
    assert data["reasons"] == [
        {"reason": "unsigned-file", "message": "'extra' is in the repository but not signed", "path": "extra"}
    ]
    assert "signature check failed" in verdict.summary()
