"""The sandbox's mutable state: tokens, rate windows, request and write logs, pending faults and search cursors."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.sandbox.config import SandboxConfig
from server.sandbox.data import Dataset
from server.sandbox.variants import dataset_variant, variant_key

JSON = dict[str, Any]

FAULT_KINDS = frozenset(
    {
        "500",
        "502",
        "503",
        "reset",
        "malformed_json",
        "truncated",
        "missing_fields",
        "unknown_fields",
        "slow",
        "401",
        "null_data",
        "associated_repeat",
        "associated_endless",
        "echo_headers",
    }
)
# Faults that only make sense on one route: they wait for a request to it, whatever their path_contains says.
ROUTE_FAULTS = {"associated_repeat": "associated-messages", "associated_endless": "associated-messages"}
# echo_headers answers `status` (a 4xx) with the request's headers in a body of this shape, as a gateway might.
ECHO_SHAPES = frozenset({"json", "text", "html"})
LOG_LIMIT = 100_000  # enough for a long load test; older entries drop off, the counters keep counting
CURSOR_LIMIT = 1_000  # live search cursors; the oldest is forgotten first, as if it had expired


@dataclass(slots=True)
class Fault:
    """A failure to inject into the next `count` Sprinklr requests whose path contains `path_contains`."""

    kind: str
    count: int = 1
    path_contains: str | None = None
    delay_ms: float = 2000.0
    status: int = 400
    shape: str = "json"

    @classmethod
    def parse(cls, spec: Any) -> Fault:
        """Validate one fault from POST /__sandbox__/config."""
        if not isinstance(spec, dict):
            raise ValueError("each fault must be an object")
        unknown = sorted(set(spec) - {"kind", "count", "path_contains", "delay_ms", "status", "shape"})
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        kind = str(spec.get("kind"))
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {spec.get('kind')!r}; use one of {', '.join(sorted(FAULT_KINDS))}")
        count, delay, path = spec.get("count", 1), spec.get("delay_ms", 2000.0), spec.get("path_contains")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("fault count must be a positive integer")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError("fault delay_ms must be a non-negative number")
        if path is not None and not isinstance(path, str):
            raise ValueError("fault path_contains must be a string")
        status, shape = spec.get("status", 400), spec.get("shape", "json")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 499:
            raise ValueError("fault status must be a 4xx status code, e.g. 400, 403 or 422")
        if shape not in ECHO_SHAPES:
            raise ValueError(f"fault shape must be one of {', '.join(sorted(ECHO_SHAPES))}")
        return cls(kind, count, path, float(delay), status, shape)

    def as_json(self) -> JSON:
        """The fault as the admin API shows it."""
        return {
            "kind": self.kind,
            "count": self.count,
            "path_contains": self.path_contains,
            "delay_ms": self.delay_ms,
            "status": self.status,
            "shape": self.shape,
        }


@dataclass(slots=True)
class Cursor:
    """One page position in a search's results, which all of that search's cursors share."""

    entity_type: str
    results: list[JSON]
    offset: int
    size: int
    total: int | None
    expires_at: float


@dataclass(slots=True)
class _Windows:
    """Accepted-request times for one API key: the last second and the last hour."""

    second: deque[float] = field(default_factory=deque)
    hour: deque[float] = field(default_factory=deque)


class Sandbox:
    """Everything that changes while a sandbox runs; one per app, guarded by one lock.

    The app runs on a single event loop, but tests read and reset this object from their own thread.
    """

    def __init__(
        self,
        config: SandboxConfig,
        dataset: Dataset,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Start from the config's tokens with empty logs."""
        self.initial_config = config
        self.config = config
        self.base_dataset = dataset
        self.clock = clock
        self.wall_clock = wall_clock
        self.lock = threading.Lock()
        self.requests = 0
        self.rate_limited = 0
        self.log: deque[JSON] = deque(maxlen=LOG_LIMIT)
        self.writes: list[JSON] = []
        self.by_route: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self.cursors: dict[str, Cursor] = {}
        self._windows: dict[str, _Windows] = {}
        self.access_token = config.access_token
        self.refresh_token = config.refresh_token
        self.access_expired = False
        self.token_generation = 1

    @property
    def dataset(self) -> Dataset:
        """The data as served under the knobs in force (hostile, oversize, field shapes)."""
        config = self.config
        key = variant_key(
            config.status_location,
            config.language_values,
            config.hostile,
            config.oversize,
            pad_descriptions_kb=config.pad_descriptions_kb,
        )
        return dataset_variant(self.base_dataset, key)

    def reset(self) -> None:
        """Forget logs, writes, rate windows, faults and cursors; restore the starting config and tokens."""
        with self.lock:
            self.config = self.initial_config
            self.requests = 0
            self.rate_limited = 0
            self.log.clear()
            self.writes.clear()
            self.by_route.clear()
            self.faults.clear()
            self.cursors.clear()
            self._windows.clear()
            self.access_token = self.config.access_token
            self.refresh_token = self.config.refresh_token
            self.access_expired = False
            self.token_generation = 1

    def configure(self, changes: JSON) -> None:
        """Apply POST /__sandbox__/config: adjustable settings and, if given, a new list of pending faults."""
        changes = dict(changes)
        faults: list[Fault] | None = None
        if "faults" in changes:
            specs = changes.pop("faults")
            if not isinstance(specs, list):
                raise ValueError("faults must be a list")
            faults = [Fault.parse(spec) for spec in specs]
        with self.lock:
            self.config = self.config.updated(changes)
            if faults is not None:
                self.faults = faults

    # -- request log --------------------------------------------------------------------------------------------

    def record(self, method: str, path: str, route: str) -> JSON:
        """Log a Sprinklr request as it arrives; the caller fills in the status when it answers."""
        entry: JSON = {"t": self.wall_clock(), "method": method, "path": path, "status": None}
        with self.lock:
            self.requests += 1
            self.by_route[route] += 1
            self.log.append(entry)
        return entry

    def record_write(self, method: str, path: str) -> None:
        """Remember an attempted write, which a read-only client must never make."""
        with self.lock:
            self.writes.append({"method": method, "path": path})

    def stats(self, tail: int | None = None) -> JSON:
        """The admin view of what the sandbox has received."""
        with self.lock:
            log = list(self.log)
            return {
                "requests": self.requests,
                "writes": list(self.writes),
                "by_route": dict(self.by_route),
                "log": log[-tail:] if tail else log,
                "rate_limited": self.rate_limited,
                "faults_pending": [f.as_json() for f in self.faults],
            }

    # -- rate limit ---------------------------------------------------------------------------------------------

    def admit(self, api_key: str) -> int | None:
        """Count a request against the key's windows; return None if allowed, else seconds until a slot frees."""
        now = self.clock()
        with self.lock:
            windows = self._windows.setdefault(api_key, _Windows())
            for window, span in ((windows.second, 1.0), (windows.hour, 3600.0)):
                while window and window[0] <= now - span:
                    window.popleft()
            waits = []
            if len(windows.second) >= self.config.rate_per_second:
                waits.append(windows.second[-self.config.rate_per_second] + 1.0 - now)
            if len(windows.hour) >= self.config.rate_per_hour:
                waits.append(windows.hour[-self.config.rate_per_hour] + 3600.0 - now)
            if waits:
                self.rate_limited += 1
                return max(1, math.ceil(max(waits)))
            windows.second.append(now)
            windows.hour.append(now)
            return None

    # -- tokens -------------------------------------------------------------------------------------------------

    def token_valid(self, token: str) -> bool:
        """Whether a bearer token is the current, unexpired access token."""
        with self.lock:
            return not self.access_expired and secrets.compare_digest(token, self.access_token)

    def expire_token(self) -> None:
        """Make the current access token fail with 401 until the next refresh."""
        with self.lock:
            self.access_expired = True

    def refresh(self, client_id: str, client_secret: str, refresh_token: str) -> JSON | None:
        """Trade the current refresh token for new tokens, once; None if any credential is wrong."""
        config = self.config
        with self.lock:
            valid = (
                secrets.compare_digest(client_id, config.api_key)
                and secrets.compare_digest(client_secret, config.api_secret)
                and secrets.compare_digest(refresh_token, self.refresh_token)
            )
            if not valid:
                return None
            self.token_generation += 1
            self.access_token = f"{config.access_token}-{self.token_generation}"
            self.refresh_token = f"{config.refresh_token}-{self.token_generation}"
            self.access_expired = False
            return {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "token_type": "Bearer",
                "expires_in": 3600,
            }

    # -- faults -------------------------------------------------------------------------------------------------

    def take_fault(self, path: str) -> Fault | None:
        """Consume one use of the first pending fault that applies to this path."""
        with self.lock:
            for fault in self.faults:
                if fault.kind in ROUTE_FAULTS and ROUTE_FAULTS[fault.kind] not in path:
                    continue
                if fault.path_contains is None or fault.path_contains in path:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # -- search cursors -----------------------------------------------------------------------------------------

    def issue_cursor(self, entity_type: str, results: list[JSON], offset: int, size: int, total: int | None) -> str:
        """Remember where the next page starts and return its opaque id."""
        now = self.clock()
        cursor_id = secrets.token_urlsafe(18)
        with self.lock:
            if len(self.cursors) >= CURSOR_LIMIT:
                for key in [k for k, c in self.cursors.items() if c.expires_at <= now]:
                    del self.cursors[key]
                while len(self.cursors) >= CURSOR_LIMIT:
                    del self.cursors[next(iter(self.cursors))]
            expires = now + self.config.cursor_ttl_seconds
            self.cursors[cursor_id] = Cursor(entity_type, results, offset, size, total, expires)
        return cursor_id

    def cursor(self, cursor_id: str) -> Cursor | None:
        """The cursor with this id if it has not expired."""
        with self.lock:
            found = self.cursors.get(cursor_id)
            if found is None:
                return None
            if found.expires_at <= self.clock():
                del self.cursors[cursor_id]
                return None
            return found
