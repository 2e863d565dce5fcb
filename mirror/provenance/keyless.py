"""Sigstore keyless signatures, verified offline, gated by an identity + issuer allow-list.

sigstore-python (the optional extra `hubgate[sigstore]`) checks the Fulcio certificate chain, the signed
certificate timestamp, the Rekor entry (inclusion proof / promise) and the DSSE signature, using the
trust root it ships (`ClientTrustConfig.production(offline=True)`: no network) or a given client trust
configuration. hubgate then requires the certificate's identity (SAN) and OIDC issuer to match one entry
of the rule's allow-list. Without sigstore installed, keyless signatures fail closed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from mirror.provenance.errors import Failure, FailureReason, VerificationFailed

if TYPE_CHECKING:
    from mirror.provenance.trust import KeylessIdentity

KEYLESS_NEEDS_EXTRA = "keyless verification needs hubgate[sigstore] (pip install 'hubgate[sigstore]')"

_OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw bytes
_OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
_SIGSTORE_OTHERNAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


@dataclass(frozen=True, slots=True)
class KeylessResult:
    payload_type: str
    payload: bytes
    identity: str  # the SAN that matched the allow-list
    issuer: str

    def describe(self) -> str:
        return f"{self.identity} (issuer {self.issuer})"


def _der_utf8(value: bytes) -> str | None:
    """Decode a short-form DER UTF8String (tag 0x0C); None if it is not one."""
    if len(value) >= 2 and value[0] == 0x0C and value[1] < 0x80 and value[1] == len(value) - 2:
        try:
            return value[2:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if len(value) >= 3 and value[0] == 0x0C and value[1] & 0x80:
        width = value[1] & 0x7F
        if 0 < width <= 2 and len(value) >= 2 + width:
            length = int.from_bytes(value[2 : 2 + width], "big")
            body = value[2 + width :]
            if len(body) == length:
                try:
                    return body.decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None


def certificate_identities(cert: x509.Certificate) -> tuple[tuple[str, ...], str | None]:
    """The certificate's identities (email / URI / Sigstore otherName SANs) and its OIDC issuer."""
    identities: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        identities += san.get_values_for_type(x509.RFC822Name)
        identities += san.get_values_for_type(x509.UniformResourceIdentifier)
        for other in san.get_values_for_type(x509.OtherName):
            if other.type_id == _SIGSTORE_OTHERNAME:
                decoded = _der_utf8(other.value)
                if decoded is not None:
                    identities.append(decoded)
    issuer: str | None = None
    for oid, decode in ((_OIDC_ISSUER_V2, _der_utf8), (_OIDC_ISSUER_V1, _raw_utf8)):
        try:
            ext = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        if isinstance(ext, x509.UnrecognizedExtension):
            issuer = decode(ext.value)
            if issuer is not None:
                break
    return tuple(identities), issuer


def _raw_utf8(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def match_identity(
    identities: Sequence[str], issuer: str | None, allowed: Sequence[KeylessIdentity]
) -> str | None:
    """The first of `identities` that an allow-list entry accepts together with `issuer`, else None."""
    if issuer is None:
        return None
    for entry in allowed:
        if entry.issuer != issuer:
            continue
        for identity in identities:
            if entry.identity is not None and identity == entry.identity:
                return identity
            if entry.identity_regex is not None and re.fullmatch(entry.identity_regex, identity):
                return identity
    return None


class _RecordOnly:
    """A sigstore VerificationPolicy that accepts any certificate: the allow-list is checked after
    sigstore has verified everything else, so that a wrong identity gets its own failure reason."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


@functools.lru_cache(maxsize=8)
def _verifier(trust_config: str | None) -> Any:
    from sigstore.models import ClientTrustConfig  # noqa: PLC0415 - optional extra
    from sigstore.verify import Verifier  # noqa: PLC0415 - optional extra

    if trust_config is None:
        return Verifier.production(offline=True)
    config = ClientTrustConfig.from_json(Path(trust_config).read_text(encoding="utf-8"))
    return Verifier(trusted_root=config.trusted_root)


def verify_keyless(
    raw_bundle: bytes, allowed: Sequence[KeylessIdentity], trust_config: str | None = None
) -> KeylessResult:
    """Verify a keyless bundle offline and check its signer; raise VerificationFailed."""
    try:
        from sigstore.errors import CertValidationError  # noqa: PLC0415 - optional extra
        from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
        from sigstore.models import Bundle  # noqa: PLC0415
    except ImportError:
        raise VerificationFailed(Failure(FailureReason.UNSUPPORTED, KEYLESS_NEEDS_EXTRA)) from None
    if not allowed:
        raise VerificationFailed(
            Failure(FailureReason.UNTRUSTED_IDENTITY, "the trust rule allows no keyless identity")
        )
    try:
        bundle = Bundle.from_json(raw_bundle)
    except Exception as exc:  # noqa: BLE001 - sigstore raises its own, pydantic's and ValueError
        raise VerificationFailed(
            Failure(FailureReason.MALFORMED_BUNDLE, f"sigstore rejects the bundle: {exc}")
        ) from None
    try:
        verifier = _verifier(trust_config)
    except Exception as exc:  # noqa: BLE001 - any failure to load the trust root fails closed
        raise VerificationFailed(
            Failure(FailureReason.TRUST_CONFIG, f"the Sigstore trust root is unavailable: {exc}")
        ) from None
    try:
        payload_type, payload = verifier.verify_dsse(bundle, _RecordOnly())
    except CertValidationError as exc:
        raise VerificationFailed(
            Failure(
                FailureReason.UNTRUSTED_ROOT, f"the keyless certificate does not chain to Sigstore: {exc}"
            )
        ) from None
    except (SigstoreError, ValueError) as exc:
        raise VerificationFailed(
            Failure(FailureReason.BAD_SIGNATURE, f"keyless signature verification failed: {exc}")
        ) from None
    except Exception as exc:  # noqa: BLE001 - anything else sigstore raises fails closed, never crashes the gate
        raise VerificationFailed(
            Failure(FailureReason.BAD_SIGNATURE, f"keyless signature verification failed: {exc!r}")
        ) from None
    identities, issuer = certificate_identities(bundle.signing_certificate)
    matched = match_identity(identities, issuer, allowed)
    if matched is None:
        shown = ", ".join(identities) or "no identity"
        raise VerificationFailed(
            Failure(
                FailureReason.UNTRUSTED_IDENTITY,
                f"keyless signer {shown} (issuer {issuer or 'unknown'}) is not in the trusted identities",
            )
        )
    assert issuer is not None
    return KeylessResult(
        payload_type=str(payload_type), payload=bytes(payload), identity=matched, issuer=issuer
    )
