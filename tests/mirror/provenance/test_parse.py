"""Strict parsing: each malformed bundle or statement gives a clear BundleFormatError; fuzzing never crashes
(nothing but BundleFormatError escapes the parsers, and verify_revision never raises)."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror.provenance import (
    BundleFormatError,
    FailureReason,
    ModelSigner,
    SignatureMethod,
    TrustRule,
    UnsupportedBundleError,
    VerdictStatus,
    parse_bundle,
    parse_statement,
    verify_revision,
)
from mirror.provenance.bundle import DsseEnvelope, serialize_key_bundle
from mirror.provenance.dsse import IN_TOTO_PAYLOAD_TYPE, pae
from mirror.provenance.keys import key_fingerprint
from tests.mirror.provenance.pki import cert_pem, make_ca, public_pem

Edit = Callable[[dict[str, Any]], object]

KEY = ec.derive_private_key(0x5EED, ec.SECP256R1())
SIGNER = ModelSigner(KEY)
FILES = {"model.safetensors": "ab" * 32, "config.json": "cd" * 32, "tok/vocab.txt": "ef" * 32}
VALID_SIG = SIGNER.sign_manifest(FILES, model_name="acme/tiny")
VALID_BUNDLE: dict[str, Any] = json.loads(VALID_SIG)
VALID_STATEMENT: dict[str, Any] = json.loads(base64.b64decode(VALID_BUNDLE["dsseEnvelope"]["payload"]))
RULE = TrustRule(public_keys=(public_pem(KEY).decode(),))
CERT_B64 = base64.b64encode(b"not really DER").decode()


def _bundle(edit: Edit) -> bytes:
    doc = copy.deepcopy(VALID_BUNDLE)
    edit(doc)
    return json.dumps(doc).encode()


def _statement(edit: Edit) -> bytes:
    doc = copy.deepcopy(VALID_STATEMENT)
    edit(doc)
    return json.dumps(doc).encode()


def _sign_payload(payload: bytes) -> bytes:
    """A correctly signed bundle around any payload, to reach the statement parser through verify_revision."""
    signature = KEY.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    envelope = DsseEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, signature, "")
    return serialize_key_bundle(envelope, key_fingerprint(KEY.public_key()))


def _set(path: str, value: object) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return edit


def _delete(path: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[part]
        del target[last]

    return edit


def test_valid_baseline() -> None:
    bundle = parse_bundle(VALID_SIG)
    manifest = parse_statement(bundle.envelope.payload)
    assert {p: f.digest for p, f in manifest.files.items()} == FILES
    assert verify_revision(VALID_SIG, FILES, RULE).status is VerdictStatus.VERIFIED


BUNDLE_CASES: list[tuple[str, bytes, str]] = [
    ("not json", b"model signature", "not valid JSON"),
    ("not utf-8", b"\xff\xfe{}", "not UTF-8"),
    ("array", b"[]", "must be a JSON object"),
    ("empty", b"", "not valid JSON"),
    ("duplicate key", b'{"mediaType": "a", "mediaType": "b"}', "duplicate JSON key 'mediaType'"),
    ("NaN", b'{"mediaType": NaN}', "constant NaN"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ("no media type", _bundle(_delete("mediaType")), "missing field 'mediaType'"),
    (
        "media type",
        _bundle(_set("mediaType", "application/json")),
        "not a supported Sigstore bundle media type",
    ),
    (
        "media type v0.1",
        _bundle(_set("mediaType", "application/vnd.dev.sigstore.bundle+json;version=0.1")),
        "media type",
    ),
    ("unknown field", _bundle(_set("extra", 1)), "unexpected field(s) 'extra'"),
    ("no envelope", _bundle(_delete("dsseEnvelope")), "missing field 'dsseEnvelope'"),
    ("payload type", _bundle(_set("dsseEnvelope.payloadType", "application/json")), "payloadType"),
    ("payload not base64", _bundle(_set("dsseEnvelope.payload", "not base64!")), "payload is not base64"),
    ("payload number", _bundle(_set("dsseEnvelope.payload", 42)), "payload must be a string, not a number"),
    ("no signatures", _bundle(_set("dsseEnvelope.signatures", [])), "exactly one signature, found 0"),
    (
        "two signatures",
        _bundle(lambda d: d["dsseEnvelope"]["signatures"].append(d["dsseEnvelope"]["signatures"][0])),
        "exactly one signature, found 2",
    ),
    ("signature not base64", _bundle(_set("dsseEnvelope.signatures.0.sig", "%%%")), "sig is not base64"),
    ("keyid type", _bundle(_set("dsseEnvelope.signatures.0.keyid", 7)), "keyid must be a string"),
    ("no material", _bundle(_delete("verificationMaterial.publicKey")), "exactly one of publicKey"),
    (
        "two materials",
        _bundle(_set("verificationMaterial.certificate", {"rawBytes": CERT_B64})),
        "exactly one of publicKey, x509CertificateChain, certificate (found publicKey, certificate)",
    ),
    ("hint type", _bundle(_set("verificationMaterial.publicKey.hint", ["a"])), "hint must be a string"),
    ("tlog type", _bundle(_set("verificationMaterial.tlogEntries", {})), "tlogEntries must be an array"),
    (
        "empty chain",
        _bundle(_set("verificationMaterial", {"x509CertificateChain": {"certificates": []}})),
        "is empty",
    ),
    (
        "chain entry",
        _bundle(_set("verificationMaterial", {"x509CertificateChain": {"certificates": ["MIIB"]}})),
        "certificates[0] must be an object",
    ),
]


@pytest.mark.parametrize(
    ("raw", "message"), [(c[1], c[2]) for c in BUNDLE_CASES], ids=[c[0] for c in BUNDLE_CASES]
)
def test_malformed_bundles(raw: bytes, message: str) -> None:
    with pytest.raises(BundleFormatError) as error:
        parse_bundle(raw)
    assert message in error.value.message
    assert error.value.reason is FailureReason.MALFORMED_BUNDLE
    verdict = verify_revision(raw, FILES, RULE)
    assert verdict.status is VerdictStatus.FAILED
    assert [(r.reason, r.message) for r in verdict.reasons] == [
        (FailureReason.MALFORMED_BUNDLE, error.value.message)
    ]


def test_message_signature_bundle_is_unsupported() -> None:
    raw = _bundle(_set("messageSignature", {"messageDigest": {}, "signature": ""}))
    with pytest.raises(UnsupportedBundleError, match="message signature"):
        parse_bundle(raw)
    assert [r.reason for r in verify_revision(raw, FILES, RULE).reasons] == [FailureReason.UNSUPPORTED]


def test_accepted_bundle_variants() -> None:
    for media_type in (
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
    ):
        assert parse_bundle(_bundle(_set("mediaType", media_type))).media_type == media_type
    # Older model_signing wrote no hint and carried rawBytes/keyDetails: read, but the key is never trusted.
    legacy = _bundle(
        _set("verificationMaterial.publicKey", {"rawBytes": CERT_B64, "keyDetails": "PKIX_ECDSA"})
    )
    assert parse_bundle(legacy).material.key_hint is None
    assert verify_revision(legacy, FILES, RULE).status is VerdictStatus.VERIFIED
    # Without a hint, a key that is not trusted is simply one that does not verify.
    other = TrustRule(public_keys=(public_pem(ec.generate_private_key(ec.SECP256R1())).decode(),))
    assert [r.reason for r in verify_revision(legacy, FILES, other).reasons] == [FailureReason.BAD_SIGNATURE]
    # URL-safe base64 and missing padding (both legal in protobuf JSON).
    payload = base64.urlsafe_b64encode(base64.b64decode(VALID_BUNDLE["dsseEnvelope"]["payload"])).rstrip(b"=")
    variant = parse_bundle(_bundle(_set("dsseEnvelope.payload", payload.decode())))
    assert variant.envelope.payload == parse_bundle(VALID_SIG).envelope.payload


def _resources(edit: Callable[[list[dict[str, str]]], object]) -> Edit:
    """Edit the resources and keep the subject digest consistent, so only the edit is wrong."""

    def apply(doc: dict[str, Any]) -> None:
        resources = doc["predicate"]["resources"]
        edit(resources)
        raw = b""
        for resource in resources:
            with contextlib.suppress(ValueError):  # the edit made it invalid on purpose
                raw += bytes.fromhex(resource["digest"])
        doc["subject"][0]["digest"]["sha256"] = hashlib.sha256(raw).hexdigest()

    return apply


def _rename(name: str) -> Callable[[list[dict[str, str]]], object]:
    return lambda resources: resources[0].update(name=name)


STATEMENT_CASES: list[tuple[str, bytes, str]] = [
    ("not json", b"{", "not valid JSON"),
    ("statement type", _statement(_set("_type", "https://in-toto.io/Statement/v0.1")), "statement._type"),
    ("no predicate", _statement(_delete("predicate")), "missing field 'predicate'"),
    (
        "two subjects",
        _statement(lambda d: d["subject"].append(d["subject"][0])),
        "exactly one subject, found 2",
    ),
    ("subject digest", _statement(_set("subject.0.digest.sha256", "abc")), "not a sha256 digest"),
    ("method", _statement(_set("predicate.serialization.method", "tensors")), "method 'tensors' is unknown"),
    (
        "hash type",
        _statement(_set("predicate.serialization.hash_type", "md5")),
        "'md5' is an unknown hash algorithm",
    ),
    (
        "resource algorithm",
        _statement(_resources(lambda r: r[0].update(algorithm="sha512"))),
        "'sha512' is an unknown hash algorithm here",
    ),
    (
        "symlinks flag",
        _statement(_delete("predicate.serialization.allow_symlinks")),
        "missing field 'allow_symlinks'",
    ),
    ("resources type", _statement(_set("predicate.resources", {})), "resources must be an array"),
    ("digest length", _statement(_resources(lambda r: r[0].update(digest="ab" * 31))), "not a sha256 digest"),
    ("digest hex", _statement(_resources(lambda r: r[0].update(digest="zz" * 32))), "not a sha256 digest"),
    ("duplicate path", _statement(_resources(lambda r: r.append(dict(r[0])))), "duplicate path"),
    ("traversal", _statement(_resources(_rename("../../etc/passwd"))), "not a normalised relative path"),
    ("inner traversal", _statement(_resources(_rename("a/../../b"))), "not a normalised relative path"),
    ("absolute", _statement(_resources(_rename("/etc/passwd"))), "absolute path"),
    ("backslash", _statement(_resources(_rename("..\\..\\x"))), "backslash"),
    ("dot", _statement(_resources(_rename("./a"))), "not a normalised relative path"),
    ("double slash", _statement(_resources(_rename("a//b"))), "not a normalised relative path"),
    ("trailing slash", _statement(_resources(_rename("a/"))), "not a normalised relative path"),
    ("NUL", _statement(_resources(_rename("a\x00b"))), "control character"),
    ("empty name", _statement(_resources(_rename(""))), "must not be empty"),
    (
        "inconsistent root",
        _statement(_set("subject.0.digest.sha256", "00" * 32)),
        "subject digest does not match the listed resources",
    ),
    (
        "reordered resources",
        _statement(lambda d: d["predicate"]["resources"].reverse()),
        "subject digest does not match",
    ),
    (
        "ignore path traversal",
        _statement(_set("predicate.serialization.ignore_paths", ["../outside"])),
        "not a normalised relative path",
    ),
    ("ignore everything", _statement(_set("predicate.serialization.ignore_paths", ["."])), "normalised"),
]


@pytest.mark.parametrize(
    ("payload", "message"), [(c[1], c[2]) for c in STATEMENT_CASES], ids=[c[0] for c in STATEMENT_CASES]
)
def test_malformed_statements(payload: bytes, message: str) -> None:
    with pytest.raises(BundleFormatError) as error:
        parse_statement(payload)
    assert message in error.value.message
    # Through the whole pipeline, correctly signed: the statement is still refused.
    verdict = verify_revision(_sign_payload(payload), FILES, RULE)
    assert verdict.status is VerdictStatus.FAILED
    assert verdict.method is SignatureMethod.KEY
    assert [r.reason for r in verdict.reasons] == [FailureReason.MALFORMED_BUNDLE]


def test_other_predicate_is_unsupported() -> None:
    payload = _statement(_set("predicateType", "https://slsa.dev/provenance/v1"))
    with pytest.raises(UnsupportedBundleError, match="not an OpenSSF model signature"):
        parse_statement(payload)


def _shards(resources: list[dict[str, str]], shard_size: float = 10) -> dict[str, Any]:
    raw = b"".join(bytes.fromhex(r["digest"]) for r in resources)
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m", "digest": {"sha256": hashlib.sha256(raw).hexdigest()}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "serialization": {
                "method": "shards", "hash_type": "sha256", "shard_size": shard_size, "allow_symlinks": False,
            },
            "resources": resources,
        },
    }  # fmt: skip


def _shard(name: str, algorithm: str = "sha256-sharded-10") -> dict[str, str]:
    return {"name": name, "algorithm": algorithm, "digest": "11" * 32}


@pytest.mark.parametrize(
    ("resources", "shard_size", "message"),
    [
        ([_shard("w:0:10"), _shard("w:10:15")], 10.0, None),  # protobuf writes shard_size as 10.0
        ([_shard("w:0:10"), _shard("w:10:15")], 10.5, "whole number"),
        ([_shard("w:0:10")], 0, "must be positive"),
        ([_shard("w:0")], 10, "is not '<path>:<start>:<end>'"),
        ([_shard("w:0:x")], 10, "is not '<path>:<start>:<end>'"),
        ([_shard("w:-1:9")], 10, "is not '<path>:<start>:<end>'"),
        ([_shard("w:5:5")], 10, "empty or reversed"),
        ([_shard("w:0:" + "9" * 5000)], 10, "is not '<path>:<start>:<end>'"),
        ([_shard("w:0:10"), _shard("w:0:10")], 10, "duplicate shard"),
        ([_shard("w:0:10"), _shard("w:20:25")], 10, "do not tile"),
        ([_shard("w:0:5"), _shard("w:5:10")], 10, "do not tile"),
        ([_shard("w:0:12")], 10, "do not tile"),
        ([_shard("w:0:10", algorithm="sha256")], 10, "unknown hash algorithm here"),
        ([_shard("../w:0:10")], 10, "normalised"),
    ],
)
def test_shard_statements(resources: list[dict[str, str]], shard_size: float, message: str | None) -> None:
    payload = json.dumps(_shards(resources, shard_size)).encode()
    if message is None:
        manifest = parse_statement(payload)
        assert manifest.shard_size == 10
        assert manifest.files["w"].size == 15
        return
    with pytest.raises(BundleFormatError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_statement(payload)


def test_legacy_statement_strictness() -> None:
    subject = {"name": "w.bin", "digest": {"sha256": "aa" * 32}}
    legacy: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [subject, subject],
        "predicateType": "https://model_signing/Digests/v0.1",
    }
    with pytest.raises(BundleFormatError, match="duplicate path"):
        parse_statement(json.dumps(legacy).encode())
    legacy["subject"] = [{"name": "../w.bin", "digest": {"sha256": "aa" * 32}}]
    with pytest.raises(BundleFormatError, match="normalised"):
        parse_statement(json.dumps(legacy).encode())


# -- fuzzing -------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _mutations(doc: Any) -> st.SearchStrategy[Any]:
    """The document with any number of its subtrees replaced by random JSON (or deleted)."""
    if isinstance(doc, dict):
        return st.fixed_dictionaries(
            {k: st.one_of(_mutations(v), JSON) for k, v in doc.items()},
        ).flatmap(lambda d: st.sets(st.sampled_from(sorted(d)) if d else st.nothing(), max_size=2).map(
            lambda dropped: {k: v for k, v in d.items() if k not in dropped}
        ))  # fmt: skip
    if isinstance(doc, list):
        return st.tuples(*[st.one_of(_mutations(v), JSON) for v in doc]).map(list) if doc else st.just([])
    return st.one_of(st.just(doc), JSON)


def _bundle_around(statement: Any) -> bytes:
    doc = copy.deepcopy(VALID_BUNDLE)
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(doc).encode()


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=3000))
def test_fuzz_bytes(raw: bytes) -> None:
    with contextlib.suppress(BundleFormatError):
        parse_bundle(raw)
    assert verify_revision(raw, FILES, RULE).status is VerdictStatus.FAILED


@FUZZ
@given(_mutations(VALID_BUNDLE))
def test_fuzz_bundle_structure(doc: Any) -> None:
    raw = json.dumps(doc).encode()
    try:
        bundle = parse_bundle(raw)
        parse_statement(bundle.envelope.payload)
    except BundleFormatError:
        pass
    verdict = verify_revision(raw, FILES, RULE)
    assert verdict.status in (VerdictStatus.FAILED, VerdictStatus.VERIFIED)


@FUZZ
@given(_mutations(VALID_STATEMENT))
def test_fuzz_statement_structure(statement: Any) -> None:
    payload = json.dumps(statement).encode()
    with contextlib.suppress(BundleFormatError):
        parse_statement(payload)
    # Inside a bundle whose signature no longer matches: never verified, never an exception.
    assert verify_revision(_bundle_around(statement), FILES, RULE).status is VerdictStatus.FAILED


@FUZZ
@given(_mutations(VALID_STATEMENT))
def test_fuzz_signed_statement(statement: Any) -> None:
    """Correctly signed but arbitrary statements: verified only if they really match the files."""
    verdict = verify_revision(_sign_payload(json.dumps(statement).encode()), FILES, RULE)
    if verdict.status is VerdictStatus.VERIFIED:
        assert verdict.checker is not None
        assert {p: f.digest for p, f in verdict.checker.manifest.files.items()} == FILES


SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\"),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
PATHS = (
    st.lists(SEGMENT, min_size=1, max_size=3)
    .map("/".join)
    .filter(lambda p: not p.startswith((".git", "model.sig")))
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(PATHS, st.binary(min_size=32, max_size=32).map(bytes.hex), min_size=1, max_size=8))
def test_sign_verify_round_trip(files: dict[str, str]) -> None:
    """Any valid listing signed by hubgate verifies; dropping a file or changing a digest does not."""
    sig = SIGNER.sign_manifest(files)
    assert verify_revision(sig, files, RULE).status is VerdictStatus.VERIFIED
    first = sorted(files)[0]
    missing = {p: d for p, d in files.items() if p != first}
    assert [r.reason for r in verify_revision(sig, missing, RULE).reasons] == [FailureReason.MISSING_FILE]
    changed = {**files, first: hashlib.sha256(files[first].encode()).hexdigest()}
    assert [r.reason for r in verify_revision(sig, changed, RULE).reasons] == [FailureReason.DIGEST_MISMATCH]


def test_certificate_that_is_not_der() -> None:
    raw = _bundle(
        _set("verificationMaterial", {"x509CertificateChain": {"certificates": [{"rawBytes": CERT_B64}]}})
    )
    rule = TrustRule(certificate_roots=(cert_pem(make_ca("root").cert).decode(),))
    verdict = verify_revision(raw, FILES, rule)
    assert verdict.method is SignatureMethod.CERTIFICATE
    assert [r.reason for r in verdict.reasons] == [FailureReason.MALFORMED_BUNDLE]
    assert "not DER X.509" in verdict.reasons[0].message
