"""Check the DSSE signature of a parsed bundle by the method its verification material implies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mirror.provenance.bundle import MaterialKind, SigstoreBundle
from mirror.provenance.certificates import verify_chain
from mirror.provenance.dsse import pae, pae_legacy
from mirror.provenance.errors import Failure, FailureReason, VerificationFailed
from mirror.provenance.keyless import verify_keyless
from mirror.provenance.keys import curve_hash, verify_ecdsa
from mirror.provenance.trust import ResolvedTrust


class SignatureMethod(StrEnum):
    KEY = "key"
    CERTIFICATE = "certificate"
    KEYLESS = "keyless"


METHOD_OF_MATERIAL = {
    MaterialKind.PUBLIC_KEY: SignatureMethod.KEY,
    MaterialKind.CERTIFICATE_CHAIN: SignatureMethod.CERTIFICATE,
    MaterialKind.KEYLESS: SignatureMethod.KEYLESS,
}


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    method: SignatureMethod
    signer: str  # key fingerprint | certificate subject (SANs) | keyless identity (issuer)
    payload: bytes  # the authenticated DSSE payload


def envelope_verifies(bundle: SigstoreBundle, key: ec.EllipticCurvePublicKey) -> bool:
    """The DSSE signature verifies with `key` over PAE(payload), or over the pre-1.0 model_signing
    encoding (which also signed with SHA-256 whatever the curve, for certificates)."""
    envelope = bundle.envelope
    algorithm = curve_hash(key)
    if verify_ecdsa(key, envelope.signature, pae(envelope.payload_type, envelope.payload), algorithm):
        return True
    legacy = pae_legacy(envelope.payload_type, envelope.payload)
    if verify_ecdsa(key, envelope.signature, legacy, algorithm):
        return True
    return not isinstance(algorithm, hashes.SHA256) and verify_ecdsa(
        key, envelope.signature, legacy, hashes.SHA256()
    )


def _verify_key(bundle: SigstoreBundle, trust: ResolvedTrust) -> VerifiedSignature:
    if not trust.public_keys:
        raise VerificationFailed(Failure(FailureReason.WRONG_KEY, "the trust rule trusts no public key"))
    hint = bundle.material.key_hint
    if hint is not None:
        key = trust.public_keys.get(hint)
        if key is None:
            raise VerificationFailed(
                Failure(FailureReason.WRONG_KEY, f"signed with key {hint}, which is not trusted")
            )
        if not envelope_verifies(bundle, key):
            raise VerificationFailed(
                Failure(FailureReason.BAD_SIGNATURE, f"the signature does not verify with key {hint}")
            )
        return VerifiedSignature(SignatureMethod.KEY, hint, bundle.envelope.payload)
    for fingerprint, key in trust.public_keys.items():
        if envelope_verifies(bundle, key):
            return VerifiedSignature(SignatureMethod.KEY, fingerprint, bundle.envelope.payload)
    raise VerificationFailed(
        Failure(
            FailureReason.BAD_SIGNATURE,
            f"the signature carries no key hint and verifies with none of the {len(trust.public_keys)} "
            "trusted keys",
        )
    )


def _verify_certificate(bundle: SigstoreBundle, trust: ResolvedTrust, now: dt.datetime) -> VerifiedSignature:
    verified = verify_chain(bundle.material.certificates, trust.certificate_roots, now)
    if not envelope_verifies(bundle, verified.public_key):
        raise VerificationFailed(
            Failure(
                FailureReason.BAD_SIGNATURE,
                "the signature does not verify with the signing certificate's key",
            )
        )
    return VerifiedSignature(SignatureMethod.CERTIFICATE, verified.describe(), bundle.envelope.payload)


def _verify_keyless(bundle: SigstoreBundle, trust: ResolvedTrust) -> VerifiedSignature:
    result = verify_keyless(bundle.raw, trust.keyless, trust.keyless_trust_config)
    # sigstore returns what it verified; it must be the envelope this library parsed.
    if result.payload != bundle.envelope.payload or result.payload_type != bundle.envelope.payload_type:
        raise VerificationFailed(
            Failure(FailureReason.MALFORMED_BUNDLE, "sigstore and hubgate read different payloads")
        )
    return VerifiedSignature(SignatureMethod.KEYLESS, result.describe(), result.payload)


def verify_signature(
    bundle: SigstoreBundle, trust: ResolvedTrust, now: dt.datetime | None = None
) -> VerifiedSignature:
    """Authenticate the bundle's payload; raise VerificationFailed with the typed reason."""
    now = now or dt.datetime.now(dt.UTC)
    kind = bundle.material.kind
    if kind is MaterialKind.PUBLIC_KEY:
        return _verify_key(bundle, trust)
    if kind is MaterialKind.CERTIFICATE_CHAIN:
        return _verify_certificate(bundle, trust, now)
    return _verify_keyless(bundle, trust)
