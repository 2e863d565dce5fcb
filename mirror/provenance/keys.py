"""EC keys: loading public keys, fingerprints, and hubgate's own signing key on disk.

Supported curves are the ones OMS uses (model_signing `_signing/sign_ec_key.py`): P-256, P-384, P-521,
signing with SHA-256, SHA-384, SHA-512 respectively. A key's fingerprint is the hex SHA-256 of its
SubjectPublicKeyInfo PEM, which is what model_signing writes as `verificationMaterial.publicKey.hint`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mirror.provenance.errors import KeyFileError, TrustConfigError

_CURVE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def is_supported_key(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVE_HASHES


def curve_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    """The hash OMS pairs with the key's curve."""
    return _CURVE_HASHES[key.curve.name]()


def public_key_pem(key: ec.EllipticCurvePublicKey) -> str:
    """The key as SubjectPublicKeyInfo PEM text."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo PEM: the OMS key hint."""
    return hashlib.sha256(public_key_pem(key).encode("ascii")).hexdigest()


def verify_ecdsa(
    key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> bool:
    """True if `signature` (DER ECDSA) verifies over `data`; never raises for a bad signature."""
    try:
        key.verify(signature, data, ec.ECDSA(algorithm))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_public_keys(source: str) -> list[ec.EllipticCurvePublicKey]:
    """Public keys from PEM text or, if `source` holds no PEM block, from the PEM file it names.

    One source may hold several `PUBLIC KEY` blocks. Raises TrustConfigError for anything else.
    """
    text = _pem_text(source, "public key")
    blocks = _pem_blocks(text, "PUBLIC KEY")
    if not blocks:
        raise TrustConfigError("no 'PUBLIC KEY' PEM block found")
    keys = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise TrustConfigError(f"unreadable public key: {exc}") from None
        if not is_supported_key(key):
            raise TrustConfigError("only EC public keys on P-256, P-384 or P-521 are supported")
        assert isinstance(key, ec.EllipticCurvePublicKey)
        keys.append(key)
    return keys


def _pem_text(source: str, what: str) -> str:
    if "-----BEGIN " in source:
        return source
    try:
        return Path(source).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrustConfigError(f"cannot read {what} file {source!r}: {exc}") from None


def _pem_blocks(text: str, label: str) -> list[str]:
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    blocks = []
    rest = text
    while begin in rest:
        start = rest.index(begin)
        stop = rest.find(end, start)
        if stop < 0:
            raise TrustConfigError(f"unterminated {label} PEM block")
        blocks.append(rest[start : stop + len(end)] + "\n")
        rest = rest[stop + len(end) :]
    return blocks


def load_certificate_pems(source: str) -> str:
    """PEM text of certificates from `source` (PEM text, or the path of a PEM file)."""
    return _pem_text(source, "certificate")


# -- hubgate's own private key ---------------------------------------------------------------------------


def load_private_key(path: Path, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Load an EC private key (PEM, PKCS#8 or SEC1) on a supported curve. Raises KeyFileError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read private key {path}: {exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"unreadable private key {path}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not is_supported_key(key.public_key()):
        raise KeyFileError(f"{path}: only EC private keys on P-256, P-384 or P-521 are supported")
    return key


def load_or_create_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Load the key at `path`, or generate a P-256 key there first (mode 0600, never half-written).

    The key is written to a private temporary file in the same directory and hard-linked into place, so
    `path` appears atomically with its full content, and if two processes race the first link wins and
    both use that key.
    """
    if path.exists():
        return load_private_key(path)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise KeyFileError(f"cannot create private key {path}: {exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file with mode 0600
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp_name, path)
        except FileExistsError:
            return load_private_key(path)
        except OSError as exc:
            raise KeyFileError(f"cannot create private key {path}: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
    return key
