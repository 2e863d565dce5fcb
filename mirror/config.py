"""Settings: defaults < TOML file < `HUBGATE_SECTION__KEY` environment variables < command-line flags.

This module is the only reader of os.environ. Nothing is read at import time: the CLI calls
`load_settings()` once and passes the frozen result down, and takes the defaults of its client commands
(which API, which token) from `command_line_environment()`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mirror.token_format import AdminToken
from storage.factory import StoreChoice
from storage.s3_settings import S3Settings

CONFIG_ENV = "HUBGATE_CONFIG"
DEFAULT_API_URL = "http://127.0.0.1:8080"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The URL clients use to reach hubgate, for the links it writes (pagination). Default: the request's host.
    public_url: str | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    max_field_size: int = Field(default=8190, ge=1024)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    # After the drain, how long the last writes (the download and refusal logs, the audit checkpoint) may
    # take before they are given up, e.g. when the database stopped answering without closing connections.
    close_timeout_s: float = Field(default=10.0, gt=0)
    # How long a GET waits for a cold file before answering 429 + Retry-After.
    fetch_wait_s: float = Field(default=8.0, ge=0)
    # Safetensors files and PyTorch zip checkpoints may stream to a whole-file GET while they download
    # (the last MiB held back until verified). The prefix a failed live download handed out is recorded
    # in the database, so no replica answers a resume inside it. Off: serve only verified, stored files.
    stream_while_downloading: bool = True


class UpstreamSettings(_Section):
    endpoint: str = "https://huggingface.co"
    token: SecretStr | None = None
    # Callers without a token get the service token's access to private and gated repositories. Off:
    # they get what the Hub gives an anonymous caller (the service token still carries their requests
    # for public repositories, for its rate limit).
    service_token_for_anonymous: bool = False
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    # A whole metadata call (info, tree, paths-info, auth-check): short, so that a dead upstream falls back
    # to stored answers well within the client's own 10 s timeout.
    metadata_timeout_s: float = Field(default=6.0, gt=0)
    ref_ttl_s: float = Field(default=60.0, ge=0)
    access_ttl_s: float = Field(default=300.0, ge=0)
    # How long the canonical id the Hub gave for a spelling of a repo id (legacy, renamed, case variant)
    # is used before asking again.
    alias_ttl_s: float = Field(default=300.0, ge=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    # Hosts (globs; `host` allows the scheme's standard port, `host:port` or `host:*` others) that upstream
    # may redirect file downloads to, besides its own
    # origin: the Hub's CDNs. Loopback, link-local and private addresses are refused whatever the name,
    # unless the configured upstream itself lives in that kind of address space.
    redirect_hosts: tuple[str, ...] = ("huggingface.co", "*.huggingface.co", "hf.co", "*.hf.co")
    # The largest metadata answer accepted, counted after decoding (a gzip bomb stops here).
    max_json_bytes: int = Field(default=32 << 20, ge=1 << 16)
    # How long to leave upstream alone after a 429 that does not say (Retry-After / RateLimit t=).
    rate_limit_wait_s: float = Field(default=60.0, ge=1)
    # Across replicas one holds a blob's download lease; a dead holder's lease lapses after this long.
    lease_ttl_s: float = Field(default=30.0, ge=1)

    @field_validator("endpoint")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            msg = "upstream.endpoint must be an http:// or https:// URL"
            raise ValueError(msg)
        return value.rstrip("/")


class S3StoreSettings(_Section):
    bucket: str = ""
    prefix: str = "blobs/"
    endpoint_url: str | None = None  # None for AWS; set for MinIO, SeaweedFS, Ceph
    region: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Unset: boto3's default chain (env, IRSA web identity, instance role, shared config).
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    sse_kms_key_id: str | None = None
    checksum_sha256: bool = True
    part_size_mb: int = Field(default=64, ge=5, le=5120)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    presign_endpoint_url: str | None = None  # the endpoint as clients see it, when it differs
    # A store that stops answering costs a call up to max_attempts x (connect or read timeout), then the
    # request answers 503 StorageUnavailable (botocore's "standard" retries; max_attempts counts the first).
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)


class StorageSettings(_Section):
    backend: Literal["filesystem", "s3"] = "filesystem"
    # filesystem: defaults to <data_dir>/objects.
    path: Path | None = None
    s3: S3StoreSettings = S3StoreSettings()
    # "stream": hubgate sends the bytes; "redirect": a 302 to a short-lived presigned URL (S3 only).
    serve_mode: Literal["stream", "redirect"] = "stream"
    # A presigned URL works until it expires, whatever happens to the review meanwhile (a revoke, a
    # block): short, so a revoked file stops being downloadable within a minute. Clients follow the
    # redirect at once, and an S3 GET that started keeps streaming after the URL expires.
    presign_expires_s: int = Field(default=60, ge=10, le=86400)
    # Local disk only: evict the least recently served unpinned blobs beyond this size (0: no budget).
    # S3 keeps every approved blob by default: it is what survives an upstream outage.
    max_bytes: int = Field(default=0, ge=0)
    # `hubgate gc` deletes objects no blob row names once they are this old (younger: a write in flight).
    orphan_grace_s: float = Field(default=3600.0, ge=0)
    housekeeping_interval_s: float = Field(default=60.0, gt=0)


class DatabaseSettings(_Section):
    # Defaults to SQLite at <data_dir>/hubgate.db.
    url: SecretStr | None = None
    migrate_on_start: bool = True
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    # PostgreSQL: a connection attempt and each statement give up after these; the request then answers
    # 503 StorageUnavailable instead of waiting on a server that stopped answering.
    connect_timeout_s: float = Field(default=10.0, gt=0)
    statement_timeout_s: float = Field(default=30.0, gt=0)


class PolicySettings(_Section):
    # The policy TOML file; the shipped default policy when unset.
    path: Path | None = None
    # How often stored artifacts are re-evaluated after a policy or scanner change, and waivers expired.
    reevaluate_interval_s: float = Field(default=300.0, gt=0)
    # The entity list (TOML or CSV): organisations that legal or export rules name, by Hub namespace, for
    # `entity:<list>` origin rules. Re-read when it changes (checked every `entities_poll_s`); an invalid
    # file keeps the previous list in force. Unset: no entities.
    entities_path: Path | None = None
    entities_poll_s: float = Field(default=10.0, gt=0)


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: its affinity mask, lowered to a cgroup's CPU quota (a container's
    CPU limit, which neither os.cpu_count() nor the affinity mask shows)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def _cgroup_cpu_quota(root: Path) -> float | None:
    """CPUs' worth of time per period the cgroup allows, or None when unlimited (or unknown)."""
    try:  # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: a quota of -1 means none
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


class ScanningSettings(_Section):
    # Scanner processes: by default one per CPU this process may use (at most 64).
    workers: int = Field(default_factory=lambda: min(64, available_cpus()), ge=1, le=64)
    # Scans waiting for a worker, in all and per repository; past either, 429 + Retry-After and the file
    # is neither fetched nor decided (it is when asked again).
    max_waiting: int = Field(default=64, ge=0)
    max_waiting_per_repo: int = Field(default=16, ge=0)
    # Workers one repository's scans may hold at once; 0: all but one, so other repositories keep one.
    workers_per_repo: int = Field(default=0, ge=0, le=64)


class AuthSettings(_Section):
    # Four-eyes: a waiver (approving a quarantined file) needs a review request by another person (token
    # subject) than the approver. Admins included; block, revoke and reopen stay one person's decision.
    four_eyes: bool = False
    # A cluster's first admin token, from a Secret: kept as the token `bootstrap-admin` at startup.
    admin_token: AdminToken | None = None


class AuditSettings(_Section):
    # Signed checkpoints of the audit chain (exported to the object store under audit/checkpoints/, the log
    # and the webhook): after this many new events, or this long after the last one if anything happened.
    # Rows newer than the last checkpoint are what a database writer could still remove unnoticed.
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_s: float = Field(default=300.0, gt=0)
    # Public keys (PEM files) of earlier attestation keys, so checkpoints they signed still verify after
    # the key is rotated.
    previous_keys: tuple[Path, ...] = ()


class WebhookSettings(_Section):
    url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)


class ProvenanceSettings(_Section):
    # hubgate's own attestation key (EC P-256 PEM). Unset: `<data_dir>/attestation-key.pem`, generated
    # on first start. In a cluster, mount one key from a Secret so every replica signs with it.
    signing_key_path: Path | None = None


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class InventorySettings(_Section):
    # An operator's publisher table (TOML, same format as mirror/inventory/publishers.toml), merged over
    # the shipped one entry by entry.
    publishers_path: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUBGATE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
    )

    data_dir: Path = Path("hubgate-data")
    server: ServerSettings = ServerSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    storage: StorageSettings = StorageSettings()
    database: DatabaseSettings = DatabaseSettings()
    policy: PolicySettings = PolicySettings()
    scanning: ScanningSettings = ScanningSettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    webhook: WebhookSettings = WebhookSettings()
    provenance: ProvenanceSettings = ProvenanceSettings()
    log: LogSettings = LogSettings()
    inventory: InventorySettings = InventorySettings()

    @property
    def objects_path(self) -> Path:
        return self.storage.path or self.data_dir / "objects"

    @property
    def attestation_key_path(self) -> Path:
        return self.provenance.signing_key_path or self.data_dir / "attestation-key.pem"

    @property
    def spool_path(self) -> Path:
        return self.data_dir / "spool"

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hubgate.db').absolute()}"


def store_choice(settings: Settings) -> StoreChoice:
    """The object store the settings describe, as storage/ understands it."""
    storage = settings.storage
    if storage.backend == "filesystem":
        return StoreChoice(backend="filesystem", path=settings.objects_path)
    s3 = storage.s3
    if not s3.bucket:
        msg = "storage.backend is s3 but storage.s3.bucket is not set"
        raise ValueError(msg)

    def reveal(secret: SecretStr | None) -> str | None:
        return None if secret is None else secret.get_secret_value()

    return StoreChoice(
        backend="s3",
        path=settings.objects_path,
        s3=S3Settings(
            bucket=s3.bucket,
            prefix=s3.prefix,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            addressing_style=s3.addressing_style,
            access_key_id=reveal(s3.access_key_id),
            secret_access_key=reveal(s3.secret_access_key),
            session_token=reveal(s3.session_token),
            server_side_encryption=s3.server_side_encryption,
            sse_kms_key_id=s3.sse_kms_key_id,
            checksum_sha256=s3.checksum_sha256,
            part_size=s3.part_size_mb << 20,
            multipart_threshold=s3.part_size_mb << 20,
            max_concurrency=s3.max_concurrency,
            presign_expires_s=max(storage.presign_expires_s, 1),
            presign_endpoint_url=s3.presign_endpoint_url,
            connect_timeout_s=s3.connect_timeout_s,
            read_timeout_s=s3.read_timeout_s,
            max_attempts=s3.max_attempts,
            # Fewer, larger reads: each one is a hop to a worker thread (4 MiB in flight per stream).
            read_chunk=4 << 20,
        ),
    )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, the TOML file (argument or $HUBGATE_CONFIG), the environment and overrides.

    `overrides` are nested dicts of the command-line flags that were given (None values are dropped).
    Raises pydantic.ValidationError with a readable message on bad values, FileNotFoundError for a
    missing config file.
    """
    path = config_file or _env_config_path()
    if path is not None and not path.is_file():
        msg = f"config file not found: {path}"
        raise FileNotFoundError(msg)

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if path is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            return tuple(sources)

    return _Loaded(**_drop_none(overrides))


def _env_config_path() -> Path | None:
    value = os.environ.get(CONFIG_ENV)
    return Path(value) if value else None


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            nested = _drop_none(value)
            if nested:
                cleaned[key] = nested
        elif value is not None:
            cleaned[key] = value
    return cleaned


@dataclass(frozen=True)
class CommandLineEnvironment:
    """What the command line's client commands take from the environment when no flag says otherwise."""

    api_url: str  # $HUBGATE_URL: the hubgate the API commands talk to
    api_token: str | None  # $HUBGATE_TOKEN: their hgt_ token
    hub_token: str | None  # $HF_TOKEN: the Hub token for gated or private repositories
    user: str  # $USER: who a local pin is recorded as made by


def command_line_environment() -> CommandLineEnvironment:
    return CommandLineEnvironment(
        api_url=os.environ.get("HUBGATE_URL", DEFAULT_API_URL),
        api_token=os.environ.get("HUBGATE_TOKEN"),
        hub_token=os.environ.get("HF_TOKEN"),
        user=os.environ.get("USER", "cli"),
    )
