"""One shared cache for Sprinklr payloads, with single flight: concurrent misses for a key share one upstream fetch.

Every cached read is a read not charged to the 1,000-calls-an-hour budget. Values are parsed JSON payloads, kept
in this process (bounded by entries and bytes) or in Redis (shared by replicas, bounded by Redis's maxmemory).
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import anyio
import cachetools
from pydantic import BaseModel, ConfigDict

from server.tenant import CacheKey

log = logging.getLogger(__name__)

T = TypeVar("T")
MiB = 1024 * 1024


class _Missing(enum.Enum):
    MISSING = enum.auto()


# What a backend's get returns for an absent or expired key: None is a value a payload can hold.
MISSING = _Missing.MISSING


@dataclass(frozen=True, slots=True)
class TTL:
    """Default lifetimes in seconds: message bodies never change, cases and search results do."""

    message: float = 6 * 3600.0
    case: float = 60.0
    profile: float = 600.0
    search: float = 30.0  # one page of search results
    associated: float = 60.0  # the message ids associated with a case
    partial: float = 600.0  # how far a long conversation was read, so the next call continues from there
    directory: float = 6 * 3600.0  # users, custom fields and the values fields take: they change rarely


@dataclass(frozen=True, slots=True)
class BackendStats:
    """What a backend knows of its own size: Redis is shared and bounds itself, so it reports 0 and no bounds."""

    kind: str
    entries: int
    bytes: int
    max_entries: int | None
    max_bytes: int | None


class CacheStats(BaseModel):
    """Size and effectiveness of the cache since start-up (hit_ratio counts coalesced callers as served)."""

    model_config = ConfigDict(frozen=True)

    backend: str
    entries: int
    bytes: int
    max_entries: int | None
    max_bytes: int | None
    hits: int
    misses: int
    coalesced: int
    hit_ratio: float


class CacheBackend(Protocol):
    """Where cached values live; values are JSON-compatible objects."""

    async def get(self, key: str) -> Any:
        """The value for `key`, or MISSING."""
        ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The values found among `keys` (misses are left out)."""
        ...

    async def set(self, key: str, value: Any, size: int, ttl: float) -> None:
        """Store `value` (about `size` bytes) for `ttl` seconds."""
        ...

    async def delete(self, key: str) -> None:
        """Forget `key`, if it is there."""
        ...

    def stats(self) -> BackendStats:
        """Current size and bounds."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    size: int
    ttl: float


# Parsed JSON takes about 3.3 times its wire size as Python objects (measured by bench/memory.py): the memory
# bound counts that, so that SPRINKLR_MCP_CACHE_MB bounds memory, not response bytes.
IN_MEMORY_FACTOR = 3.3


class MemoryBackend:
    """An in-process LRU cache bounded by entry count and by approximate bytes, with per-entry expiry.

    `size_factor` scales the sizes given to set(): with IN_MEMORY_FACTOR, wire (JSON) sizes approximate memory.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 64 * MiB,
        *,
        size_factor: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._size_factor = size_factor
        # Sized by the callers' byte estimates; the entry bound is enforced in set(), as cachetools has one bound.
        self._data: cachetools.TLRUCache[str, _Entry] = cachetools.TLRUCache(
            maxsize=max_bytes,
            ttu=lambda _key, entry, now: now + entry.ttl,
            timer=clock,
            getsizeof=lambda entry: entry.size,
        )

    async def get(self, key: str) -> Any:
        """The value for `key`, or MISSING (an expired entry is a miss)."""
        entry = self._data.get(key)
        return entry.value if entry is not None else MISSING

    async def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The values found among `keys` (misses are left out)."""
        found: dict[str, Any] = {}
        for key in keys:
            entry = self._data.get(key)
            if entry is not None:
                found[key] = entry.value
        return found

    async def set(self, key: str, value: Any, size: int, ttl: float) -> None:
        """Store `value`, evicting least-recently-used entries until both bounds hold."""
        size = int(max(size, 0) * self._size_factor)
        if ttl <= 0 or size > self._max_bytes:
            # Not storable; drop any older value too, so that a refetch is never answered by what it replaced.
            self._data.pop(key, None)
            return
        if key not in self._data:
            while len(self._data) >= self._max_entries:
                self._data.popitem()
        self._data[key] = _Entry(value, size, ttl)

    async def delete(self, key: str) -> None:
        """Forget `key`, if it is there."""
        self._data.pop(key, None)

    def stats(self) -> BackendStats:
        """Live entries and bytes, and the bounds."""
        self._data.expire()
        return BackendStats("memory", len(self._data), int(self._data.currsize), self._max_entries, self._max_bytes)

    async def aclose(self) -> None:
        """Nothing to release."""


if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError


class RedisBackend:
    """A cache in Redis shared by replicas: JSON values with a PX expiry, read in bulk with MGET.

    Its size is bounded by the Redis server: set `maxmemory` with an eviction policy such as `volatile-lru` (every
    key here has a TTL). Redis errors are logged and treated as misses, so a cache outage only costs quota.
    """

    def __init__(self, url: str, *, prefix: str = "sprinklr-mcp:cache:") -> None:
        # Imported here: a server without Redis does not pay for loading it at start-up.
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._error: type[RedisError] = RedisError
        self._prefix = prefix
        self._failing = False

    def _report(self, exc: RedisError | None) -> None:
        # One warning when the cache goes away and one line when it is back, not one per call.
        if exc is not None and not self._failing:
            log.warning("Redis cache unavailable (%s); reading from Sprinklr instead", type(exc).__name__)
        elif exc is None and self._failing:
            log.warning("Redis cache available again")
        self._failing = exc is not None

    async def get(self, key: str) -> Any:
        """The value for `key`, or MISSING."""
        try:
            raw = await self._redis.get(self._prefix + key)
        except self._error as exc:
            self._report(exc)
            return MISSING
        self._report(None)
        return MISSING if raw is None else json.loads(raw)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The values found among `keys`, in one MGET."""
        if not keys:
            return {}
        try:
            raws = await self._redis.mget([self._prefix + key for key in keys])
        except self._error as exc:
            self._report(exc)
            return {}
        self._report(None)
        return {key: json.loads(raw) for key, raw in zip(keys, raws, strict=True) if raw is not None}

    async def set(self, key: str, value: Any, size: int, ttl: float) -> None:
        """Store `value` as JSON for `ttl` seconds (`size` is not needed: Redis bounds itself)."""
        if ttl <= 0:
            return
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        try:
            await self._redis.set(self._prefix + key, data, px=max(1, round(ttl * 1000)))
        except self._error as exc:
            self._report(exc)
            return
        self._report(None)

    async def delete(self, key: str) -> None:
        """Forget `key`, if it is there."""
        try:
            await self._redis.delete(self._prefix + key)
        except self._error as exc:
            self._report(exc)
            return
        self._report(None)

    def stats(self) -> BackendStats:
        """Not tracked (0): the keyspace is shared by every replica and bounded by Redis's maxmemory."""
        return BackendStats("redis", 0, 0, None, None)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


class _Flight:
    """One fetch in progress, which other callers for the same key wait on instead of fetching again."""

    __slots__ = ("abandoned", "done", "error", "traceback", "value")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: Any = None
        self.error: Exception | None = None
        self.traceback: TracebackType | None = None
        self.abandoned = False


class Cache:
    """Read-through cache with single flight within this process, over a memory or Redis backend."""

    def __init__(self, backend: CacheBackend) -> None:
        self._backend = backend
        # Keyed by (key, fresh): a fresh fetch serves every caller, a plain one only callers that accept a cached value.
        self._flights: dict[tuple[str, bool], _Flight] = {}
        self._hits = 0
        self._misses = 0
        self._coalesced = 0

    async def get_or_fetch(
        self, cache_key: CacheKey, fetch: Callable[[], Awaitable[tuple[T, int]]], ttl: float, *, fresh: bool = False
    ) -> T:
        """The cached value, or fetch's (value, size) stored for `ttl` s; concurrent callers share one fetch.

        fresh=True skips the cached value and fetches anew (joining a fresh fetch already running), storing the result.
        If the fetch raises, every caller waiting on it gets the exception and nothing is cached.
        """
        key = str(cache_key)
        while True:
            if not fresh:
                cached = await self._backend.get(key)
                if cached is not MISSING:
                    self._hits += 1
                    return cast(T, cached)
            # No await between this look-up and _lead registering its flight, so two callers never both lead.
            flight = self._flights.get((key, True)) or (None if fresh else self._flights.get((key, False)))
            if flight is None:
                return await self._lead(key, fetch, ttl, fresh)
            await flight.done.wait()
            if flight.abandoned:
                continue  # its leader was cancelled; look again, and perhaps lead
            self._coalesced += 1
            if flight.error is not None:
                raise flight.error.with_traceback(flight.traceback)
            return cast(T, flight.value)

    async def _lead(self, key: str, fetch: Callable[[], Awaitable[tuple[T, int]]], ttl: float, fresh: bool) -> T:
        slot = (key, fresh)
        flight = self._flights[slot] = _Flight()
        self._misses += 1
        try:
            value, size = await fetch()
            await self._backend.set(key, value, size, ttl)
        except Exception as exc:
            flight.error, flight.traceback = exc, exc.__traceback__
            raise
        except BaseException:
            # Cancellation belongs to the leader's task alone: the waiters retry rather than receive it.
            flight.abandoned = True
            raise
        finally:
            del self._flights[slot]
            flight.done.set()
        flight.value = value
        return value

    async def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Any]:
        """The cached values among `keys` (misses are left out, for the caller to fetch and remember)."""
        names = {str(key): key for key in keys}
        found = await self._backend.get_many(list(names))
        self._hits += len(found)
        self._misses += len(keys) - len(found)
        return {names[name]: value for name, value in found.items()}

    async def get(self, key: CacheKey) -> Any:
        """The cached value for `key`, or None when there is none (for values that are never None)."""
        value = await self._backend.get(str(key))
        if value is MISSING:
            self._misses += 1
            return None
        self._hits += 1
        return value

    async def remember(self, key: CacheKey, value: Any, size: int, ttl: float) -> None:
        """Store a value fetched outside get_or_fetch, e.g. one item of a bulk read."""
        await self._backend.set(str(key), value, size, ttl)

    async def forget(self, key: CacheKey) -> None:
        """Drop `key` from the cache."""
        await self._backend.delete(str(key))

    def stats(self) -> CacheStats:
        """Entries, bytes and bounds from the backend; hits, misses and coalesced callers since start-up."""
        backend = self._backend.stats()
        served = self._hits + self._coalesced
        total = served + self._misses
        return CacheStats(
            backend=backend.kind,
            entries=backend.entries,
            bytes=backend.bytes,
            max_entries=backend.max_entries,
            max_bytes=backend.max_bytes,
            hits=self._hits,
            misses=self._misses,
            coalesced=self._coalesced,
            hit_ratio=served / total if total else 0.0,
        )

    async def aclose(self) -> None:
        """Close the backend."""
        await self._backend.aclose()
