"""The Sigstore bundle that holds an OMS signature (`model.sig`): strict parsing and serialisation.

Bundle format: https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto (JSON
mapping). OMS signatures always carry a DSSE envelope (never a bare message signature); its verification
material is one of:

- `publicKey` {`hint`}: signed with a private key; the hint is the hex SHA-256 of the SubjectPublicKeyInfo
  PEM (model_signing 1.x); old signatures may lack it;
- `x509CertificateChain` {`certificates`: [{`rawBytes`}]} (leaf first) or `certificate` {`rawBytes`}
  (bundle v0.3): a certificate signature, or Sigstore keyless when `tlogEntries` is non-empty (a Fulcio
  certificate logged in Rekor).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mirror.provenance.dsse import IN_TOTO_PAYLOAD_TYPE
from mirror.provenance.errors import BundleFormatError, UnsupportedBundleError
from mirror.provenance.strictjson import (
    b64decode,
    b64encode,
    check_keys,
    get_list,
    get_object,
    get_str,
    loads_object,
)

BUNDLE_MEDIA_TYPE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
SUPPORTED_MEDIA_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        BUNDLE_MEDIA_TYPE_V03,
    }
)
MAX_CERTIFICATES = 10


class MaterialKind(StrEnum):
    PUBLIC_KEY = "public-key"
    CERTIFICATE_CHAIN = "certificate-chain"
    KEYLESS = "keyless"


@dataclass(frozen=True, slots=True)
class DsseEnvelope:
    payload_type: str
    payload: bytes  # the exact signed bytes (base64-decoded)
    signature: bytes  # the raw signature (DER ECDSA for EC keys)
    keyid: str


@dataclass(frozen=True, slots=True)
class VerificationMaterial:
    kind: MaterialKind
    key_hint: str | None  # PUBLIC_KEY: lower-case hex SHA-256 of the SPKI PEM, if the bundle gives one
    certificates: tuple[bytes, ...]  # CERTIFICATE_CHAIN / KEYLESS: DER, leaf first
    tlog_entry_count: int


@dataclass(frozen=True, slots=True)
class SigstoreBundle:
    """A parsed bundle. Nothing in it is authenticated until a verifier has checked the signature."""

    media_type: str
    material: VerificationMaterial
    envelope: DsseEnvelope
    raw: bytes  # the original document, for verifiers (sigstore) that parse it themselves


_TOP_KEYS = frozenset({"mediaType", "verificationMaterial", "dsseEnvelope", "messageSignature"})
_MATERIAL_KEYS = frozenset(
    {"publicKey", "x509CertificateChain", "certificate", "tlogEntries", "timestampVerificationData"}
)
_ENVELOPE_KEYS = frozenset({"payload", "payloadType", "signatures"})
_SIGNATURE_KEYS = frozenset({"sig", "keyid"})
# model_signing reads and drops `rawBytes`/`keyDetails` (written by older versions); hubgate never trusts
# a key carried inside the signature, so it ignores them too.
_PUBLIC_KEY_KEYS = frozenset({"hint", "rawBytes", "keyDetails"})


def parse_bundle(raw: bytes) -> SigstoreBundle:
    """Parse `model.sig` bytes strictly. Raises BundleFormatError (or UnsupportedBundleError)."""
    if not isinstance(raw, bytes):
        raise BundleFormatError("the signature must be given as bytes")
    doc = loads_object(raw, "signature bundle")
    check_keys(doc, "bundle", _TOP_KEYS)
    media_type = get_str(doc, "mediaType", "bundle")
    if media_type not in SUPPORTED_MEDIA_TYPES:
        raise BundleFormatError(
            f"bundle.mediaType {media_type!r} is not a supported Sigstore bundle media type "
            f"(expected one of {', '.join(sorted(SUPPORTED_MEDIA_TYPES))})"
        )
    if "messageSignature" in doc:
        raise UnsupportedBundleError(
            "bundle holds a message signature, not a DSSE envelope: not an OpenSSF model signature"
        )
    material = _parse_material(get_object(doc, "verificationMaterial", "bundle"))
    envelope = _parse_envelope(get_object(doc, "dsseEnvelope", "bundle"))
    return SigstoreBundle(media_type=media_type, material=material, envelope=envelope, raw=raw)


def _parse_material(obj: Any) -> VerificationMaterial:
    where = "bundle.verificationMaterial"
    check_keys(obj, where, _MATERIAL_KEYS)
    tlog_entries = obj.get("tlogEntries", [])
    if not isinstance(tlog_entries, list) or not all(isinstance(e, dict) for e in tlog_entries):
        raise BundleFormatError(f"{where}.tlogEntries must be an array of objects")
    if "timestampVerificationData" in obj and not isinstance(obj["timestampVerificationData"], dict):
        raise BundleFormatError(f"{where}.timestampVerificationData must be an object")
    present = [k for k in ("publicKey", "x509CertificateChain", "certificate") if k in obj]
    if len(present) != 1:
        raise BundleFormatError(
            f"{where} must have exactly one of publicKey, x509CertificateChain, certificate "
            f"(found {', '.join(present) or 'none'})"
        )
    if present[0] == "publicKey":
        if tlog_entries:
            raise UnsupportedBundleError("a public-key signature with transparency-log entries")
        return VerificationMaterial(MaterialKind.PUBLIC_KEY, _parse_key_hint(obj, where), (), 0)
    if present[0] == "certificate":
        cert_obj = get_object(obj, "certificate", where)
        check_keys(cert_obj, f"{where}.certificate", frozenset({"rawBytes"}))
        certs: tuple[bytes, ...] = (
            b64decode(get_str(cert_obj, "rawBytes", f"{where}.certificate"), f"{where}.certificate.rawBytes"),
        )
    else:
        certs = _parse_chain(get_object(obj, "x509CertificateChain", where), f"{where}.x509CertificateChain")
    kind = MaterialKind.KEYLESS if tlog_entries else MaterialKind.CERTIFICATE_CHAIN
    return VerificationMaterial(kind, None, certs, len(tlog_entries))


def _parse_key_hint(obj: Any, where: str) -> str | None:
    pub = get_object(obj, "publicKey", where)
    check_keys(pub, f"{where}.publicKey", _PUBLIC_KEY_KEYS)
    hint = pub.get("hint")
    if hint is None:
        return None
    if not isinstance(hint, str):
        raise BundleFormatError(f"{where}.publicKey.hint must be a string")
    return hint.lower() or None


def _parse_chain(chain: Any, where: str) -> tuple[bytes, ...]:
    check_keys(chain, where, frozenset({"certificates"}))
    entries = get_list(chain, "certificates", where)
    if not entries:
        raise BundleFormatError(f"{where}.certificates is empty")
    if len(entries) > MAX_CERTIFICATES:
        raise BundleFormatError(f"{where} has more than {MAX_CERTIFICATES} certificates")
    decoded = []
    for i, entry in enumerate(entries):
        at = f"{where}.certificates[{i}]"
        if not isinstance(entry, dict):
            raise BundleFormatError(f"{at} must be an object")
        check_keys(entry, at, frozenset({"rawBytes"}))
        decoded.append(b64decode(get_str(entry, "rawBytes", at), f"{at}.rawBytes"))
    return tuple(decoded)


def _parse_envelope(obj: Any) -> DsseEnvelope:
    where = "bundle.dsseEnvelope"
    check_keys(obj, where, _ENVELOPE_KEYS)
    payload_type = get_str(obj, "payloadType", where)
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise BundleFormatError(f"{where}.payloadType is {payload_type!r}, expected {IN_TOTO_PAYLOAD_TYPE!r}")
    payload = b64decode(get_str(obj, "payload", where), f"{where}.payload")
    signatures = get_list(obj, "signatures", where)
    if len(signatures) != 1:
        raise BundleFormatError(f"{where} must carry exactly one signature, found {len(signatures)}")
    sig_obj = signatures[0]
    if not isinstance(sig_obj, dict):
        raise BundleFormatError(f"{where}.signatures[0] must be an object")
    check_keys(sig_obj, f"{where}.signatures[0]", _SIGNATURE_KEYS)
    signature = b64decode(get_str(sig_obj, "sig", f"{where}.signatures[0]"), f"{where}.signatures[0].sig")
    keyid = sig_obj.get("keyid", "")
    if not isinstance(keyid, str):
        raise BundleFormatError(f"{where}.signatures[0].keyid must be a string")
    return DsseEnvelope(payload_type=payload_type, payload=payload, signature=signature, keyid=keyid)


def serialize_key_bundle(envelope: DsseEnvelope, key_hint: str) -> bytes:
    """A bundle v0.3 for a private-key signature, in the shape model_signing 1.x writes and reads."""
    document = {
        "mediaType": BUNDLE_MEDIA_TYPE_V03,
        "verificationMaterial": {"publicKey": {"hint": key_hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": b64encode(envelope.payload),
            "payloadType": envelope.payload_type,
            "signatures": [{"sig": b64encode(envelope.signature), "keyid": envelope.keyid}],
        },
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"
