"""One Settings object, read from SPRINKLR_* environment variables and validated once at start-up."""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, HttpUrl, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Project-specific custom field ids from the reference, plus the platform's own workflow properties.
DEFAULT_CUSTOM_FIELDS: dict[str, str] = {
    "Brand": "5cc9a7cfe4b01904c8dfc908",
    "Language": "5cc9a7d0e4b01904c8dfc965",
    "Country": "_c_66fcd9757813fc0020abeda3",
    "Status": "spr_uc_status",
    "Priority": "spr_uc_priority",
    "Type": "spr_uc_type",
}

TOOL_GROUPS: dict[str, tuple[str, ...]] = {
    "cases": ("get_case", "search_cases", "list_values"),
    "messages": ("get_case_messages", "get_message", "search_messages"),
    "profiles": ("lookup_profile",),
    "status": ("quota_status",),
    # Registered only when a Sparkcentral archive is configured.
    "sparkcentral": ("search_sparkcentral", "get_sparkcentral_conversation", "get_sparkcentral_report"),
}

_ENV_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# Production environments; others exist (e.g. qa6), so a name outside this pattern is warned about, not refused.
_PROD_PATTERN = re.compile(r"^prod[0-9]*$")
_FIELD_ID_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """Configuration is missing or malformed; the message names the variable and what is expected."""


class ArchiveFields(BaseSettings):
    """The optional Sparkcentral archive (SPARKCENTRAL_* variables); `sprinklr-mcp archive` reads only these."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    sparkcentral_export_dir: str | None = Field(default=None, validation_alias=AliasChoices("SPARKCENTRAL_EXPORT_DIR"))
    sparkcentral_sftp_url: str | None = Field(default=None, validation_alias=AliasChoices("SPARKCENTRAL_SFTP_URL"))
    sparkcentral_sftp_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SPARKCENTRAL_SFTP_PASSWORD")
    )
    sparkcentral_sftp_key_file: str | None = Field(
        default=None, validation_alias=AliasChoices("SPARKCENTRAL_SFTP_KEY_FILE")
    )
    sparkcentral_sftp_known_hosts: str | None = Field(
        default=None, validation_alias=AliasChoices("SPARKCENTRAL_SFTP_KNOWN_HOSTS")
    )
    sparkcentral_archive_path: str | None = Field(
        default=None, validation_alias=AliasChoices("SPARKCENTRAL_ARCHIVE_PATH")
    )
    sparkcentral_timezone: str = Field(default="UTC", validation_alias=AliasChoices("SPARKCENTRAL_TIMEZONE"))

    @field_validator("sparkcentral_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from server.archive.config import check_timezone

        return check_timezone(value)

    @field_validator("sparkcentral_sftp_url")
    @classmethod
    def _sftp_shape(cls, value: str | None) -> str | None:
        from server.archive.config import check_sftp_url

        return None if value is None or not value.strip() else check_sftp_url(value.strip())

    @property
    def archive_configured(self) -> bool:
        """True when an export directory or SFTP location is set."""
        return bool(self.sparkcentral_export_dir or self.sparkcentral_sftp_url)


class Settings(ArchiveFields):
    """Everything the server needs to know, from the environment (never read at import time)."""

    model_config = SettingsConfigDict(env_prefix="SPRINKLR_", extra="ignore", frozen=True, populate_by_name=True)

    env: str = Field(description="Sprinklr environment: prod, prod2, prod3, prod4, prod8, ...")
    api_key: SecretStr
    access_token: SecretStr
    refresh_token: SecretStr | None = None
    api_secret: SecretStr | None = None
    base_url: HttpUrl | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    rate_per_second: int = Field(default=10, ge=1, le=1000)
    rate_per_hour: int = Field(default=1000, ge=1, le=1_000_000)
    # Calls kept back from paging jobs so that interactive calls still work while one runs.
    bulk_reserve: int = Field(default=100, ge=0, validation_alias=AliasChoices("SPRINKLR_MCP_BULK_RESERVE"))
    max_wait_seconds: float = Field(default=2.0, ge=0, le=30, validation_alias=AliasChoices("SPRINKLR_MCP_MAX_WAIT"))

    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("SPRINKLR_MCP_REDIS_URL"))
    ledger_path: str | None = Field(default=None, validation_alias=AliasChoices("SPRINKLR_MCP_LEDGER_PATH"))
    cache_max_entries: int = Field(default=20_000, ge=100, validation_alias=AliasChoices("SPRINKLR_MCP_CACHE_ENTRIES"))
    cache_max_mb: int = Field(default=64, ge=1, le=4096, validation_alias=AliasChoices("SPRINKLR_MCP_CACHE_MB"))

    custom_fields: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_CUSTOM_FIELDS),
        validation_alias=AliasChoices("SPRINKLR_MCP_CUSTOM_FIELDS"),
    )
    queue_names: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias=AliasChoices("SPRINKLR_MCP_QUEUE_NAMES")
    )
    output_budget_tokens: int = Field(
        default=4000, ge=500, le=100_000, validation_alias=AliasChoices("SPRINKLR_MCP_OUTPUT_TOKENS")
    )
    redact_pii: bool = Field(default=False, validation_alias=AliasChoices("SPRINKLR_MCP_REDACT_PII"))
    record_dir: str | None = Field(default=None, validation_alias=AliasChoices("SPRINKLR_MCP_RECORD_DIR"))
    tools: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        default=None, validation_alias=AliasChoices("SPRINKLR_MCP_TOOLS")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", validation_alias=AliasChoices("SPRINKLR_MCP_LOG_LEVEL")
    )

    http_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SPRINKLR_MCP_HTTP_TOKEN"))
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("SPRINKLR_MCP_ALLOWED_HOSTS")
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("SPRINKLR_MCP_ALLOWED_ORIGINS")
    )
    # Streamable HTTP bounds (server/http.py): slow or greedy clients must not starve the others.
    http_max_connections: int = Field(
        default=1000, ge=8, le=100_000, validation_alias=AliasChoices("SPRINKLR_MCP_HTTP_MAX_CONNECTIONS")
    )
    http_header_timeout: float = Field(
        default=5.0, gt=0, le=300, validation_alias=AliasChoices("SPRINKLR_MCP_HTTP_HEADER_TIMEOUT")
    )
    http_body_timeout: float = Field(
        default=30.0, gt=0, le=3600, validation_alias=AliasChoices("SPRINKLR_MCP_HTTP_BODY_TIMEOUT")
    )
    http_max_sessions: int = Field(
        default=200, ge=1, le=100_000, validation_alias=AliasChoices("SPRINKLR_MCP_HTTP_MAX_SESSIONS")
    )
    http_session_idle: float = Field(
        default=600.0, ge=1, le=86_400, validation_alias=AliasChoices("SPRINKLR_MCP_HTTP_SESSION_IDLE")
    )

    @field_validator("env")
    @classmethod
    def _env_shape(cls, value: str) -> str:
        value = value.strip().lower()
        if not _ENV_PATTERN.match(value):
            raise ValueError("expected an environment name such as prod, prod2, prod3, prod4 or prod8")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("api_key", "access_token", "refresh_token", "api_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_usable(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from server.ledger.redis import check_redis_url  # the ledger owns what a usable Redis URL is

        return check_redis_url(value.strip())

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _parse_custom_fields(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    'expected a JSON object of friendly name to field id, e.g. {"Brand": "5cc9..."}'
                ) from exc
            if not isinstance(parsed, dict):
                raise ValueError('expected a JSON object of friendly name to field id, e.g. {"Brand": "5cc9..."}')
            value = parsed
        if isinstance(value, dict):
            # Merged over the defaults, so the roles (Brand, Status, ...) keep their ids; a later name given for the
            # same id is the one shown.
            return {**DEFAULT_CUSTOM_FIELDS, **value}
        return value

    @field_validator("queue_names", mode="before")
    @classmethod
    def _parse_queue_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    'expected a JSON object of queue name to queue id, e.g. {"Billing": "5e8f..."}'
                ) from exc
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError('expected a JSON object of queue name to queue id, e.g. {"Billing": "5e8f..."}')
        return value

    @field_validator("custom_fields")
    @classmethod
    def _field_ids_safe(cls, value: dict[str, str]) -> dict[str, str]:
        for name, field_id in value.items():
            if not _FIELD_ID_PATTERN.match(field_id) or not name.strip() or len(name) > 64:
                raise ValueError(f"field {name!r}: ids are letters, digits and underscores, at most 64 characters")
        return value

    @field_validator("tools", mode="before")
    @classmethod
    def _parse_tools(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(names) or None
        return value

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if (self.refresh_token is None) != (self.api_secret is None):
            raise ValueError(
                "SPRINKLR_REFRESH_TOKEN and SPRINKLR_API_SECRET go together: set both to enable token refresh, "
                "or neither"
            )
        if self.tools is not None:
            unknown = [name for name in self.tools if name not in TOOL_GROUPS and not _is_tool_name(name)]
            if unknown:
                raise ValueError(
                    f"SPRINKLR_MCP_TOOLS: unknown {', '.join(unknown)}; use tool names or groups "
                    f"({', '.join(TOOL_GROUPS)})"
                )
        return self

    @property
    def api_root(self) -> str:
        """Base URL without trailing slash; requests go to {api_root}/api/v2/... and {api_root}/oauth/token."""
        if self.base_url is not None:
            return str(self.base_url).rstrip("/")
        return default_api_root(self.env)

    def secrets(self) -> list[str]:
        """Every configured secret, for scrubbing them from anything shown or recorded."""
        values = (
            self.api_key,
            self.access_token,
            self.refresh_token,
            self.api_secret,
            self.http_token,
            self.sparkcentral_sftp_password,
        )
        return [value.get_secret_value() for value in values if value is not None]

    def enabled_tools(self) -> frozenset[str]:
        """Names of the tools to register, from SPRINKLR_MCP_TOOLS (all when unset)."""
        every = {name for group in TOOL_GROUPS.values() for name in group}
        if self.tools is None:
            return frozenset(every)
        chosen: set[str] = set()
        for name in self.tools:
            chosen.update(TOOL_GROUPS.get(name, (name,)))
        return frozenset(chosen & every)


def _is_tool_name(name: str) -> bool:
    return any(name in group for group in TOOL_GROUPS.values())


def default_api_root(env: str) -> str:
    """Sprinklr's API root for an environment, as used when SPRINKLR_BASE_URL is not set."""
    # The global production environment carries no environment segment in its URLs.
    return "https://api3.sprinklr.com" if env == "prod" else f"https://api3.sprinklr.com/{env}"


def variable_name(field: str) -> str:
    """The environment variable that sets a Settings field (its alias when it has one, else SPRINKLR_<FIELD>)."""
    info = Settings.model_fields.get(field)
    if info is None:  # validation errors locate aliased fields by their alias, which is the variable
        return field
    alias = info.validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    return f"SPRINKLR_{field.upper()}"


def variable_names() -> list[str]:
    """Every environment variable the settings read, in declaration order."""
    return [variable_name(field) for field in Settings.model_fields]


_warned_envs: set[str] = set()


def _warn_unusual_env(env: str) -> None:
    """Warn once per name when SPRINKLR_ENV is not prod or prod<N>: likely a typo, though e.g. qa6 is real."""
    if _PROD_PATTERN.match(env) or env in _warned_envs:
        return
    _warned_envs.add(env)
    log.warning(
        "SPRINKLR_ENV: %r is not a production environment name (prod, prod2, prod3, ...); using it as given. "
        "Check the spelling if calls answer 421.",
        env,
    )


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings once; raise ConfigError with one clear line (never a secret) if they are wrong."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = [str(part) for part in error["loc"]]
            field = loc[0] if loc else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "required but not set"
            problems.append(f"{variable_name(field)}: {message}" if field else message)
        raise ConfigError("; ".join(problems)) from None
    _warn_unusual_env(settings.env)
    return settings
