"""Model provenance: OpenSSF Model Signing (OMS) verification and hubgate's own attestations.

A pure, synchronous library (no network, no database, no server imports) on `cryptography`; Sigstore
keyless verification uses the optional `sigstore` package (extra `hubgate[sigstore]`) offline.

Verifying a revision (phase a, before any weight is fetched)::

    rule = TrustRule(mode="required", public_keys=(pem,))
    verdict = verify_revision(model_sig_bytes, {"model.safetensors": "ab12..", "config.json": None}, rule)
    if not verdict.passed: ...  # verdict.reasons: tuple[Failure(reason, message, path)]

Then, as files are fetched (phase b)::

    failure = verdict.check_fetched("config.json", sha256_of_bytes)   # files/sha256 signatures
    cv = verdict.content_verifier(path); cv.update(chunk)...; failure = cv.finish()  # any signature

Signing (hubgate's own attestation)::

    signer = ModelSigner.from_key_file(Path("/var/lib/hubgate/signing.key"), create=True)
    model_sig = signer.sign_manifest(signable_files(files_with_sha256), model_name="acme/bert@<commit>")

Modules: `bundle` (Sigstore bundle parsing), `statement` (in-toto / OMS predicate), `dsse` (PAE),
`paths` (ignore rules), `keys`, `certificates` (X.509 chains), `keyless` (sigstore), `signature`
(method dispatch), `manifest_check` (phases a and b), `trust` (rules), `verify` (verify_revision),
`signing` (attestations), `errors`.
"""

from mirror.provenance.bundle import MaterialKind, SigstoreBundle, parse_bundle
from mirror.provenance.errors import (
    BundleFormatError,
    Failure,
    FailureReason,
    KeyFileError,
    ProvenanceError,
    TrustConfigError,
    UnsupportedBundleError,
    VerificationFailed,
)
from mirror.provenance.keyless import KEYLESS_NEEDS_EXTRA
from mirror.provenance.keys import (
    key_fingerprint,
    load_or_create_private_key,
    load_private_key,
    public_key_pem,
)
from mirror.provenance.manifest_check import ContentVerifier, ManifestChecker, ManifestComparison
from mirror.provenance.paths import DEFAULT_SIGNATURE_PATH, GIT_IGNORED_PATHS
from mirror.provenance.signature import SignatureMethod
from mirror.provenance.signing import (
    REVIEW_PREDICATE_TYPE,
    ModelSigner,
    ReviewAttestation,
    manifest_digest,
    signable_files,
    verify_review,
)
from mirror.provenance.statement import (
    OMS_LEGACY_PREDICATE_TYPE,
    OMS_PREDICATE_TYPE,
    SerializationMethod,
    SignedFile,
    SignedManifest,
    parse_statement,
)
from mirror.provenance.trust import KeylessIdentity, ResolvedTrust, SignatureMode, TrustRule
from mirror.provenance.verify import SignatureVerdict, VerdictStatus, verify_revision

__all__ = [
    "DEFAULT_SIGNATURE_PATH",
    "GIT_IGNORED_PATHS",
    "KEYLESS_NEEDS_EXTRA",
    "OMS_LEGACY_PREDICATE_TYPE",
    "OMS_PREDICATE_TYPE",
    "REVIEW_PREDICATE_TYPE",
    "BundleFormatError",
    "ContentVerifier",
    "Failure",
    "FailureReason",
    "KeyFileError",
    "KeylessIdentity",
    "ManifestChecker",
    "ManifestComparison",
    "MaterialKind",
    "ModelSigner",
    "ProvenanceError",
    "ResolvedTrust",
    "ReviewAttestation",
    "SerializationMethod",
    "SignatureMethod",
    "SignatureMode",
    "SignatureVerdict",
    "SignedFile",
    "SignedManifest",
    "SigstoreBundle",
    "TrustConfigError",
    "TrustRule",
    "UnsupportedBundleError",
    "VerdictStatus",
    "VerificationFailed",
    "key_fingerprint",
    "load_or_create_private_key",
    "load_private_key",
    "manifest_digest",
    "parse_bundle",
    "parse_statement",
    "public_key_pem",
    "signable_files",
    "verify_review",
    "verify_revision",
]
