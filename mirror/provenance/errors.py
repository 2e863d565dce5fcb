"""Failure reasons (a small closed vocabulary) and the exceptions of the provenance library."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureReason(StrEnum):
    """Why a signature check failed. Stable string values: safe to store and to show in an API."""

    # Manifest vs repository.
    UNSIGNED_FILE = "unsigned-file"  # the repo has a file that the signature does not cover
    MISSING_FILE = "missing-file"  # the signature covers a file that the repo does not have
    DIGEST_MISMATCH = "digest-mismatch"  # a file's digest differs from the signed one
    # Signature and signer.
    MISSING_SIGNATURE = "missing-signature"  # the rule requires a signature and there is none
    WRONG_KEY = "wrong-key"  # signed by a key that the rule does not trust
    BAD_SIGNATURE = "bad-signature"  # the signature does not verify over the payload
    UNTRUSTED_IDENTITY = "untrusted-identity"  # keyless signer/issuer not in the allow-list
    EXPIRED_CERTIFICATE = "expired-certificate"  # a certificate is outside its validity period
    WRONG_EKU = "wrong-eku"  # the leaf certificate is not for code signing (EKU / key usage)
    UNTRUSTED_ROOT = "untrusted-root"  # the chain does not lead to a configured root
    # Format and configuration.
    MALFORMED_BUNDLE = "malformed-bundle"  # model.sig is not a well-formed OMS Sigstore bundle
    UNSUPPORTED = "unsupported"  # well-formed but not something hubgate can verify (fails closed)
    TRUST_CONFIG = "trust-config"  # the trust rule itself is unusable (bad key file, bad PEM)


@dataclass(frozen=True, slots=True)
class Failure:
    """One reason a check failed, with a human message and, for file-level failures, the path."""

    reason: FailureReason
    message: str
    path: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"reason": self.reason.value, "message": self.message, "path": self.path}


class ProvenanceError(Exception):
    """Base class of this library's exceptions."""


class BundleFormatError(ProvenanceError):
    """A signature file or statement could not be parsed. `reason` is MALFORMED_BUNDLE or UNSUPPORTED."""

    def __init__(self, message: str, reason: FailureReason = FailureReason.MALFORMED_BUNDLE) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    def failure(self) -> Failure:
        return Failure(self.reason, self.message)


class UnsupportedBundleError(BundleFormatError):
    """Well-formed but outside what hubgate verifies (e.g. a message-signature bundle)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, FailureReason.UNSUPPORTED)


class VerificationFailed(ProvenanceError):
    """A cryptographic check failed; carries the typed Failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class TrustConfigError(ProvenanceError):
    """A trust rule cannot be used: unreadable key file, bad PEM, unsupported key type, bad regex."""


class KeyFileError(ProvenanceError):
    """A private key file cannot be loaded or created."""
