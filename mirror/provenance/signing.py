"""hubgate's own attestations, signed with its EC key.

1. `ModelSigner.sign_manifest`: an OMS `model.sig` (Sigstore bundle v0.3, DSSE, in-toto Statement v1,
   predicate https://model_signing/signature/v1.0, `files`/`sha256`) over exactly the given files. Anyone
   holding hubgate's public key can check a copy of the model with
   `model_signing verify key --signature model.sig --public_key hubgate.pub MODEL_DIR`.
2. `ModelSigner.sign_review`: a separate DSSE statement with hubgate's own predicate type
   (`REVIEW_PREDICATE_TYPE`) recording the review decision and the policy version. It is never put in
   the file manifest (that would make it a model file); `verify_review` reads it back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from mirror.provenance.bundle import DsseEnvelope, MaterialKind, parse_bundle, serialize_key_bundle
from mirror.provenance.dsse import IN_TOTO_PAYLOAD_TYPE, pae
from mirror.provenance.errors import BundleFormatError, Failure, FailureReason, VerificationFailed
from mirror.provenance.keys import (
    curve_hash,
    key_fingerprint,
    load_or_create_private_key,
    load_private_key,
    public_key_pem,
)
from mirror.provenance.paths import DEFAULT_SIGNATURE_PATH, check_relative_path, ignored_paths, is_ignored
from mirror.provenance.signature import envelope_verifies
from mirror.provenance.statement import IN_TOTO_STATEMENT_TYPE, build_files_statement, path_sort_key
from mirror.provenance.strictjson import get_list, get_object, get_str, loads_object

REVIEW_PREDICATE_TYPE = "https://hubgate.dev/review/v1"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def signable_files(
    repo_files: Mapping[str, str], signature_path: str = DEFAULT_SIGNATURE_PATH
) -> dict[str, str]:
    """The files an OMS signature covers: all but the git paths and the signature file itself."""
    ignore = ignored_paths(signature_path)
    return {path: digest for path, digest in repo_files.items() if not is_ignored(path, ignore)}


@dataclass(frozen=True, slots=True)
class ReviewAttestation:
    """What hubgate decided about one revision, and under which policy."""

    repository: str  # e.g. "acme/bert-base" (prefix with "datasets/" etc. for other repo types)
    revision: str  # the full commit id
    decision: str  # e.g. "approved", "quarantined", "blocked", "revoked"
    policy_version: str
    reviewed_at: dt.datetime
    reviewer: str | None = None
    reasons: tuple[str, ...] = ()
    manifest_digest: str | None = None  # subject digest of hubgate's model.sig for the same files

    def statement(self) -> dict[str, object]:
        if not _GIT_COMMIT.fullmatch(self.revision):
            raise ValueError("revision must be a full lower-case commit id")
        subjects: list[dict[str, object]] = [
            {"name": f"{self.repository}@{self.revision}", "digest": {"gitCommit": self.revision}}
        ]
        if self.manifest_digest is not None:
            if not _SHA256_HEX.fullmatch(self.manifest_digest):
                raise ValueError("manifest_digest must be a lower-case sha256 hex digest")
            subjects.append({"name": "model-manifest", "digest": {"sha256": self.manifest_digest}})
        return {
            "_type": IN_TOTO_STATEMENT_TYPE,
            "subject": subjects,
            "predicateType": REVIEW_PREDICATE_TYPE,
            "predicate": {
                "repository": self.repository,
                "revision": self.revision,
                "decision": self.decision,
                "policyVersion": self.policy_version,
                "reviewedAt": self.reviewed_at.astimezone(dt.UTC).isoformat(),
                "reviewer": self.reviewer,
                "reasons": list(self.reasons),
            },
        }


class ModelSigner:
    """Signs with one EC private key (P-256 when hubgate generates it)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key

    @classmethod
    def from_key_file(cls, path: Path, *, create: bool = False) -> ModelSigner:
        """Load the PEM key at `path`; with `create`, generate it there first if absent (mode 0600)."""
        return cls(load_or_create_private_key(path) if create else load_private_key(path))

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    @property
    def public_key_pem(self) -> str:
        return public_key_pem(self.public_key)

    @property
    def fingerprint(self) -> str:
        """The OMS key hint: hex sha256 of the public key PEM."""
        return key_fingerprint(self.public_key)

    def _sign_payload(self, payload: bytes) -> bytes:
        signature = self._key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload), ec.ECDSA(curve_hash(self.public_key)))
        envelope = DsseEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, signature, keyid="")
        return serialize_key_bundle(envelope, self.fingerprint)

    def sign_manifest(
        self,
        files: Mapping[str, str],
        *,
        model_name: str = "model",
        signature_path: str = DEFAULT_SIGNATURE_PATH,
    ) -> bytes:
        """An OMS model.sig over exactly `files` (path -> sha256 hex). Raises ValueError for a bad path or
        digest, or for a path that verifiers ignore (git paths, the signature file: see `signable_files`)."""
        ignore = ignored_paths(signature_path)
        for path, digest in files.items():
            try:
                check_relative_path(path, "file path")
            except BundleFormatError as exc:
                raise ValueError(exc.message) from None
            if is_ignored(path, ignore):
                raise ValueError(f"{path!r} is ignored by OMS verifiers and cannot be signed")
            if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
                raise ValueError(f"{path!r}: digest must be a lower-case sha256 hex string")
        payload = build_files_statement(files, model_name=model_name, signature_path=signature_path)
        return self._sign_payload(payload)

    def sign_review(self, review: ReviewAttestation) -> bytes:
        """A Sigstore bundle (DSSE, in-toto) holding the review statement."""
        return self.sign_statement(review.statement())

    def sign_statement(self, statement: Mapping[str, object]) -> bytes:
        """A Sigstore bundle (DSSE, in-toto) holding any in-toto statement hubgate makes (reviews, audit
        checkpoints); `verify_statement` reads it back."""
        return self._sign_payload(json.dumps(statement, indent=2).encode("utf-8"))


def manifest_digest(files: Mapping[str, str]) -> str:
    """The subject digest hubgate's model.sig gets for `files` (sha256 over the ordered raw digests)."""
    root = hashlib.sha256()
    for path in sorted(files, key=path_sort_key):
        root.update(bytes.fromhex(files[path]))
    return root.hexdigest()


def verify_statement(
    bundle_bytes: bytes,
    trusted_keys: Sequence[ec.EllipticCurvePublicKey],
    *,
    predicate_type: str,
    what: str = "statement",
) -> dict[str, object]:
    """Check a key-signed in-toto statement's signature against `trusted_keys` and return the statement,
    which must have `predicate_type`.

    Raises BundleFormatError (malformed) or VerificationFailed (wrong key, bad signature)."""
    bundle = parse_bundle(bundle_bytes)
    if bundle.material.kind is not MaterialKind.PUBLIC_KEY:
        raise VerificationFailed(Failure(FailureReason.UNSUPPORTED, f"{what}s are key-signed"))
    keys = {key_fingerprint(k): k for k in trusted_keys}
    hint = bundle.material.key_hint
    candidates = [keys[hint]] if hint in keys else ([] if hint else list(keys.values()))
    if not candidates:
        raise VerificationFailed(
            Failure(FailureReason.WRONG_KEY, f"signed with key {hint}, which is not trusted")
        )
    if not any(envelope_verifies(bundle, key) for key in candidates):
        raise VerificationFailed(
            Failure(FailureReason.BAD_SIGNATURE, f"the {what} signature does not verify")
        )
    doc = loads_object(bundle.envelope.payload, what)
    if get_str(doc, "_type", "statement") != IN_TOTO_STATEMENT_TYPE:
        raise BundleFormatError(f"{what} is not an in-toto Statement v1")
    if get_str(doc, "predicateType", "statement") != predicate_type:
        raise BundleFormatError(f"not a {what} ({predicate_type})")
    return doc


def verify_review(
    bundle_bytes: bytes, trusted_keys: Sequence[ec.EllipticCurvePublicKey]
) -> ReviewAttestation:
    """Check a review attestation's signature against `trusted_keys` and read it back.

    Raises BundleFormatError (malformed) or VerificationFailed (wrong key, bad signature)."""
    doc = verify_statement(
        bundle_bytes, trusted_keys, predicate_type=REVIEW_PREDICATE_TYPE, what="review statement"
    )
    get_list(doc, "subject", "statement")
    predicate = get_object(doc, "predicate", "statement")
    where = "statement.predicate"
    reviewer = predicate.get("reviewer")
    reasons = get_list(predicate, "reasons", where)
    if (reviewer is not None and not isinstance(reviewer, str)) or not all(
        isinstance(r, str) for r in reasons
    ):
        raise BundleFormatError("statement.predicate: reviewer and reasons must be strings")
    try:
        reviewed_at = dt.datetime.fromisoformat(get_str(predicate, "reviewedAt", where))
    except ValueError:
        raise BundleFormatError(f"{where}.reviewedAt is not an ISO 8601 time") from None
    manifest = None
    for subject in get_list(doc, "subject", "statement"):
        if isinstance(subject, dict) and subject.get("name") == "model-manifest":
            manifest = get_str(
                get_object(subject, "digest", "statement.subject"), "sha256", "statement.subject"
            )
    return ReviewAttestation(
        repository=get_str(predicate, "repository", where),
        revision=get_str(predicate, "revision", where),
        decision=get_str(predicate, "decision", where),
        policy_version=get_str(predicate, "policyVersion", where),
        reviewed_at=reviewed_at,
        reviewer=reviewer,
        reasons=tuple(reasons),
        manifest_digest=manifest,
    )
