"""The policy file: its schema, defaults and loading. Validated at start-up with clear errors."""

from __future__ import annotations

import hashlib
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mirror.policy.licences import Bucket
from mirror.policy.origins import parse_entry
from mirror.provenance.errors import TrustConfigError
from mirror.provenance.trust import TrustRule

Mode = Literal["enforce", "audit"]
SeverityName = Literal["critical", "high", "medium", "low", "info"]


class PolicyError(Exception):
    """The policy file is missing, unreadable or invalid; the message says where and why."""


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    # "audit": evaluate and record what the rule would do, but never block on it (for rollouts).
    mode: Mode = "enforce"


class RepoRules(_Rules):
    """Globs on `org/name` or `<type>s/org/name` (e.g. `models/acme/*`, `datasets/*`, `evil-org/*`)."""

    allow: tuple[str, ...] = ("*",)
    deny: tuple[str, ...] = ()


class LicenceRules(_Rules):
    allow: tuple[str, ...] = ("permissive", "copyleft", "rail")
    review: tuple[str, ...] = ("vendor", "research", "unknown")
    deny: tuple[str, ...] = ("non-commercial",)
    follow_base_model: bool = True
    max_base_model_depth: int = Field(default=5, ge=0, le=20)
    # Extra or overriding entries: licence id (glob) -> bucket, and `license_name` -> bucket.
    ids: dict[str, str] = Field(default_factory=dict)
    names: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _buckets_known_and_disjoint(self) -> LicenceRules:
        seen: dict[str, str] = {}
        for action in ("allow", "review", "deny"):
            for name in getattr(self, action):
                Bucket.parse(name)
                if name in seen:
                    raise ValueError(
                        f"licence bucket {name!r} is listed under both {seen[name]} and {action}"
                    )
                seen[name] = action
        for table in (self.ids, self.names):
            for bucket in table.values():
                Bucket.parse(bucket)
        return self


class OriginRules(_Rules):
    """Allow / review / deny by `country:CN`, `org:namespace`, `family:Qwen` or `entity:list` (see
    mirror/policy/origins.py), applied to the publisher and to every repository of the base_model lineage.
    A lineage that cannot be followed to its end is reviewed whenever a review or deny entry exists: what
    lies beyond could match it."""

    allow: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _entries_valid_and_disjoint(self) -> OriginRules:
        seen: dict[str, str] = {}
        for action in ("allow", "review", "deny"):
            for text in getattr(self, action):
                entry = parse_entry(text)
                if action == "allow" and entry.kind == "entity":
                    raise ValueError(
                        f"origin rule {text!r} cannot be allowed: entity lists name organisations to review "
                        "or deny; take the entry off the entity list instead"
                    )
                key = entry.text.casefold()
                if key in seen:
                    raise ValueError(f"origin rule {text!r} is listed under both {seen[key]} and {action}")
                seen[key] = action
        return self

    @property
    def restrictive(self) -> bool:
        """Whether any entry reviews or denies (an unknown lineage could then match one)."""
        return bool(self.review or self.deny)


class FormatRules(_Rules):
    # Pickle-based files (PyTorch .bin/.pt, joblib, pickles): allowed when the scan is clean, always
    # reviewed by a human, or refused.
    pickle: Literal["allow-when-clean", "review", "deny"] = "allow-when-clean"
    # If not empty, only these formats are served (e.g. ["safetensors", "json", "text", "passive-data"]).
    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()


class RemoteCodeRules(_Rules):
    """`.py` files and `auto_map` in config.json: what `trust_remote_code=True` would run."""

    action: Literal["allow", "review", "deny"] = "review"


# The largest file huggingface_hub downloads over plain HTTP (constants.MAX_HTTP_DOWNLOAD_SIZE), which is
# the only way clients reach hubgate, and the Hub's own cap on a single file: anything larger could only
# fill the spool and the store. Operators with less disk lower it.
DEFAULT_MAX_FILE_BYTES = 50 * 1000**3


class SizeRules(_Rules):
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, ge=0)  # 0: no limit


class ScanRules(_Rules):
    # Findings at or above this severity quarantine a file. ERROR and UNSUPPORTED reports always do.
    quarantine_at: SeverityName = "medium"
    # Seconds a scan may take and memory it may use before it counts as failed (fail closed).
    timeout_s: float = Field(default=300.0, gt=0)
    memory_mb: int = Field(default=2048, ge=128)


class HubSecurityRules(_Rules):
    """The Hub's own per-file scan (`securityFileStatus`): an extra signal, never the only gate."""

    action: Literal["ignore", "review", "deny"] = "review"


class PinningRules(BaseModel):
    """Approved-revision pinning: for these repos (globs as in [repos]), a branch or tag resolves to the
    newest commit that passed review, not to upstream's newest, until that one is approved too."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    approved_only: tuple[str, ...] = ()


RemovedAction = Literal["serve", "review", "refuse"]
GatedAction = Literal["serve", "refuse"]


class ContinuityRule(BaseModel):
    """A per-repo choice (globs as in [repos]); the first rule naming a repo and setting a key decides it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    repos: tuple[str, ...] = Field(min_length=1)
    on_removed: RemovedAction | None = None
    on_gated: GatedAction | None = None


class ContinuityRules(BaseModel):
    """What hubgate does with revisions it stored while a repository was public, once the Hub answers that
    the repository is gone (RepoNotFound: deleted, made private; or disabled) or newly gated.

    `on_removed`: "serve" (with an X-HF-Warning), "review" (the revisions go back to the review queue and
    are served once approved) or "refuse" (clients get the Hub's answer). `on_gated`: "serve" or "refuse".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    on_removed: RemovedAction = "serve"
    on_gated: GatedAction = "serve"
    rules: tuple[ContinuityRule, ...] = ()


class SignatureRules(TrustRule):
    """Model signatures (OpenSSF model signing, `model.sig`) for the repos these globs name (as in
    [repos]); the first matching [[signatures]] entry applies, and a repo no entry names is not checked.
    `mode`: "required" (unsigned or failing: the revision is quarantined), "if-present" (unsigned passes,
    a present signature must verify), "ignored". Trust: `public_keys` (EC P-256/384/521, PEM text or
    file), `certificate_roots` (PEM; the leaf needs the code-signing EKU), `keyless` identities
    ({identity or identity_regex, issuer}; needs the `hubgate[sigstore]` extra)."""

    repos: tuple[str, ...] = Field(min_length=1)


class PolicyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    name: str = "default"
    repos: RepoRules = RepoRules()
    licences: LicenceRules = LicenceRules()
    origins: OriginRules = OriginRules()
    formats: FormatRules = FormatRules()
    remote_code: RemoteCodeRules = RemoteCodeRules()
    size: SizeRules = SizeRules()
    scanning: ScanRules = ScanRules()
    hub_security: HubSecurityRules = HubSecurityRules()
    pinning: PinningRules = PinningRules()
    continuity: ContinuityRules = ContinuityRules()
    signatures: tuple[SignatureRules, ...] = ()

    @field_validator("name")
    @classmethod
    def _short_name(cls, value: str) -> str:
        if not value or len(value) > 40:
            raise ValueError("name must be 1 to 40 characters")
        return value

    @property
    def fingerprint(self) -> str:
        """`name@<hash>`: changes whenever a rule changes, so stored decisions can be re-evaluated.

        The origin rules are left out: they decide revisions only, whose decisions carry them in their
        own version (`origins_fingerprint`), so editing them never re-scans every stored file (and a
        policy from before they existed keeps its fingerprint)."""
        canonical = json.dumps(self.model_dump(mode="json", exclude={"origins"}), sort_keys=True)
        return f"{self.name}@{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    @property
    def origins_fingerprint(self) -> str:
        canonical = json.dumps(self.origins.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def default_policy_text() -> str:
    return resources.files("mirror.policy").joinpath("default_policy.toml").read_text(encoding="utf-8")


def load_policy(path: Path | None) -> PolicyFile:
    """The policy in `path`, or the shipped default. Raises PolicyError with a readable message."""
    source = str(path) if path is not None else "the default policy"
    try:
        text = path.read_text(encoding="utf-8") if path is not None else default_policy_text()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {source}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {source} is not valid TOML: {exc}") from exc
    try:
        policy = PolicyFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise PolicyError(f"policy file {source} is invalid: {problems}") from exc
    for index, rule in enumerate(policy.signatures):
        try:
            rule.resolve()  # key files and certificates must load now, not at the first signed repo
        except TrustConfigError as exc:
            raise PolicyError(f"policy file {source} is invalid: signatures.{index}: {exc}") from exc
    return policy
