"""Settings of the local Sprinklr sandbox, given in code or read from SPRINKLR_SANDBOX_* variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "SPRINKLR_SANDBOX_"

# What POST /__sandbox__/config may change while the sandbox runs; credentials and the dataset stay fixed.
ADJUSTABLE = frozenset(
    {
        "latency_ms",
        "rate_per_second",
        "rate_per_hour",
        "rate_limit_status",
        "cursor_ttl_seconds",
        "bulk_fetch_max",
        "associated_page_size",
        "search_page_max",
    }
)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves: the credentials it accepts, its limits, and the dataset it serves."""

    env: str = "prod2"
    api_key: str = "sandbox-api-key"
    access_token: str = "sandbox-access-token"
    refresh_token: str = "sandbox-refresh-token"
    api_secret: str = "sandbox-api-secret"
    seed: int = 7
    cases: int = 1000
    profiles: int = 500
    target_messages: int = 10000
    rate_per_second: int = 10
    rate_per_hour: int = 1000
    rate_limit_status: int = 403
    bulk_fetch_max: int = 100
    associated_page_size: int = 200
    search_page_max: int = 100
    cursor_ttl_seconds: float = 300.0
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        """Refuse settings the sandbox cannot honour, once, when the config is made."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = type(field.default)
            # bool is an int subclass; a JSON true must not pass for a rate.
            if isinstance(value, bool) or not isinstance(value, expected if expected is not float else (int, float)):
                raise ValueError(f"{field.name} must be {expected.__name__}, got {value!r}")
            if isinstance(value, str) and not value:
                raise ValueError(f"{field.name} must not be empty")
        if self.rate_limit_status not in (403, 429):
            raise ValueError("rate_limit_status must be 403 or 429")
        for name in ("rate_per_second", "rate_per_hour", "bulk_fetch_max", "associated_page_size", "search_page_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("seed", "cases", "profiles", "target_messages", "cursor_ttl_seconds", "latency_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.cases > 0 and self.profiles < 1:
            raise ValueError("profiles must be at least 1 when there are cases")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """Build a config from SPRINKLR_SANDBOX_<FIELD> variables; unset ones keep their defaults."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = source.get(ENV_PREFIX + field.name.upper())
            if raw is None or raw.strip() == "":
                continue
            kind: type[Any] = type(field.default)
            try:
                values[field.name] = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{ENV_PREFIX}{field.name.upper()} must be {kind.__name__}, got {raw!r}") from None
        return cls(**values)

    def updated(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """Return a copy with the adjustable settings in changes applied; anything else is a ValueError."""
        unknown = sorted(set(changes) - ADJUSTABLE)
        if unknown:
            raise ValueError(f"not adjustable at run time: {', '.join(unknown)}")
        return dataclasses.replace(self, **dict(changes))
