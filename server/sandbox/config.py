"""Settings of the local Sprinklr sandbox, given in code or read from SPRINKLR_SANDBOX_* variables.

Where the reference is silent (page sizes, formats, envelopes, which keys a filter accepts, ...) the sandbox has a
knob for each plausible reading, and named profiles that bundle them; the README's section "The sandbox" explains
each one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

ENV_PREFIX = "SPRINKLR_SANDBOX_"


class _FromProfile:
    """The default of a knob: take the value from the selected profile."""

    def __repr__(self) -> str:
        return "<from profile>"


# Typed Any so that knob fields can keep their real types (int, str, bool) while defaulting to "from the profile".
FROM_PROFILE: Final[Any] = _FromProfile()

# The values each enumerated knob may take; a knob missing here is an int or a bool.
CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "associated_order": ("asc", "desc", "shuffled"),
    "page_start": ("position", "page"),
    "time_filter": ("month", "epoch", "both"),
    "status_location": ("both", "top"),
    "language_values": ("code", "name"),
    "envelope": ("enveloped", "enveloped_all", "bare"),
    "filter_keys": ("documented", "extended"),
    "sort_keys": ("any", "created_only"),
    "message_deleted": ("absent_is_false", "absent_matches_nothing"),
}

# Every profile names every knob, so that a profile means the same thing whatever the defaults become.
# The reference's own words where it has them, the likeliest reading where it is silent (README, "The sandbox").
_DEFAULT: Final[dict[str, Any]] = {
    "env": "prod2",
    "associated_page_size": 200,
    "associated_order": "asc",
    "page_start": "position",
    "time_filter": "both",
    "status_location": "both",
    "language_values": "code",
    "envelope": "enveloped",
    "partial_errors": False,
    "retry_after": True,
    "filter_keys": "documented",
    "sort_keys": "any",
    "cursor_prefix": True,
    "message_deleted": "absent_is_false",
    "undocumented_paths": False,
    "hostile": False,
    "oversize": False,
}
PROFILES: Final[dict[str, dict[str, Any]]] = {
    "default": _DEFAULT,
    # Every silence read the way least convenient for a client that guessed.
    "strict": {
        "env": "prod2",
        "associated_page_size": 50,
        "associated_order": "shuffled",
        "page_start": "page",
        "time_filter": "month",
        "status_location": "top",
        "language_values": "name",
        "envelope": "enveloped",
        "partial_errors": True,
        "retry_after": False,
        "filter_keys": "documented",
        "sort_keys": "created_only",
        "cursor_prefix": True,
        "message_deleted": "absent_matches_nothing",
        "undocumented_paths": False,
        "hostile": False,
        "oversize": False,
    },
    # The other plausible readings: the global prod environment at the root, bare bodies, epoch-only time filters,
    # a looser filter table, big pages newest first.
    "variant": {
        "env": "prod",
        "associated_page_size": 1000,
        "associated_order": "desc",
        "page_start": "position",
        "time_filter": "epoch",
        "status_location": "top",
        "language_values": "code",
        "envelope": "bare",
        "partial_errors": True,
        "retry_after": True,
        "filter_keys": "extended",
        "sort_keys": "any",
        "cursor_prefix": False,
        "message_deleted": "absent_is_false",
        "undocumented_paths": False,
        "hostile": False,
        "oversize": False,
    },
    # An older deployment: smaller pages, page numbers, the undocumented profile path still served.
    "legacy": {
        "env": "prod2",
        "associated_page_size": 100,
        "associated_order": "asc",
        "page_start": "page",
        "time_filter": "both",
        "status_location": "both",
        "language_values": "name",
        "envelope": "enveloped_all",
        "partial_errors": False,
        "retry_after": False,
        "filter_keys": "extended",
        "sort_keys": "created_only",
        "cursor_prefix": False,
        "message_deleted": "absent_matches_nothing",
        "undocumented_paths": True,
        "hostile": False,
        "oversize": False,
    },
    # The default API serving adversarial data: injection payloads in every string, oversized records.
    "hostile": {**_DEFAULT, "hostile": True, "oversize": True},
}
KNOBS: Final = frozenset(PROFILES["default"])

# What POST /__sandbox__/config may change while the sandbox runs. Credentials, the environment (it is part of the
# URL clients were given) and the dataset's identity (seed, sizes, anchor) stay fixed.
ADJUSTABLE: Final = frozenset(
    {
        "profile",
        "latency_ms",
        "rate_per_second",
        "rate_per_hour",
        "rate_limit_status",
        "cursor_ttl_seconds",
        "bulk_fetch_max",
        "search_page_max",
    }
    | (KNOBS - {"env"})
)
_TYPES: Final[dict[str, type]] = {"int": int, "str": str, "float": float, "bool": bool}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves: credentials, limits, the dataset, and one value for every undocumented choice.

    Knobs left unset take the value of `profile`; `explicit` names the knobs that were set, which win over it.
    """

    profile: str = "default"
    env: str = FROM_PROFILE
    api_key: str = "sandbox-api-key"
    access_token: str = "sandbox-access-token"
    refresh_token: str = "sandbox-refresh-token"
    api_secret: str = "sandbox-api-secret"
    seed: int = 7
    cases: int = 1000
    profiles: int = 500  # customer profiles in the dataset (not to be confused with `profile`)
    target_messages: int = 10000
    # The last day of the generated data, "YYYY-MM-DD"; empty means today's UTC date when the sandbox starts.
    anchor: str = ""
    rate_per_second: int = 10
    rate_per_hour: int = 1000
    rate_limit_status: int = 403
    bulk_fetch_max: int = 100
    search_page_max: int = 100
    cursor_ttl_seconds: float = 300.0
    latency_ms: float = 0.0
    # Every case's description repeated to this many thousand characters (0: as generated), for memory benchmarks
    # with large records. Part of the dataset, like `cases`, so not a profile knob and not adjustable at run time.
    pad_descriptions_kb: int = 0
    associated_page_size: int = FROM_PROFILE
    associated_order: str = FROM_PROFILE
    page_start: str = FROM_PROFILE
    time_filter: str = FROM_PROFILE
    status_location: str = FROM_PROFILE
    language_values: str = FROM_PROFILE
    envelope: str = FROM_PROFILE
    partial_errors: bool = FROM_PROFILE
    retry_after: bool = FROM_PROFILE
    filter_keys: str = FROM_PROFILE
    sort_keys: str = FROM_PROFILE
    cursor_prefix: bool = FROM_PROFILE
    message_deleted: str = FROM_PROFILE
    undocumented_paths: bool = FROM_PROFILE
    hostile: bool = FROM_PROFILE
    oversize: bool = FROM_PROFILE
    explicit: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        """Fill unset knobs from the profile, then refuse settings the sandbox cannot honour, once."""
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        explicit = frozenset(name for name in KNOBS if getattr(self, name) is not FROM_PROFILE)
        object.__setattr__(self, "explicit", explicit)
        for name in KNOBS - explicit:
            object.__setattr__(self, name, PROFILES[self.profile][name])
        for item in dataclasses.fields(self):
            if not item.init:
                continue
            value, expected = getattr(self, item.name), _TYPES[str(item.type)]
            # bool is an int subclass; a JSON true must not pass for a rate, nor 1 for a flag.
            ok = isinstance(value, bool) if expected is bool else not isinstance(value, bool)
            ok = ok and isinstance(value, (int, float) if expected is float else expected)
            if not ok:
                raise ValueError(f"{item.name} must be {expected.__name__}, got {value!r}")
            if isinstance(value, str) and not value and item.name != "anchor":
                raise ValueError(f"{item.name} must not be empty")
            if item.name in CHOICES and value not in CHOICES[item.name]:
                raise ValueError(f"{item.name} must be one of {', '.join(CHOICES[item.name])}, got {value!r}")
        if self.rate_limit_status not in (403, 429):
            raise ValueError("rate_limit_status must be 403 or 429")
        for name in ("rate_per_second", "rate_per_hour", "bulk_fetch_max", "associated_page_size", "search_page_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in (
            "seed",
            "cases",
            "profiles",
            "target_messages",
            "cursor_ttl_seconds",
            "latency_ms",
            "pad_descriptions_kb",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.cases > 0 and self.profiles < 1:
            raise ValueError("profiles must be at least 1 when there are cases")
        if self.anchor:
            try:
                if not _DAY.match(self.anchor):
                    raise ValueError
                dt.date.fromisoformat(self.anchor)
            except ValueError:
                raise ValueError(f"anchor must be a date like 2026-03-31, got {self.anchor!r}") from None

    def anchor_date(self) -> dt.date:
        """The day the generated data ends on: the configured anchor, or today's date in UTC."""
        return dt.date.fromisoformat(self.anchor) if self.anchor else dt.datetime.now(dt.UTC).date()

    def knobs(self) -> dict[str, Any]:
        """The value in force of every knob, by name."""
        return {name: getattr(self, name) for name in sorted(KNOBS)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        """Build a config from SPRINKLR_SANDBOX_<FIELD> variables; unset ones keep their defaults."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            raw = source.get(ENV_PREFIX + item.name.upper()) if item.init else None
            if raw is None or raw.strip() == "":
                continue
            values[item.name] = _parse(ENV_PREFIX + item.name.upper(), raw.strip(), _TYPES[str(item.type)])
        try:
            return cls(**values)
        except ValueError as exc:
            # "associated_order must be one of ..." names the field; a person set the variable.
            name, _, rest = str(exc).partition(" ")
            if name in {item.name for item in dataclasses.fields(cls)}:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} {rest}") from None
            raise

    def updated(self, changes: Mapping[str, Any]) -> SandboxConfig:
        """A copy with adjustable settings changed; a new profile resets the knobs not set in the same change."""
        unknown = sorted(set(changes) - ADJUSTABLE)
        if unknown:
            raise ValueError(f"not adjustable at run time: {', '.join(unknown)}")
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self) if item.init}
        kept = {"env"} if "profile" in changes else self.explicit | {"env"}
        for name in KNOBS - kept:
            values[name] = FROM_PROFILE
        values.update(changes)
        return SandboxConfig(**values)


def _parse(variable: str, raw: str, kind: type) -> Any:
    """One environment variable's text as the field's type, or a ValueError naming the variable."""
    if kind is bool:
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ValueError(f"{variable} must be true or false, got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{variable} must be {kind.__name__}, got {raw!r}") from None
