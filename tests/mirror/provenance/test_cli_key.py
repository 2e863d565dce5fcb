"""Signatures made by the real `model_signing sign key` CLI verify, and each tampering fails with its reason.

Where it is meaningful, the reference CLI's own `verify key` is run on the same tampered directory too, so
the two verifiers are seen to agree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mirror.provenance import (
    FailureReason,
    SignatureMethod,
    TrustRule,
    VerdictStatus,
    key_fingerprint,
    verify_revision,
)
from tests.mirror.provenance.conftest import (
    cli_ok,
    make_model,
    payload_of,
    repo_listing,
    rewrite_payload,
    root_digest,
    run_cli,
)
from tests.mirror.provenance.pki import new_key, private_pem, public_pem

KeyPair = tuple[ec.EllipticCurvePrivateKey, Path, Path]


@pytest.fixture
def signed_model(tmp_path: Path, key_pair: KeyPair) -> Path:
    _, priv, _ = key_pair
    model = make_model(tmp_path / "model")
    cli_ok("sign", "key", "--private_key", priv, "--signature", model / "model.sig", model)
    return model


def _rule(pub: Path) -> TrustRule:
    return TrustRule(public_keys=(str(pub),))


def _cli_verifies(model: Path, pub: Path) -> bool:
    result = run_cli("verify", "key", "--public_key", pub, "--signature", model / "model.sig", model)
    return result.returncode == 0


def test_cli_signature_verifies(signed_model: Path, key_pair: KeyPair) -> None:
    key, _, pub = key_pair
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model), _rule(pub)
    )
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert verdict.passed
    assert verdict.method is SignatureMethod.KEY
    assert verdict.signer == key_fingerprint(key.public_key())
    assert verdict.pending == frozenset()
    assert verdict.ignored == (".gitattributes", "model.sig")


def test_public_key_given_as_pem_text(signed_model: Path, key_pair: KeyPair) -> None:
    _, _, pub = key_pair
    rule = TrustRule(public_keys=(pub.read_text(),))
    verdict = verify_revision((signed_model / "model.sig").read_bytes(), repo_listing(signed_model), rule)
    assert verdict.status is VerdictStatus.VERIFIED


def test_small_files_are_checked_when_fetched(signed_model: Path, key_pair: KeyPair) -> None:
    """Phase (a) with the non-LFS files' digests unknown, then phase (b) as they arrive."""
    _, _, pub = key_pair
    small = ("config.json", "README.md", "tokenizer/vocab.txt")
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model, unknown=small), _rule(pub)
    )
    assert verdict.status is VerdictStatus.VERIFIED
    assert verdict.pending == frozenset(small)
    assert not verdict.needs_content
    for name in small:
        assert (
            verdict.check_fetched(name, hashlib.sha256((signed_model / name).read_bytes()).hexdigest())
            is None
        )
    tampered = verdict.check_fetched("config.json", hashlib.sha256(b'{"evil": true}').hexdigest())
    assert tampered is not None
    assert tampered.reason is FailureReason.DIGEST_MISMATCH
    assert tampered.path == "config.json"
    # Ignored files need no check; a file the signature does not know is reported.
    assert verdict.check_fetched(".gitattributes", "00" * 32) is None
    unknown = verdict.check_fetched("extra.bin", "00" * 32)
    assert unknown is not None
    assert unknown.reason is FailureReason.UNSIGNED_FILE


def test_changed_byte(signed_model: Path, key_pair: KeyPair) -> None:
    _, _, pub = key_pair
    weights = signed_model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0x01
    weights.write_bytes(bytes(data))
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model), _rule(pub)
    )
    assert verdict.status is VerdictStatus.FAILED
    assert not verdict.passed
    assert [(r.reason, r.path) for r in verdict.reasons] == [
        (FailureReason.DIGEST_MISMATCH, "model.safetensors")
    ]
    assert not _cli_verifies(signed_model, pub)


def test_extra_file_in_repo(signed_model: Path, key_pair: KeyPair) -> None:
    _, _, pub = key_pair
    (signed_model / "tokenizer" / "added.json").write_text("{}")
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model), _rule(pub)
    )
    assert [(r.reason, r.path) for r in verdict.reasons] == [
        (FailureReason.UNSIGNED_FILE, "tokenizer/added.json")
    ]
    assert verdict.status is VerdictStatus.FAILED
    assert not _cli_verifies(signed_model, pub)


def test_missing_file(signed_model: Path, key_pair: KeyPair) -> None:
    _, _, pub = key_pair
    (signed_model / "README.md").unlink()
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model), _rule(pub)
    )
    assert [(r.reason, r.path) for r in verdict.reasons] == [(FailureReason.MISSING_FILE, "README.md")]
    assert not _cli_verifies(signed_model, pub)


def test_git_files_and_signature_are_ignored(signed_model: Path, key_pair: KeyPair) -> None:
    _, _, pub = key_pair
    (signed_model / ".gitignore").write_text("*.tmp\n")
    (signed_model / ".github" / "workflows").mkdir(parents=True)
    (signed_model / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model), _rule(pub)
    )
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert set(verdict.ignored) == {".gitattributes", ".gitignore", ".github/workflows/ci.yml", "model.sig"}
    assert _cli_verifies(signed_model, pub)
    # ...but only at the model root: a nested .gitattributes is a model file like any other.
    (signed_model / "tokenizer" / ".gitattributes").write_text("x\n")
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model), _rule(pub)
    )
    assert [(r.reason, r.path) for r in verdict.reasons] == [
        (FailureReason.UNSIGNED_FILE, "tokenizer/.gitattributes")
    ]
    assert not _cli_verifies(signed_model, pub)


def test_other_key(signed_model: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pub"
    other.write_bytes(public_pem(new_key()))
    verdict = verify_revision(
        (signed_model / "model.sig").read_bytes(), repo_listing(signed_model), _rule(other)
    )
    assert verdict.status is VerdictStatus.FAILED
    assert [r.reason for r in verdict.reasons] == [FailureReason.WRONG_KEY]
    assert verdict.method is SignatureMethod.KEY
    assert not _cli_verifies(signed_model, other)


def test_one_of_several_trusted_keys(signed_model: Path, key_pair: KeyPair, tmp_path: Path) -> None:
    _, _, pub = key_pair
    rule = TrustRule(public_keys=(public_pem(new_key()).decode(), str(pub)))
    verdict = verify_revision((signed_model / "model.sig").read_bytes(), repo_listing(signed_model), rule)
    assert verdict.status is VerdictStatus.VERIFIED


def test_edited_payload_keeps_signature(signed_model: Path, key_pair: KeyPair) -> None:
    """A self-consistent statement with a changed digest, re-serialised, with the original signature."""
    _, _, pub = key_pair
    weights = signed_model / "model.safetensors"
    weights.write_bytes(b"replaced weights")
    new_digest = hashlib.sha256(b"replaced weights").hexdigest()

    def edit(statement: dict[str, Any]) -> None:
        resources = statement["predicate"]["resources"]
        for resource in resources:
            if resource["name"] == "model.safetensors":
                resource["digest"] = new_digest
        statement["subject"][0]["digest"]["sha256"] = root_digest(resources)

    sig = rewrite_payload((signed_model / "model.sig").read_bytes(), edit)
    (signed_model / "model.sig").write_bytes(sig)
    predicate = payload_of(sig)["predicate"]
    assert isinstance(predicate, dict)
    assert new_digest in {r["digest"] for r in predicate["resources"]}
    verdict = verify_revision(sig, repo_listing(signed_model), _rule(pub))
    assert verdict.status is VerdictStatus.FAILED
    assert [r.reason for r in verdict.reasons] == [FailureReason.BAD_SIGNATURE]
    assert not _cli_verifies(signed_model, pub)


def test_p384_and_p521_keys(tmp_path: Path) -> None:
    for curve in (ec.SECP384R1(), ec.SECP521R1()):
        key = new_key(curve)
        priv, pub = tmp_path / f"{curve.name}.key", tmp_path / f"{curve.name}.pub"
        priv.write_bytes(private_pem(key))
        pub.write_bytes(public_pem(key))
        model = make_model(tmp_path / curve.name)
        cli_ok("sign", "key", "--private_key", priv, "--signature", model / "model.sig", model)
        verdict = verify_revision((model / "model.sig").read_bytes(), repo_listing(model), _rule(pub))
        assert verdict.status is VerdictStatus.VERIFIED, (curve.name, verdict.reasons)


def test_signed_ignore_paths_are_honoured(tmp_path: Path, key_pair: KeyPair) -> None:
    """`--ignore-paths` at signing time is recorded in the statement and honoured when verifying."""
    _, priv, pub = key_pair
    model = make_model(tmp_path / "model", {**{"weights.bin": b"w"}, "notes/draft.txt": b"d"})
    cli_ok(
        "sign", "key", "--private_key", priv, "--signature", model / "model.sig",
        "--ignore-paths", model / "notes", model,
    )  # fmt: skip
    ser = payload_of((model / "model.sig").read_bytes())["predicate"]
    assert isinstance(ser, dict)
    assert "notes" in ser["serialization"]["ignore_paths"]
    (model / "notes" / "later.txt").write_text("added after signing, ignored")
    verdict = verify_revision((model / "model.sig").read_bytes(), repo_listing(model), _rule(pub))
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert "notes/later.txt" in verdict.ignored


def test_signature_elsewhere_in_repo(tmp_path: Path, key_pair: KeyPair) -> None:
    _, priv, pub = key_pair
    model = make_model(tmp_path / "model", {"weights.bin": b"w"})
    (model / "signatures").mkdir()
    cli_ok("sign", "key", "--private_key", priv, "--signature", model / "signatures" / "oms.sig", model)
    sig = (model / "signatures" / "oms.sig").read_bytes()
    verdict = verify_revision(sig, repo_listing(model), _rule(pub), signature_path="signatures/oms.sig")
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert "signatures/oms.sig" in verdict.ignored
    # The CLI also records the signature's path in the signed ignore_paths, so it stays ignored even when
    # the gate is told the default location.
    ser = payload_of(sig)["predicate"]
    assert isinstance(ser, dict)
    assert "signatures/oms.sig" in ser["serialization"]["ignore_paths"]
    assert verify_revision(sig, repo_listing(model), _rule(pub)).status is VerdictStatus.VERIFIED
