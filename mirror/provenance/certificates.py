"""X.509 certificate-chain signatures: validate the bundle's chain against configured roots.

Checks, each failing with its own reason:
- the leaf may sign code: KeyUsage present with digitalSignature and ExtendedKeyUsage present with
  codeSigning (WRONG_EKU);
- every certificate in the bundle is inside its validity period at the verification time
  (EXPIRED_CERTIFICATE). There is no trusted timestamp in such a bundle, so "now" is the only honest
  time; model_signing 1.1.1 instead validates at the leaf's notBefore, which never rejects an expired
  certificate. Signatures from an expired certificate fail here: re-sign, or trust the key instead;
- the chain, built from the leaf and the bundle's intermediates, ends at a configured root
  (`cryptography.x509.verification`, RFC 5280 / CA-B-forum-style profile for the CA certificates)
  (UNTRUSTED_ROOT).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from mirror.provenance.errors import Failure, FailureReason, VerificationFailed
from mirror.provenance.keys import is_supported_key

MAX_CHAIN_DEPTH = 8


@dataclass(frozen=True, slots=True)
class VerifiedCertificate:
    public_key: ec.EllipticCurvePublicKey
    subject: str  # RFC 4514 subject of the leaf
    sans: tuple[str, ...]  # "email:..", "uri:..", "dns:.." of the leaf

    def describe(self) -> str:
        if self.sans:
            return f"{self.subject} ({', '.join(self.sans)})"
        return self.subject


def load_der_certificates(ders: Sequence[bytes]) -> list[x509.Certificate]:
    certs = []
    for i, der in enumerate(ders):
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise VerificationFailed(
                Failure(
                    FailureReason.MALFORMED_BUNDLE, f"certificate {i} in the bundle is not DER X.509: {exc}"
                )
            ) from None
    return certs


def certificate_sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    values = [f"email:{v}" for v in san.get_values_for_type(x509.RFC822Name)]
    values += [f"uri:{v}" for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    values += [f"dns:{v}" for v in san.get_values_for_type(x509.DNSName)]
    return tuple(values)


def _check_code_signing(leaf: x509.Certificate) -> None:
    try:
        key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        key_usage = None
    if key_usage is None or not key_usage.digital_signature:
        raise VerificationFailed(
            Failure(
                FailureReason.WRONG_EKU, "the signing certificate's key usage does not allow digitalSignature"
            )
        )
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise VerificationFailed(
            Failure(FailureReason.WRONG_EKU, "the signing certificate has no codeSigning extended key usage")
        )


def _check_validity(certs: Sequence[x509.Certificate], now: dt.datetime) -> None:
    for position, cert in enumerate(certs):
        which = "signing certificate" if position == 0 else f"intermediate certificate {position}"
        if now > cert.not_valid_after_utc:
            raise VerificationFailed(
                Failure(
                    FailureReason.EXPIRED_CERTIFICATE,
                    f"the {which} ({cert.subject.rfc4514_string()}) expired on "
                    f"{cert.not_valid_after_utc.isoformat()}",
                )
            )
        if now < cert.not_valid_before_utc:
            raise VerificationFailed(
                Failure(
                    FailureReason.EXPIRED_CERTIFICATE,
                    f"the {which} ({cert.subject.rfc4514_string()}) is not valid before "
                    f"{cert.not_valid_before_utc.isoformat()}",
                )
            )


def _require_code_signing(_policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage) -> None:
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ValueError("leaf lacks the codeSigning extended key usage")


def verify_chain(
    chain_der: Sequence[bytes], roots: Sequence[x509.Certificate], now: dt.datetime
) -> VerifiedCertificate:
    """Validate leaf (+ intermediates, leaf first) against `roots` at `now`; raise VerificationFailed."""
    certs = load_der_certificates(chain_der)
    if not certs:
        raise VerificationFailed(Failure(FailureReason.MALFORMED_BUNDLE, "the bundle carries no certificate"))
    leaf, intermediates = certs[0], certs[1:]
    public_key = leaf.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not is_supported_key(public_key):
        raise VerificationFailed(
            Failure(FailureReason.UNSUPPORTED, "the signing certificate's key is not EC P-256/P-384/P-521")
        )
    _check_code_signing(leaf)
    _check_validity(certs, now)
    if not roots:
        raise VerificationFailed(
            Failure(FailureReason.UNTRUSTED_ROOT, "the trust rule configures no certificate roots")
        )
    # Client verifiers require the clientAuth EKU by default; code signing needs codeSigning instead.
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None
    )
    ee_policy = (
        ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_code_signing)
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(now)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except (VerificationError, x509.UnsupportedGeneralNameType, ValueError) as exc:
        raise VerificationFailed(
            Failure(
                FailureReason.UNTRUSTED_ROOT, f"the certificate chain does not lead to a trusted root: {exc}"
            )
        ) from None
    return VerifiedCertificate(
        public_key=public_key, subject=leaf.subject.rfc4514_string(), sans=certificate_sans(leaf)
    )
