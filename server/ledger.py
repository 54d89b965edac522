"""Where quota hits, trips and tokens live: in memory, in an SQLite file shared by processes, or in Redis.

Every process that uses one Sprinklr API key must draw on one budget (an MCP host starts a stdio server per client),
so the budget lives here and not in the guard. `key` is always a hash of the API key, never the key itself, and
token values are never logged.
"""

from __future__ import annotations

import bisect
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import anyio
import anyio.to_thread
import platformdirs

log = logging.getLogger(__name__)

HOUR = 3600.0
# A refused reserve always reports some wait, so a caller that sleeps and retries never spins on float rounding.
MIN_WAIT = 1e-6
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Usage:
    """What the ledger holds for one key at a moment: hits in the last second and hour, and any trip."""

    used_last_second: int
    used_last_hour: int
    oldest_in_hour: float | None
    tripped_until: float
    trip_reason: str | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An access/refresh token pair shared by every process using the key; the repr hides both tokens."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    version: int
    saved_at: float


class Ledger(Protocol):
    """The shared record of quota hits, trips and tokens for hashed API keys."""

    async def reserve(
        self, key: str, now: float, per_second: int, per_hour: int, hour_ceiling: int, *, window: float = 1.0
    ) -> float:
        """Record a hit at `now` and return 0.0 if both windows and any trip allow it; else the seconds to wait."""
        ...

    async def settle(self, key: str, reserved: float, done: float) -> None:
        """Move one hit stamped `reserved` to `done`, when its request has been answered (see QuotaGuard.settle)."""
        ...

    async def trip(self, key: str, until: float, reason: str | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins)."""
        ...

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any trip."""
        ...

    async def get_token(self, key: str) -> TokenRecord | None:
        """The token pair last stored for `key`, if any."""
        ...

    async def put_token(self, key: str, record: TokenRecord) -> None:
        """Store the token pair for `key`, replacing the previous one."""
        ...

    def refresh_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion for a token refresh among every task and process sharing this ledger."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _decide(
    now: float,
    per_second: int,
    ceiling: int,
    window: float,
    tripped_until: float,
    recent: int,
    total: int,
    nth_oldest: Callable[[int], float],
) -> float:
    """The wait before a hit at `now` is allowed (0.0 when it is), from the key's hit counts and a sorted lookup.

    `recent` counts hits after now - window and `total` all hits after now - 1 h, both including hits stamped later
    than `now` (another process's clock a little ahead): those count too.
    """
    blocked = tripped_until > now
    wait = tripped_until - now if blocked else 0.0
    if recent >= per_second:
        # The hit that must leave the window before one more fits: the (recent - per_second + 1)th oldest in it.
        blocked = True
        wait = max(wait, nth_oldest(total - per_second) + window - now)
    if total >= ceiling:
        blocked = True
        wait = max(wait, nth_oldest(total - ceiling) + HOUR - now)
    return max(wait, MIN_WAIT) if blocked else 0.0


class MemoryLedger:
    """A ledger in this process only: for tests and for a single server process."""

    def __init__(self) -> None:
        self._hits: dict[str, list[float]] = {}
        self._trips: dict[str, tuple[float, str | None]] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._leases: dict[str, anyio.Semaphore] = {}
        self._lock = anyio.Lock()

    def _pruned(self, key: str, now: float) -> list[float]:
        hits = self._hits.setdefault(key, [])
        del hits[: bisect.bisect_right(hits, now - HOUR)]
        return hits

    async def reserve(
        self, key: str, now: float, per_second: int, per_hour: int, hour_ceiling: int, *, window: float = 1.0
    ) -> float:
        """Record a hit at `now` and return 0.0 if both windows and any trip allow it; else the seconds to wait."""
        async with self._lock:
            hits = self._pruned(key, now)
            tripped_until = self._trips.get(key, (0.0, None))[0]
            recent = len(hits) - bisect.bisect_right(hits, now - window)
            ceiling = min(per_hour, hour_ceiling)
            wait = _decide(now, per_second, ceiling, window, tripped_until, recent, len(hits), hits.__getitem__)
            if wait == 0.0:
                # Sorted insert, not append: callers' clocks need not agree on order.
                bisect.insort(hits, now)
            return wait

    async def settle(self, key: str, reserved: float, done: float) -> None:
        """Move one hit stamped `reserved` to `done`."""
        async with self._lock:
            hits = self._hits.get(key, [])
            index = bisect.bisect_left(hits, reserved)
            if index < len(hits) and hits[index] == reserved and done > reserved:
                del hits[index]
                bisect.insort(hits, done)

    async def trip(self, key: str, until: float, reason: str | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins)."""
        async with self._lock:
            if until > self._trips.get(key, (0.0, None))[0]:
                self._trips[key] = (until, reason)

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any trip."""
        async with self._lock:
            hits = self._pruned(key, now)
            until, reason = self._trips.get(key, (0.0, None))
            return Usage(
                used_last_second=len(hits) - bisect.bisect_right(hits, now - 1.0),
                used_last_hour=len(hits),
                oldest_in_hour=hits[0] if hits else None,
                tripped_until=until,
                trip_reason=reason,
            )

    async def get_token(self, key: str) -> TokenRecord | None:
        """The token pair last stored for `key`, if any."""
        return self._tokens.get(key)

    async def put_token(self, key: str, record: TokenRecord) -> None:
        """Store the token pair for `key`, replacing the previous one."""
        self._tokens[key] = record

    def refresh_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion for a token refresh among the tasks of this process."""
        # A semaphore, not a Lock: the caller may enter and leave the lease from different tasks.
        return _semaphore_lease(self._leases.setdefault(key, anyio.Semaphore(1)))

    async def aclose(self) -> None:
        """Nothing to release."""


@asynccontextmanager
async def _semaphore_lease(semaphore: anyio.Semaphore) -> AsyncIterator[None]:
    async with semaphore:
        yield


def default_ledger_path() -> Path:
    """The ledger file in the user's cache directory, shared by every server process of this user."""
    return Path(platformdirs.user_cache_dir("sprinklr-mcp")) / "ledger.sqlite3"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hits_by_key_time ON hits (key, at);
CREATE TABLE IF NOT EXISTS trips (key TEXT PRIMARY KEY, until REAL NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS tokens (
    key TEXT PRIMARY KEY, access_token TEXT NOT NULL, refresh_token TEXT, version INTEGER NOT NULL,
    saved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""


class FileLedger:
    """A ledger in an SQLite file (WAL mode), shared safely by every process of the user on this machine.

    Each process keeps one connection; every reserve is one short `BEGIN IMMEDIATE` transaction that also prunes
    hits older than an hour, so the file stays small. The file holds tokens and is created readable by its owner only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = 10.0,
        lease_seconds: float = 120.0,
        poll_interval: float = 0.02,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path) if path is not None else default_ledger_path()
        self._busy_timeout = busy_timeout
        # Far longer than a token refresh takes (the HTTP timeout defaults to 30 s), so a lease only expires when
        # its holder died without releasing it.
        self._lease_seconds = lease_seconds
        self._poll = poll_interval
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        # One connection per process, used from worker threads one call at a time.
        self._conn_lock = threading.Lock()

    @property
    def path(self) -> Path:
        """Where the ledger file lives."""
        return self._path

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Create the file ourselves so that it is owner-only from its first byte; SQLite gives its -wal and -shm
        # files the database file's permissions.
        os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        if self._path.stat().st_mode & 0o077:
            os.chmod(self._path, 0o600)  # a file left by an older version or another tool
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout)
        # Switching to WAL takes a brief exclusive lock, which the busy handler does not always cover when many
        # processes open a new file at once; it is persistent, so only the first of them needs to succeed.
        for attempt in range(50):
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    conn.close()
                    raise
                time.sleep(0.01 * (attempt + 1))
        # In WAL mode NORMAL survives a process crash; only a power loss could forget the last few hits.
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `work` in one BEGIN IMMEDIATE transaction on this process's connection (in a worker thread)."""
        with self._conn_lock:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        return await anyio.to_thread.run_sync(self._transaction, work)

    async def reserve(
        self, key: str, now: float, per_second: int, per_hour: int, hour_ceiling: int, *, window: float = 1.0
    ) -> float:
        """Record a hit at `now` and return 0.0 if both windows and any trip allow it; else the seconds to wait."""

        def work(conn: sqlite3.Connection) -> float:
            conn.execute("DELETE FROM hits WHERE key = ? AND at <= ?", (key, now - HOUR))
            recent, total = conn.execute(
                "SELECT COALESCE(SUM(at > ?), 0), COUNT(*) FROM hits WHERE key = ?", (now - window, key)
            ).fetchone()
            trip = conn.execute("SELECT until FROM trips WHERE key = ?", (key,)).fetchone()

            def nth_oldest(index: int) -> float:
                row = conn.execute(
                    "SELECT at FROM hits WHERE key = ? ORDER BY at LIMIT 1 OFFSET ?", (key, index)
                ).fetchone()
                return float(row[0])

            ceiling = min(per_hour, hour_ceiling)
            wait = _decide(now, per_second, ceiling, window, trip[0] if trip else 0.0, recent, total, nth_oldest)
            if wait == 0.0:
                conn.execute("INSERT INTO hits (key, at) VALUES (?, ?)", (key, now))
            return wait

        return await self._run(work)

    async def settle(self, key: str, reserved: float, done: float) -> None:
        """Move one hit stamped `reserved` to `done`."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE hits SET at = ? WHERE rowid = (SELECT rowid FROM hits WHERE key = ? AND at = ? LIMIT 1)",
                (max(done, reserved), key, reserved),
            )

        await self._run(work)

    async def trip(self, key: str, until: float, reason: str | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO trips (key, until, reason) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "until = excluded.until, reason = excluded.reason WHERE excluded.until > trips.until",
                (key, until, reason),
            )

        await self._run(work)

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any trip."""

        def work(conn: sqlite3.Connection) -> Usage:
            second, hour, oldest = conn.execute(
                "SELECT COALESCE(SUM(at > ?), 0), COUNT(*), MIN(at) FROM hits WHERE key = ? AND at > ?",
                (now - 1.0, key, now - HOUR),
            ).fetchone()
            trip = conn.execute("SELECT until, reason FROM trips WHERE key = ?", (key,)).fetchone()
            return Usage(
                used_last_second=second,
                used_last_hour=hour,
                oldest_in_hour=oldest,
                tripped_until=trip[0] if trip else 0.0,
                trip_reason=trip[1] if trip else None,
            )

        return await self._run(work)

    async def get_token(self, key: str) -> TokenRecord | None:
        """The token pair last stored for `key`, if any."""

        def work(conn: sqlite3.Connection) -> TokenRecord | None:
            row = conn.execute(
                "SELECT access_token, refresh_token, version, saved_at FROM tokens WHERE key = ?", (key,)
            ).fetchone()
            return TokenRecord(*row) if row else None

        return await self._run(work)

    async def put_token(self, key: str, record: TokenRecord) -> None:
        """Store the token pair for `key`, replacing the previous one."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO tokens (key, access_token, refresh_token, version, saved_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, record.access_token, record.refresh_token, record.version, record.saved_at),
            )

        await self._run(work)

    def refresh_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion for a token refresh among every task and process using this file (a lease row)."""
        return self._lease(f"refresh:{key}")

    @asynccontextmanager
    async def _lease(self, name: str) -> AsyncIterator[None]:
        owner = uuid.uuid4().hex

        def try_acquire(conn: sqlite3.Connection) -> bool:
            now = self._clock()
            row = conn.execute("SELECT expires FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] > now:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO leases (name, owner, expires) VALUES (?, ?, ?)",
                (name, owner, now + self._lease_seconds),
            )
            return True

        def release(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

        # Polling: the holder may be another process, which no in-process Event could hear from.
        while not await self._run(try_acquire):  # noqa: ASYNC110
            await anyio.sleep(self._poll)
        try:
            yield
        finally:
            # Released even when the holder is being cancelled, or the next refresh waits for the lease to expire.
            with anyio.CancelScope(shield=True):
                await self._run(release)

    async def aclose(self) -> None:
        """Close this process's connection."""

        def close() -> None:
            with self._conn_lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        await anyio.to_thread.run_sync(close)


# KEYS: hits (sorted set, score = time), trip (hash).
# ARGV: now, per_second, hour_ceiling, window, unique member, prune bound, window bound, least wait.
# One script, so the count and the insert are atomic across every replica that shares the Redis.
_RESERVE = """
local now = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local ceiling = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[6])
local trip = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
local blocked = trip > now
local wait = 0
if blocked then wait = trip - now end
local recent = redis.call('ZCOUNT', KEYS[1], ARGV[7], '+inf')
local total = redis.call('ZCARD', KEYS[1])
if recent >= per_second then
  blocked = true
  local oldest = redis.call('ZRANGE', KEYS[1], total - per_second, total - per_second, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + window - now)
end
if total >= ceiling then
  blocked = true
  local oldest = redis.call('ZRANGE', KEYS[1], total - ceiling, total - ceiling, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + 3600 - now)
end
if blocked then
  return string.format('%.17g', math.max(wait, tonumber(ARGV[8])))
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('EXPIRE', KEYS[1], 3700)
return '0'
"""

# KEYS: hits. ARGV: reserved score, new score. Moves one hit stamped `reserved` (any, if several share it).
_SETTLE = """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if found[1] then redis.call('ZADD', KEYS[1], ARGV[2], found[1]) end
return 0
"""

# KEYS: trip hash. ARGV: until, reason. Keeps the later trip; the hash is one small key per API key, left to stay.
_TRIP = """
local current = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if tonumber(ARGV[1]) > current then
  redis.call('HSET', KEYS[1], 'until', ARGV[1], 'reason', ARGV[2])
end
return 0
"""

# KEYS: lease. ARGV: owner token. Deletes the lease only if we still hold it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


if TYPE_CHECKING:
    import redis.asyncio as aioredis


class RedisLedger:
    """A ledger in Redis, shared by replicas on many hosts; keys are prefixed `sprinklr-mcp:`.

    Each key's data shares a hash tag, so the reserve script also runs on Redis Cluster. Hosts should keep their
    clocks in sync (NTP): `now` comes from the caller; the guard's 50 ms margin on the second absorbs small skew.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "sprinklr-mcp:",
        lease_seconds: float = 120.0,
        poll_interval: float = 0.02,
    ) -> None:
        # Imported here: a server without Redis does not pay for loading it at start-up.
        import redis.asyncio as aioredis

        self._redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._poll = poll_interval
        self._reserve = self._redis.register_script(_RESERVE)
        self._trip = self._redis.register_script(_TRIP)
        self._settle = self._redis.register_script(_SETTLE)
        self._release = self._redis.register_script(_RELEASE)

    def _key(self, key: str, kind: str) -> str:
        return f"{self._prefix}{{{key}}}:{kind}"

    async def reserve(
        self, key: str, now: float, per_second: int, per_hour: int, hour_ceiling: int, *, window: float = 1.0
    ) -> float:
        """Record a hit at `now` and return 0.0 if both windows and any trip allow it; else the seconds to wait."""
        # Bounds are computed here and passed as exact decimal strings: Lua prints numbers with 14 digits only.
        result = await self._reserve(
            keys=[self._key(key, "hits"), self._key(key, "trip")],
            args=[
                repr(now),
                per_second,
                min(per_hour, hour_ceiling),
                repr(window),
                f"{now!r}:{uuid.uuid4().hex}",
                repr(now - HOUR),
                f"({now - window!r}",
                repr(MIN_WAIT),
            ],
        )
        return float(result)

    async def settle(self, key: str, reserved: float, done: float) -> None:
        """Move one hit stamped `reserved` to `done`."""
        await self._settle(keys=[self._key(key, "hits")], args=[repr(reserved), repr(max(done, reserved))])

    async def trip(self, key: str, until: float, reason: str | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins)."""
        await self._trip(keys=[self._key(key, "trip")], args=[repr(until), reason or ""])

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any trip."""
        hits_key = self._key(key, "hits")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zcount(hits_key, f"({now - 1.0!r}", "+inf")
            pipe.zcount(hits_key, f"({now - HOUR!r}", "+inf")
            pipe.zrangebyscore(hits_key, f"({now - HOUR!r}", "+inf", start=0, num=1, withscores=True)
            pipe.hmget(self._key(key, "trip"), ["until", "reason"])
            second, hour, oldest, (until, reason) = await pipe.execute()
        return Usage(
            used_last_second=int(second),
            used_last_hour=int(hour),
            oldest_in_hour=float(oldest[0][1]) if oldest else None,
            tripped_until=float(until) if until else 0.0,
            trip_reason=reason.decode() if reason else None,
        )

    async def get_token(self, key: str) -> TokenRecord | None:
        """The token pair last stored for `key`, if any."""
        # Without decode_responses the client returns bytes; its annotations allow str as well.
        raw = cast("dict[bytes, bytes]", await self._redis.hgetall(self._key(key, "token")))
        if b"access_token" not in raw:
            return None
        refresh = raw.get(b"refresh_token", b"")
        return TokenRecord(
            access_token=raw[b"access_token"].decode(),
            refresh_token=refresh.decode() or None,
            version=int(raw.get(b"version", b"0")),
            saved_at=float(raw.get(b"saved_at", b"0")),
        )

    async def put_token(self, key: str, record: TokenRecord) -> None:
        """Store the token pair for `key`, replacing the previous one."""
        await self._redis.hset(
            self._key(key, "token"),
            mapping={
                "access_token": record.access_token,
                "refresh_token": record.refresh_token or "",
                "version": record.version,
                "saved_at": repr(record.saved_at),
            },
        )

    def refresh_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion for a token refresh among every replica (a SET NX PX lease, released only by its owner)."""
        return self._lease(self._key(key, "refresh-lock"))

    @asynccontextmanager
    async def _lease(self, name: str) -> AsyncIterator[None]:
        owner = uuid.uuid4().hex
        while not await self._redis.set(name, owner, nx=True, px=self._lease_ms):  # noqa: ASYNC110 - other replicas
            await anyio.sleep(self._poll)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await self._release(keys=[name], args=[owner])

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
