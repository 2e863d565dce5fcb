"""Trust configuration: one rule saying whether a signature is needed and whom to believe.

    rule = TrustRule(
        mode="required",
        public_keys=("/etc/hubgate/keys/acme.pub",),         # PEM text or a PEM file path
        certificate_roots=("-----BEGIN CERTIFICATE-----...",),  # PEM text or a PEM file path
        keyless=(KeylessIdentity(identity_regex=r".*@acme\\.com", issuer="https://accounts.google.com"),),
    )
    trust = rule.resolve()   # loads and checks the keys and roots; raises TrustConfigError

The models are pydantic (frozen, extra fields forbidden) so they can sit in the policy file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mirror.provenance.errors import TrustConfigError
from mirror.provenance.keys import key_fingerprint, load_certificate_pems, load_public_keys


class SignatureMode(StrEnum):
    REQUIRED = "required"  # an unsigned revision fails
    IF_PRESENT = "if-present"  # unsigned passes; a present signature must verify
    IGNORED = "ignored"  # the signature is not looked at


class KeylessIdentity(BaseModel):
    """A Sigstore keyless signer: certificate identity (SAN; exact or a full-match regex) + OIDC issuer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: str | None = None
    identity_regex: str | None = None
    issuer: str = Field(min_length=1)

    @field_validator("identity_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"identity_regex does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _exactly_one_identity(self) -> KeylessIdentity:
        if (self.identity is None) == (self.identity_regex is None):
            raise ValueError("give exactly one of identity and identity_regex")
        if self.identity is not None and not self.identity:
            raise ValueError("identity must not be empty")
        return self


class TrustRule(BaseModel):
    """Whether a signature is required for a revision and which signers are trusted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: SignatureMode = SignatureMode.REQUIRED
    public_keys: tuple[str, ...] = ()
    certificate_roots: tuple[str, ...] = ()
    keyless: tuple[KeylessIdentity, ...] = ()
    # A sigstore ClientTrustConfig JSON file (private Sigstore); None: the public-good instance's trust
    # root bundled with sigstore-python, used offline.
    keyless_trust_config: str | None = None

    def resolve(self) -> ResolvedTrust:
        """Load keys and roots. Raises TrustConfigError naming the entry that is wrong."""
        keys: list[ec.EllipticCurvePublicKey] = []
        for index, source in enumerate(self.public_keys):
            try:
                keys.extend(load_public_keys(source))
            except TrustConfigError as exc:
                raise TrustConfigError(f"public_keys[{index}]: {exc}") from None
        roots: list[x509.Certificate] = []
        for index, source in enumerate(self.certificate_roots):
            try:
                pem = load_certificate_pems(source)
                loaded = x509.load_pem_x509_certificates(pem.encode("ascii"))
            except TrustConfigError as exc:
                raise TrustConfigError(f"certificate_roots[{index}]: {exc}") from None
            except (ValueError, UnicodeEncodeError) as exc:
                raise TrustConfigError(f"certificate_roots[{index}]: unreadable certificate: {exc}") from None
            roots.extend(loaded)
        return ResolvedTrust(
            mode=self.mode,
            public_keys={key_fingerprint(key): key for key in keys},
            certificate_roots=tuple(roots),
            keyless=self.keyless,
            keyless_trust_config=self.keyless_trust_config,
        )


@dataclass(frozen=True, slots=True)
class ResolvedTrust:
    """A TrustRule with its keys and roots loaded; build once (e.g. at policy load) and reuse."""

    mode: SignatureMode
    public_keys: dict[str, ec.EllipticCurvePublicKey]  # fingerprint -> key
    certificate_roots: tuple[x509.Certificate, ...]
    keyless: tuple[KeylessIdentity, ...]
    keyless_trust_config: str | None
