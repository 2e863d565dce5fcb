"""verify_revision: one call from model.sig bytes + a revision's file listing + a trust rule to a verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mirror.provenance.bundle import parse_bundle
from mirror.provenance.errors import (
    BundleFormatError,
    Failure,
    FailureReason,
    TrustConfigError,
    VerificationFailed,
)
from mirror.provenance.manifest_check import ContentVerifier, ManifestChecker
from mirror.provenance.paths import DEFAULT_SIGNATURE_PATH
from mirror.provenance.signature import METHOD_OF_MATERIAL, SignatureMethod, verify_signature
from mirror.provenance.statement import parse_statement
from mirror.provenance.trust import ResolvedTrust, SignatureMode, TrustRule


class VerdictStatus(StrEnum):
    VERIFIED = "verified"  # signature valid, signer trusted, file sets equal, every known digest matches
    FAILED = "failed"  # see `reasons`
    UNSIGNED = "unsigned"  # no signature file (`reasons` says so when the rule requires one)
    NOT_REQUIRED = "not-required"  # the rule ignores signatures; nothing was examined


@dataclass(frozen=True)
class SignatureVerdict:
    """The outcome of phase (a), plus what phase (b) needs.

    `passed` applies the rule's mode: VERIFIED and NOT_REQUIRED pass, UNSIGNED passes unless the rule
    requires a signature, FAILED never passes (a signature that is present must verify, whatever the mode).
    When VERIFIED, `pending` lists the signed files whose bytes were not checkable from metadata: each must
    pass `check_fetched` (or, if `needs_content`, a `content_verifier`) when it is fetched.
    """

    status: VerdictStatus
    mode: SignatureMode
    method: SignatureMethod | None = None
    signer: str | None = None
    reasons: tuple[Failure, ...] = ()
    pending: frozenset[str] = frozenset()
    ignored: tuple[str, ...] = ()
    checker: ManifestChecker | None = field(default=None, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        if self.status is VerdictStatus.UNSIGNED:
            return self.mode is not SignatureMode.REQUIRED
        return self.status in (VerdictStatus.VERIFIED, VerdictStatus.NOT_REQUIRED)

    @property
    def needs_content(self) -> bool:
        return self.checker is not None and self.checker.needs_content

    def check_fetched(self, path: str, sha256: str) -> Failure | None:
        """Phase (b) for a VERIFIED verdict: None if the fetched file matches (or is not covered)."""
        if self.checker is None or self.status is not VerdictStatus.VERIFIED:
            return None
        return self.checker.check_fetched(path, sha256)

    def content_verifier(self, path: str) -> ContentVerifier | None:
        """Phase (b) from the bytes (shards, blake2b); None when there is no verified manifest."""
        if self.checker is None or self.status is not VerdictStatus.VERIFIED:
            return None
        return self.checker.content_verifier(path)

    def summary(self) -> str:
        """One line for logs and the UI."""
        if self.status is VerdictStatus.VERIFIED:
            return f"signature verified ({self.method}, signer {self.signer})"
        if self.status is VerdictStatus.NOT_REQUIRED:
            return "signature not checked (ignored by policy)"
        if self.status is VerdictStatus.UNSIGNED:
            return "unsigned" + (" but a signature is required" if not self.passed else "")
        return "signature check failed: " + "; ".join(r.message for r in self.reasons[:5])

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status.value,
            "mode": self.mode.value,
            "passed": self.passed,
            "method": self.method.value if self.method else None,
            "signer": self.signer,
            "reasons": [r.to_dict() for r in self.reasons],
            "pending": sorted(self.pending),
        }


def verify_revision(
    sig_bytes: bytes | None,
    repo_files: Mapping[str, str | None],
    rule: TrustRule | ResolvedTrust,
    *,
    signature_path: str = DEFAULT_SIGNATURE_PATH,
    now: dt.datetime | None = None,
) -> SignatureVerdict:
    """Verify a revision's OMS signature before any weight is fetched (phase a).

    Every bad signature, file listing or trust rule yields a FAILED verdict, never an exception.

    `sig_bytes`: the content of the signature file (None: the revision has none). `repo_files`: every file
    of the revision at the pinned commit, path -> lower-case sha256 when known from metadata (LFS) else
    None; it may include the signature file and git files (they are ignored). `signature_path`: where
    the signature sits in the repository. `now`: the time certificates must be valid at (default: now).
    """
    mode = rule.mode
    if mode is SignatureMode.IGNORED:
        return SignatureVerdict(VerdictStatus.NOT_REQUIRED, mode)
    if sig_bytes is None:
        reasons: tuple[Failure, ...] = ()
        if mode is SignatureMode.REQUIRED:
            reasons = (
                Failure(FailureReason.MISSING_SIGNATURE, f"a signature ({signature_path}) is required"),
            )
        return SignatureVerdict(VerdictStatus.UNSIGNED, mode, reasons=reasons)

    def failed(
        *failures: Failure, method: SignatureMethod | None = None, signer: str | None = None
    ) -> SignatureVerdict:
        return SignatureVerdict(VerdictStatus.FAILED, mode, method=method, signer=signer, reasons=failures)

    if isinstance(rule, TrustRule):
        try:
            trust = rule.resolve()
        except TrustConfigError as exc:
            return failed(Failure(FailureReason.TRUST_CONFIG, f"the trust rule is unusable: {exc}"))
    else:
        trust = rule
    try:
        bundle = parse_bundle(sig_bytes)
    except BundleFormatError as exc:
        return failed(exc.failure())
    method = METHOD_OF_MATERIAL[bundle.material.kind]
    try:
        verified = verify_signature(bundle, trust, now)
    except VerificationFailed as exc:
        return failed(exc.failure, method=method)
    try:
        manifest = parse_statement(verified.payload)
    except BundleFormatError as exc:
        return failed(exc.failure(), method=method, signer=verified.signer)
    checker = ManifestChecker(manifest, signature_path)
    if not checker.supported:
        return failed(
            Failure(FailureReason.UNSUPPORTED, f"{manifest.hash_type} digests are not supported"),
            method=method,
            signer=verified.signer,
        )
    comparison = checker.compare(repo_files)
    if comparison.failures:
        return SignatureVerdict(
            VerdictStatus.FAILED,
            mode,
            method=method,
            signer=verified.signer,
            reasons=comparison.failures,
            ignored=comparison.ignored,
        )
    return SignatureVerdict(
        VerdictStatus.VERIFIED,
        mode,
        method=method,
        signer=verified.signer,
        pending=comparison.pending,
        ignored=comparison.ignored,
        checker=checker,
    )
