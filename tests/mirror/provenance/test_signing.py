"""hubgate's own attestations: its model.sig passes the real `model_signing verify key`; key management."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mirror.provenance import (
    REVIEW_PREDICATE_TYPE,
    BundleFormatError,
    FailureReason,
    KeyFileError,
    ModelSigner,
    ReviewAttestation,
    TrustRule,
    VerdictStatus,
    VerificationFailed,
    key_fingerprint,
    load_or_create_private_key,
    manifest_digest,
    parse_bundle,
    signable_files,
    verify_review,
    verify_revision,
)
from tests.mirror.provenance.conftest import (
    MODEL_FILES,
    make_model,
    payload_of,
    repo_listing,
    rewrite_payload,
    run_cli,
)
from tests.mirror.provenance.pki import new_key, private_pem

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _sha256_files(root: Path) -> dict[str, str]:
    listing = repo_listing(root)
    return {path: digest for path, digest in listing.items() if digest is not None}


def _signer_and_pub(tmp_path: Path) -> tuple[ModelSigner, Path]:
    signer = ModelSigner.from_key_file(tmp_path / "keys" / "hubgate.key", create=True)
    pub = tmp_path / "keys" / "hubgate.pub"
    pub.write_text(signer.public_key_pem)
    return signer, pub


def test_hubgate_signature_passes_model_signing_cli(tmp_path: Path) -> None:
    signer, pub = _signer_and_pub(tmp_path)
    model = make_model(tmp_path / "model")  # includes .gitattributes, like every Hub repo
    files = signable_files(_sha256_files(model))
    assert ".gitattributes" not in files
    (model / "model.sig").write_bytes(signer.sign_manifest(files, model_name=f"acme/tiny@{COMMIT}"))

    result = run_cli("verify", "key", "--public_key", pub, "--signature", model / "model.sig", model)
    assert result.returncode == 0, result.stdout + result.stderr
    # hubgate's own verifier agrees.
    verdict = verify_revision(
        (model / "model.sig").read_bytes(), repo_listing(model), TrustRule(public_keys=(str(pub),))
    )
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert verdict.signer == signer.fingerprint

    # One changed byte and the reference CLI refuses it.
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[7] ^= 0x80
    weights.write_bytes(bytes(data))
    result = run_cli("verify", "key", "--public_key", pub, "--signature", model / "model.sig", model)
    assert result.returncode != 0
    assert "model.safetensors" in result.stdout + result.stderr


def test_hubgate_signature_fails_cli_for_an_extra_file(tmp_path: Path) -> None:
    signer, pub = _signer_and_pub(tmp_path)
    model = make_model(tmp_path / "model", {"weights.bin": b"w", "config.json": b"{}"})
    (model / "model.sig").write_bytes(signer.sign_manifest(signable_files(_sha256_files(model))))
    assert (
        run_cli("verify", "key", "--public_key", pub, "--signature", model / "model.sig", model).returncode
        == 0
    )
    (model / "extra.py").write_text("import os\n")
    assert (
        run_cli("verify", "key", "--public_key", pub, "--signature", model / "model.sig", model).returncode
        != 0
    )


def test_manifest_is_exactly_the_given_files(tmp_path: Path) -> None:
    signer, _ = _signer_and_pub(tmp_path)
    files = {name: hashlib.sha256(content).hexdigest() for name, content in MODEL_FILES.items()}
    sig = signer.sign_manifest(files, model_name="acme/tiny")
    statement = payload_of(sig)
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    names = [r["name"] for r in predicate["resources"]]
    assert sorted(names) == sorted(files)
    assert names.index("a/b") < names.index("a.txt")  # model_signing's component order
    assert statement["subject"] == [{"name": "acme/tiny", "digest": {"sha256": manifest_digest(files)}}]
    assert parse_bundle(sig).material.key_hint == signer.fingerprint


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({".gitattributes": "00" * 32}, "ignored"),
        ({"model.sig": "00" * 32}, "ignored"),
        ({".git/config": "00" * 32}, "ignored"),
        ({"../escape": "00" * 32}, "normalised"),
        ({"/abs": "00" * 32}, "absolute"),
        ({"w.bin": "XYZ"}, "sha256"),
        ({"w.bin": "AA" * 32}, "sha256"),
    ],
)
def test_sign_manifest_rejects(tmp_path: Path, files: dict[str, str], message: str) -> None:
    signer, _ = _signer_and_pub(tmp_path)
    with pytest.raises(ValueError, match=message):
        signer.sign_manifest(files)


def test_key_created_once_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / "signing.key"
    first = load_or_create_private_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert isinstance(first, ec.EllipticCurvePrivateKey)
    assert first.curve.name == "secp256r1"
    second = load_or_create_private_key(path)
    assert key_fingerprint(second.public_key()) == key_fingerprint(first.public_key())
    assert [p.name for p in path.parent.iterdir()] == ["signing.key"]  # no temporary file left behind


def test_concurrent_creation_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    results: list[str] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(key_fingerprint(load_or_create_private_key(path).public_key()))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert key_fingerprint(load_or_create_private_key(path).public_key()) == results[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signing.key"]


def test_existing_key_is_loaded(tmp_path: Path) -> None:
    key = new_key(ec.SECP384R1())
    path = tmp_path / "given.key"
    path.write_bytes(private_pem(key))
    signer = ModelSigner.from_key_file(path)
    assert signer.fingerprint == key_fingerprint(key.public_key())


def test_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        ModelSigner.from_key_file(tmp_path / "absent.key")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key")
    with pytest.raises(KeyFileError, match="unreadable"):
        ModelSigner.from_key_file(garbage)
    with pytest.raises(KeyFileError, match="unreadable"):
        ModelSigner.from_key_file(garbage, create=True)  # an existing file is never overwritten


def test_key_directory_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(KeyFileError, match="cannot create"):
        load_or_create_private_key(tmp_path / "a-file" / "k.key")


def _review() -> ReviewAttestation:
    return ReviewAttestation(
        repository="acme/tiny",
        revision=COMMIT,
        decision="approved",
        policy_version="sha256:4f2a",
        reviewed_at=dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
        reviewer="alice",
        reasons=("scan clean", "licence apache-2.0"),
        manifest_digest="ab" * 32,
    )


def test_review_attestation_round_trip(tmp_path: Path) -> None:
    signer, _ = _signer_and_pub(tmp_path)
    sig = signer.sign_review(_review())
    statement = payload_of(sig)
    assert statement["predicateType"] == REVIEW_PREDICATE_TYPE
    assert statement["subject"] == [
        {"name": f"acme/tiny@{COMMIT}", "digest": {"gitCommit": COMMIT}},
        {"name": "model-manifest", "digest": {"sha256": "ab" * 32}},
    ]
    assert verify_review(sig, [signer.public_key]) == _review()


def test_review_is_not_a_model_signature(tmp_path: Path) -> None:
    """The review statement never passes as a file manifest."""
    signer, _ = _signer_and_pub(tmp_path)
    sig = signer.sign_review(_review())
    verdict = verify_revision(sig, {}, TrustRule(public_keys=(signer.public_key_pem,)))
    assert verdict.status is VerdictStatus.FAILED
    assert [r.reason for r in verdict.reasons] == [FailureReason.UNSUPPORTED]


def test_review_wrong_key_and_tampering(tmp_path: Path) -> None:
    signer, _ = _signer_and_pub(tmp_path)
    sig = signer.sign_review(_review())
    with pytest.raises(VerificationFailed) as wrong:
        verify_review(sig, [new_key().public_key()])
    assert wrong.value.failure.reason is FailureReason.WRONG_KEY

    def block(statement: dict[str, Any]) -> None:
        statement["predicate"]["decision"] = "blocked"

    tampered = rewrite_payload(sig, block)
    with pytest.raises(VerificationFailed) as bad:
        verify_review(tampered, [signer.public_key])
    assert bad.value.failure.reason is FailureReason.BAD_SIGNATURE
    with pytest.raises(BundleFormatError):
        verify_review(signer.sign_manifest({"w.bin": "00" * 32}), [signer.public_key])


def test_review_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match="commit"):
        ReviewAttestation("acme/tiny", "main", "approved", "1", dt.datetime.now(dt.UTC)).statement()
