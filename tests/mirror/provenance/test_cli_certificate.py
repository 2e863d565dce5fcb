"""Certificate signatures made by the real `model_signing sign certificate` CLI.

The PKI (root CA -> intermediate CA -> code-signing leaf) is made with `cryptography` in `pki.py`; the bundle
carries the leaf and the intermediate, and the trust rule configures the root.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.x509.oid import ExtendedKeyUsageOID

from mirror.provenance import FailureReason, SignatureMethod, TrustRule, VerdictStatus, verify_revision
from tests.mirror.provenance.conftest import cli_ok, make_model, repo_listing, run_cli
from tests.mirror.provenance.pki import NOW, Pki, cert_pem, make_ca, make_leaf, make_pki, public_pem


def _sign(tmp_path: Path, pki: Pki) -> Path:
    files = pki.write(tmp_path / "pki")
    model = make_model(tmp_path / "model")
    cli_ok(
        "sign", "certificate",
        "--private_key", files["key"],
        "--signing_certificate", files["cert"],
        "--certificate_chain", files["chain"],
        "--signature", model / "model.sig",
        model,
    )  # fmt: skip
    return model


def _rule(pki: Pki) -> TrustRule:
    return TrustRule(certificate_roots=(cert_pem(pki.root.cert).decode(),))


def _verify(model: Path, rule: TrustRule) -> tuple[VerdictStatus, list[FailureReason], str | None]:
    verdict = verify_revision((model / "model.sig").read_bytes(), repo_listing(model), rule)
    return verdict.status, [r.reason for r in verdict.reasons], verdict.signer


def test_certificate_signature_verifies(tmp_path: Path) -> None:
    pki = make_pki()
    model = _sign(tmp_path, pki)
    verdict = verify_revision((model / "model.sig").read_bytes(), repo_listing(model), _rule(pki))
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert verdict.method is SignatureMethod.CERTIFICATE
    assert verdict.signer == "CN=model publisher,O=hubgate tests (email:signer@example.com)"
    # The reference CLI agrees, given the same root.
    root = tmp_path / "pki" / "root.pem"
    assert (
        run_cli(
            "verify", "certificate", "--certificate_chain", root, "--signature", model / "model.sig", model
        ).returncode
        == 0
    )


def test_root_given_as_file_path(tmp_path: Path) -> None:
    pki = make_pki()
    model = _sign(tmp_path, pki)
    rule = TrustRule(certificate_roots=(str(tmp_path / "pki" / "root.pem"),))
    assert _verify(model, rule)[0] is VerdictStatus.VERIFIED


def test_changed_byte_with_certificate(tmp_path: Path) -> None:
    pki = make_pki()
    model = _sign(tmp_path, pki)
    (model / "config.json").write_text('{"architectures": ["Evil"]}\n')
    assert _verify(model, _rule(pki))[:2] == (VerdictStatus.FAILED, [FailureReason.DIGEST_MISMATCH])


def test_expired_certificate(tmp_path: Path) -> None:
    root = make_ca("hubgate test root")
    intermediate = make_ca("hubgate test intermediate", root)
    leaf = make_leaf(
        intermediate, not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)
    )
    pki = Pki(root, intermediate, leaf)
    model = _sign(tmp_path, pki)
    status, reasons, _ = _verify(model, _rule(pki))
    assert (status, reasons) == (VerdictStatus.FAILED, [FailureReason.EXPIRED_CERTIFICATE])
    # ...and while it was valid, the same signature verified.
    verdict = verify_revision(
        (model / "model.sig").read_bytes(), repo_listing(model), _rule(pki), now=NOW - dt.timedelta(days=2)
    )
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons


def test_expired_intermediate(tmp_path: Path) -> None:
    root = make_ca("hubgate test root")
    intermediate = make_ca(
        "hubgate test intermediate",
        root,
        not_before=NOW - dt.timedelta(days=60),
        not_after=NOW - dt.timedelta(days=1),
    )
    pki = Pki(root, intermediate, make_leaf(intermediate))
    model = _sign(tmp_path, pki)
    assert _verify(model, _rule(pki))[:2] == (VerdictStatus.FAILED, [FailureReason.EXPIRED_CERTIFICATE])


def test_wrong_eku(tmp_path: Path) -> None:
    pki = make_pki(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    model = _sign(tmp_path, pki)
    assert _verify(model, _rule(pki))[:2] == (VerdictStatus.FAILED, [FailureReason.WRONG_EKU])


def test_missing_eku(tmp_path: Path) -> None:
    pki = make_pki(eku=())
    model = _sign(tmp_path, pki)
    assert _verify(model, _rule(pki))[:2] == (VerdictStatus.FAILED, [FailureReason.WRONG_EKU])


def test_key_usage_without_digital_signature(tmp_path: Path) -> None:
    pki = make_pki(digital_signature=False)
    model = _sign(tmp_path, pki)
    status, reasons, _ = _verify(model, _rule(pki))
    assert (status, reasons) == (VerdictStatus.FAILED, [FailureReason.WRONG_EKU])


def test_untrusted_root(tmp_path: Path) -> None:
    pki = make_pki()
    model = _sign(tmp_path, pki)
    other_root = make_ca("some other root")
    rule = TrustRule(certificate_roots=(cert_pem(other_root.cert).decode(),))
    assert _verify(model, rule)[:2] == (VerdictStatus.FAILED, [FailureReason.UNTRUSTED_ROOT])


def test_intermediate_is_not_a_trust_anchor_unless_configured(tmp_path: Path) -> None:
    """A chain whose leaf was issued by an untrusted CA that merely copies the trusted root's name fails."""
    pki = make_pki()
    impostor_root = make_ca("hubgate test root")  # same subject, different key
    impostor_intermediate = make_ca("hubgate test intermediate", impostor_root)
    impostor = Pki(impostor_root, impostor_intermediate, make_leaf(impostor_intermediate))
    model = _sign(tmp_path, impostor)
    assert _verify(model, _rule(pki))[:2] == (VerdictStatus.FAILED, [FailureReason.UNTRUSTED_ROOT])


def test_no_roots_configured(tmp_path: Path) -> None:
    pki = make_pki()
    model = _sign(tmp_path, pki)
    rule = TrustRule(public_keys=(), certificate_roots=())
    assert _verify(model, rule)[:2] == (VerdictStatus.FAILED, [FailureReason.UNTRUSTED_ROOT])


def test_certificate_signature_with_only_keys_trusted(tmp_path: Path) -> None:
    """Trusting the leaf's key is not trusting its certificate: the chain must still lead to a root."""
    pki = make_pki()
    model = _sign(tmp_path, pki)
    rule = TrustRule(public_keys=(public_pem(pki.leaf.key).decode(),))
    assert _verify(model, rule)[:2] == (VerdictStatus.FAILED, [FailureReason.UNTRUSTED_ROOT])


def test_bundle_carrying_the_root_too(tmp_path: Path) -> None:
    """Signers often pass the whole chain; a root inside the bundle is not trusted for being there."""
    pki = make_pki()
    files = pki.write(tmp_path / "pki")
    files["chain"].write_bytes(cert_pem(pki.intermediate.cert) + cert_pem(pki.root.cert))
    model = make_model(tmp_path / "model")
    cli_ok(
        "sign", "certificate", "--private_key", files["key"], "--signing_certificate", files["cert"],
        "--certificate_chain", files["chain"], "--signature", model / "model.sig", model,
    )  # fmt: skip
    assert _verify(model, _rule(pki))[0] is VerdictStatus.VERIFIED
    other_root = TrustRule(certificate_roots=(cert_pem(make_ca("some other root").cert).decode(),))
    assert _verify(model, other_root)[:2] == (VerdictStatus.FAILED, [FailureReason.UNTRUSTED_ROOT])
