"""Settings: defaults < TOML file < `HUBGATE_SECTION__KEY` environment variables < command-line flags.

This module is the only reader of os.environ. Nothing is read at import time: the CLI calls
`load_settings()` once and passes the frozen result down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "HUBGATE_CONFIG"


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
    # How long a GET waits for a cold file before answering 429 + Retry-After.
    fetch_wait_s: float = Field(default=8.0, ge=0)


class UpstreamSettings(_Section):
    endpoint: str = "https://huggingface.co"
    token: SecretStr | None = None
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    # A whole metadata call (info, tree, paths-info, auth-check): short, so that a dead upstream falls back
    # to stored answers well within the client's own 10 s timeout.
    metadata_timeout_s: float = Field(default=6.0, gt=0)
    ref_ttl_s: float = Field(default=60.0, ge=0)
    access_ttl_s: float = Field(default=300.0, ge=0)
    max_redirects: int = Field(default=5, ge=0, le=20)

    @field_validator("endpoint")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            msg = "upstream.endpoint must be an http:// or https:// URL"
            raise ValueError(msg)
        return value.rstrip("/")


class StorageSettings(_Section):
    backend: Literal["filesystem"] = "filesystem"
    # Defaults to <data_dir>/objects.
    path: Path | None = None


class DatabaseSettings(_Section):
    # Defaults to SQLite at <data_dir>/hubgate.db.
    url: SecretStr | None = None
    migrate_on_start: bool = True
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)


class PolicySettings(_Section):
    # The policy TOML file; the shipped default policy when unset.
    path: Path | None = None
    # How often stored artifacts are re-evaluated after a policy or scanner change, and waivers expired.
    reevaluate_interval_s: float = Field(default=300.0, gt=0)


class ScanningSettings(_Section):
    workers: int = Field(default=2, ge=1, le=64)


class AuthSettings(_Section):
    # Four-eyes: whoever requested a review cannot approve it.
    four_eyes: bool = False


class WebhookSettings(_Section):
    url: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


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
    webhook: WebhookSettings = WebhookSettings()
    log: LogSettings = LogSettings()

    @property
    def objects_path(self) -> Path:
        return self.storage.path or self.data_dir / "objects"

    @property
    def spool_path(self) -> Path:
        return self.data_dir / "spool"

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hubgate.db').absolute()}"


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
