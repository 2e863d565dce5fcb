"""Manifests other than files/sha256: shards and blake2b (made with model_signing's Python API, since its CLI
has no option for them), blake3 (fails closed), and the pre-1.0 `Digests/v0.1` statements."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mirror.provenance import (
    OMS_LEGACY_PREDICATE_TYPE,
    ContentVerifier,
    Failure,
    FailureReason,
    SerializationMethod,
    TrustRule,
    VerdictStatus,
    parse_statement,
    verify_revision,
)
from mirror.provenance.bundle import DsseEnvelope, serialize_key_bundle
from mirror.provenance.dsse import IN_TOTO_PAYLOAD_TYPE, pae, pae_legacy
from mirror.provenance.keys import key_fingerprint
from tests.mirror.provenance.conftest import make_model, payload_of, repo_listing
from tests.mirror.provenance.pki import new_key, public_pem

KeyPair = tuple[ec.EllipticCurvePrivateKey, Path, Path]
SHARD_FILES = {
    "weights.bin": bytes(range(256)) * 3,  # 768 bytes: 7 shards of 100 + one of 68
    "small.txt": b"tiny",  # one short shard
    "exact.bin": b"x" * 200,  # exactly two shards
    "empty.txt": b"",  # no shard at all
}


def _api_sign(model: Path, private_key: Path, hashing: str) -> bytes:
    """Sign with model_signing's library API in a subprocess (its CLI only makes files/sha256)."""
    script = f"""
import model_signing
hashing = model_signing.hashing.Config().{hashing}.set_ignored_paths(paths=["model.sig"])
(model_signing.signing.Config().use_elliptic_key_signer(private_key={str(private_key)!r})
    .set_hashing_config(hashing).sign({str(model)!r}, {str(model / "model.sig")!r}))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    return (model / "model.sig").read_bytes()


def _feed(verifier: ContentVerifier | None, data: bytes, step: int = 37) -> Failure | None:
    """Feed `data` in odd-sized chunks, so that chunks straddle shard boundaries."""
    assert verifier is not None
    for offset in range(0, len(data), step):
        verifier.update(data[offset : offset + step])
    return verifier.finish()


def _reason(failure: Failure | None) -> FailureReason | None:
    return failure.reason if failure else None


def test_shard_manifest(tmp_path: Path, key_pair: KeyPair) -> None:
    _, priv, pub = key_pair
    model = make_model(tmp_path / "model", SHARD_FILES)
    sig = _api_sign(model, priv, "use_shard_serialization(shard_size=100)")
    statement = payload_of(sig)
    predicate = statement["predicate"]
    assert isinstance(predicate, dict)
    assert predicate["serialization"]["method"] == "shards"
    manifest = parse_statement(json.dumps(statement).encode())
    assert manifest.method is SerializationMethod.SHARDS
    assert manifest.shard_size == 100
    assert set(manifest.files) == {"weights.bin", "small.txt", "exact.bin"}  # no entry for the empty file
    assert [(s.start, s.end) for s in manifest.files["weights.bin"].shards][-2:] == [(600, 700), (700, 768)]

    rule = TrustRule(public_keys=(str(pub),))
    verdict = verify_revision(sig, repo_listing(model), rule)
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert verdict.needs_content
    # A file in one shard is pinned by its whole-file sha256 (checked here from the listing); files of
    # several shards need their bytes.
    assert verdict.pending == frozenset({"weights.bin", "exact.bin"})
    assert verdict.check_fetched("small.txt", hashlib.sha256(b"tiny").hexdigest()) is None
    assert _reason(verdict.check_fetched("small.txt", hashlib.sha256(b"tinY").hexdigest())) is (
        FailureReason.DIGEST_MISMATCH
    )
    changed_small = {**repo_listing(model), "small.txt": hashlib.sha256(b"tiny!").hexdigest()}
    assert [r.reason for r in verify_revision(sig, changed_small, rule).reasons] == [
        FailureReason.DIGEST_MISMATCH
    ]
    # A whole-file sha256 cannot check several shards: fail closed, point to the content verifier.
    failure = verdict.check_fetched("weights.bin", hashlib.sha256(SHARD_FILES["weights.bin"]).hexdigest())
    assert failure is not None
    assert failure.reason is FailureReason.UNSUPPORTED
    for name, content in SHARD_FILES.items():
        assert _feed(verdict.content_verifier(name), content) is None, name
    changed = bytearray(SHARD_FILES["weights.bin"])
    changed[650] ^= 1
    failure = _feed(verdict.content_verifier("weights.bin"), bytes(changed))
    assert _reason(failure) is FailureReason.DIGEST_MISMATCH
    assert failure is not None
    assert "600-700" in failure.message
    for wrong_length in (SHARD_FILES["weights.bin"][:-1], SHARD_FILES["weights.bin"] + b"!"):
        failure = _feed(verdict.content_verifier("weights.bin"), wrong_length)
        assert _reason(failure) is FailureReason.DIGEST_MISMATCH
    # An unsigned file must be empty: known-empty passes phase (a); unknown ones are checked on fetch.
    listing = {**repo_listing(model), "new-empty": hashlib.sha256(b"").hexdigest(), "new-unknown": None}
    verdict = verify_revision(sig, listing, rule)
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert "new-unknown" in verdict.pending
    assert _feed(verdict.content_verifier("new-unknown"), b"") is None
    failure = _feed(verdict.content_verifier("new-unknown"), b"not empty")
    assert _reason(failure) is FailureReason.UNSIGNED_FILE
    listing["new-known"] = hashlib.sha256(b"not empty").hexdigest()
    verdict = verify_revision(sig, listing, rule)
    assert [(r.reason, r.path) for r in verdict.reasons] == [(FailureReason.UNSIGNED_FILE, "new-known")]
    # A signed file that is missing is still missing.
    del listing["small.txt"]
    verdict = verify_revision(sig, listing, rule)
    assert (FailureReason.MISSING_FILE, "small.txt") in [(r.reason, r.path) for r in verdict.reasons]


def test_blake2b_manifest(tmp_path: Path, key_pair: KeyPair) -> None:
    _, priv, pub = key_pair
    model = make_model(tmp_path / "model", {"w.bin": b"weights" * 100, "c.json": b"{}"})
    sig = _api_sign(model, priv, 'use_file_serialization(hashing_algorithm="blake2")')
    verdict = verify_revision(sig, repo_listing(model), TrustRule(public_keys=(str(pub),)))
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    assert verdict.needs_content
    assert verdict.pending == frozenset({"w.bin", "c.json"})  # known sha256s say nothing about blake2b
    assert _feed(verdict.content_verifier("w.bin"), b"weights" * 100) is None
    failure = _feed(verdict.content_verifier("w.bin"), b"weights" * 99)
    assert _reason(failure) is FailureReason.DIGEST_MISMATCH


def test_blake3_manifest_fails_closed(tmp_path: Path, key_pair: KeyPair) -> None:
    _, priv, pub = key_pair
    model = make_model(tmp_path / "model", {"w.bin": b"weights"})
    sig = _api_sign(model, priv, 'use_file_serialization(hashing_algorithm="blake3")')
    verdict = verify_revision(sig, repo_listing(model), TrustRule(public_keys=(str(pub),)))
    assert verdict.status is VerdictStatus.FAILED
    assert [r.reason for r in verdict.reasons] == [FailureReason.UNSUPPORTED]


def _legacy_statement(files: dict[str, bytes]) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {"name": n, "digest": {"sha256": hashlib.sha256(c).hexdigest()}} for n, c in files.items()
            ],
            "predicateType": OMS_LEGACY_PREDICATE_TYPE,
            "predicate": {},
        }
    ).encode()


@pytest.mark.parametrize("encoding", ["pae", "pae-legacy"])
def test_pre_1_0_statements(encoding: str) -> None:
    """model_signing < 1.0 wrote `Digests/v0.1` statements and signed a buggy PAE; both still verify."""
    key = new_key()
    files = {"w.bin": b"weights", "c.json": b"{}"}
    payload = _legacy_statement(files)
    encode = pae if encoding == "pae" else pae_legacy
    signature = key.sign(encode(IN_TOTO_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    sig = serialize_key_bundle(
        DsseEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, signature, ""), key_fingerprint(key.public_key())
    )
    rule = TrustRule(public_keys=(public_pem(key).decode(),))
    listing: dict[str, str | None] = {n: hashlib.sha256(c).hexdigest() for n, c in files.items()}
    verdict = verify_revision(sig, {**listing, ".gitattributes": None, "model.sig": None}, rule)
    assert verdict.status is VerdictStatus.VERIFIED, verdict.reasons
    verdict = verify_revision(sig, {**listing, "extra": None}, rule)
    assert [r.reason for r in verdict.reasons] == [FailureReason.UNSIGNED_FILE]
