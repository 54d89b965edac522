"""A ledger in Redis, shared by replicas on many hosts, on the Redis server's clock.

Every window is counted on one clock, the Redis server's (`TIME` inside each script; Redis 7 replicates a
script's effects, not the script, so that is allowed): a replica whose own clock is an hour off can neither prune
the others' hits as "over an hour old" nor pause everyone for hours. Times that leave Redis (a pause's end, the
oldest hit) are converted to the caller's clock with the server time the same script read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import anyio

from server.ledger.base import HOUR, MIN_WAIT, PROBE_LEASE, TokenRecord, Usage

if TYPE_CHECKING:
    import redis.asyncio as aioredis

# Shared by every script: the clock (ARGV[1] is the caller's time, or '' for the server's) and exact number
# formatting (Lua would print 14 digits, losing the milliseconds of a Unix time).
_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end
local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.17g', x) end
"""

# KEYS: hits (sorted set, score = time), trip (hash: until, reason, streak, probe), held (sorted set of the hits in
# flight, score = held until). ARGV: now, per_second, hour ceiling, window, unique member, least wait, probe lease,
# hold. Returns {wait, now}. One script, so the count and the insert are atomic across every replica that shares the
# Redis. Mirrors decide().
_RESERVE = (
    _PRELUDE
    + """
local now = clock(ARGV[1])
local per_second = tonumber(ARGV[2])
local ceiling = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local hold = tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now - 3600))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now))
local held = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do held[member] = true end
local in_window = {}
local recent_hits = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now - window), '+inf', 'WITHSCORES')
for i = 1, #recent_hits, 2 do
  local at = tonumber(recent_hits[i + 1])
  if held[recent_hits[i]] then
    held[recent_hits[i]] = nil
    at = math.max(at, now)
  end
  in_window[#in_window + 1] = at
end
for member, _ in pairs(held) do
  if redis.call('ZSCORE', KEYS[1], member) then in_window[#in_window + 1] = now end
end
table.sort(in_window)
local trip = redis.call('HMGET', KEYS[2], 'until', 'streak', 'probe')
local trip_until = tonumber(trip[1] or '0')
local streak = tonumber(trip[2] or '0')
local probe = tonumber(trip[3] or '0')
local paused = trip_until > now
local probing = streak > 0 and not paused
local blocked = paused
local wait = 0
if paused then wait = trip_until - now end
if probing and probe > now then
  blocked = true
  wait = math.max(wait, probe - now)
end
local recent = #in_window
local total = redis.call('ZCARD', KEYS[1])
if recent >= per_second then
  blocked = true
  wait = math.max(wait, in_window[recent - per_second + 1] + window - now)
end
if total >= ceiling then
  blocked = true
  local oldest = redis.call('ZRANGE', KEYS[1], total - ceiling, total - ceiling, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + 3600 - now)
end
if blocked then
  return {fmt(math.max(wait, tonumber(ARGV[6]))), fmt(now)}
end
redis.call('ZADD', KEYS[1], fmt(now), ARGV[5])
redis.call('PEXPIRE', KEYS[1], 3700000)
if hold > 0 then
  redis.call('ZADD', KEYS[3], fmt(now + hold), ARGV[5])
  redis.call('PEXPIRE', KEYS[3], math.ceil(hold * 1000) + 1000)
end
if probing then redis.call('HSET', KEYS[2], 'probe', fmt(now + tonumber(ARGV[7]))) end
return {'0', fmt(now)}
"""
)

# KEYS: hits, trip, held. ARGV: now, member, answered ('1', '0' or ''). Re-stamps the hit, no longer in flight;
# mirrors after_answer().
_SETTLE = (
    _PRELUDE
    + """
local now = clock(ARGV[1])
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[3], ARGV[2]) end
local old = redis.call('ZSCORE', KEYS[1], ARGV[2])
if old and now > tonumber(old) then redis.call('ZADD', KEYS[1], 'XX', fmt(now), ARGV[2]) end
if ARGV[3] ~= '' then
  local trip = redis.call('HMGET', KEYS[2], 'until', 'streak', 'probe')
  if tonumber(trip[2] or '0') > 0 and tonumber(trip[1] or '0') <= now then
    if ARGV[3] == '1' then
      redis.call('HSET', KEYS[2], 'streak', '0', 'probe', '0')
    elseif tonumber(trip[3] or '0') > 0 then
      redis.call('HSET', KEYS[2], 'probe', '0')
    end
  end
end
return 0
"""
)

# KEYS: trip. ARGV: '1' to count from the server's clock (else from 0), seconds, reason. The later trip wins; the
# hash is one small key per API key, left to stay.
_TRIP = (
    _PRELUDE
    + """
local base = 0
if ARGV[1] == '1' then base = clock('') end
local target = base + tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if target > current then redis.call('HSET', KEYS[1], 'until', fmt(target), 'reason', ARGV[3]) end
return 0
"""
)

# KEYS: trip. ARGV: now, reason, first, longest, at least. Returns {until, streak, now}; mirrors next_pause().
_PAUSE = (
    _PRELUDE
    + """
local now = clock(ARGV[1])
local trip = redis.call('HMGET', KEYS[1], 'until', 'streak')
local trip_until = tonumber(trip[1] or '0')
local streak = tonumber(trip[2] or '0')
local at_least = tonumber(ARGV[5])
if trip_until > now then
  local target = math.max(trip_until, now + at_least)
  streak = math.max(streak, 1)
  redis.call('HSET', KEYS[1], 'until', fmt(target), 'streak', tostring(streak))
  return {fmt(target), tostring(streak), fmt(now)}
end
if now - trip_until > 3600 then streak = 0 end
streak = streak + 1
local length = math.min(tonumber(ARGV[3]) * 2 ^ math.min(streak - 1, 64), tonumber(ARGV[4]))
local target = now + math.max(length, at_least)
redis.call('HSET', KEYS[1], 'until', fmt(target), 'reason', ARGV[2], 'streak', tostring(streak), 'probe', '0')
return {fmt(target), tostring(streak), fmt(now)}
"""
)

# KEYS: hits, trip. ARGV: now. Returns {last second, last hour, oldest, until, reason, streak, probe, now}.
_USAGE = (
    _PRELUDE
    + """
local now = clock(ARGV[1])
local second = redis.call('ZCOUNT', KEYS[1], '(' .. fmt(now - 1), '+inf')
local hour = redis.call('ZCOUNT', KEYS[1], '(' .. fmt(now - 3600), '+inf')
local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(now - 3600), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local trip = redis.call('HMGET', KEYS[2], 'until', 'reason', 'streak', 'probe')
return {second, hour, first[2] or '', trip[1] or '0', trip[2] or '', trip[3] or '0', trip[4] or '0', fmt(now)}
"""
)

# KEYS: hits. ARGV: now, member prefix, then each hit's age in seconds. Adds the hits of the last hour.
_RESTORE = (
    _PRELUDE
    + """
local now = clock(ARGV[1])
for i = 3, #ARGV do
  local at = now - tonumber(ARGV[i])
  if at > now - 3600 then redis.call('ZADD', KEYS[1], fmt(at), ARGV[2] .. ':' .. i) end
end
redis.call('PEXPIRE', KEYS[1], 3700000)
return 0
"""
)

# KEYS: lease. ARGV: owner token. Deletes the lease only if we still hold it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Reservations waiting for settle(), by (key, stamp): far more than a process has in flight at once.
_MAX_PENDING = 10_000


REDIS_URL_EXAMPLE = "redis://[:password@]host:6379/0, rediss://... (TLS) or unix:///path/to/redis.sock"


def check_redis_url(url: str) -> str:
    """The URL if Redis can be reached by it in principle; else ValueError saying what is wrong, in one line.

    The message never repeats the URL: it may hold a password.
    """
    parts = urlsplit(url)
    problem = None
    if parts.scheme not in ("redis", "rediss", "unix"):
        problem = "it must start with redis://, rediss:// or unix://"
    elif parts.scheme == "unix":
        if not parts.path:
            problem = "unix:// needs the socket's path"
    else:
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname:
            problem = "it names no host"
        elif port is not None and not 0 < port < 65536:
            problem = "its port must be a number from 1 to 65535"
        elif not parts.path.strip("/").isdigit() and parts.path.strip("/"):
            problem = "the database after the host must be a number, e.g. /0"
    if problem is not None:
        raise ValueError(f"{problem}; expected {REDIS_URL_EXAMPLE}")
    return url


def redis_location(url: str) -> str:
    """A Redis URL without credentials or options, to show people: redis://host:port/db."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path or '/0'}"


class RedisLedger:
    """A ledger in Redis, shared by replicas on many hosts; keys are prefixed `sprinklr-mcp:`.

    Each key's data shares a hash tag, so the scripts also run on Redis Cluster. With server_clock=False the
    windows use the `now` callers pass instead of the server's clock (tests with a fake clock use that).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "sprinklr-mcp:",
        lease_seconds: float = 120.0,
        poll_interval: float = 0.02,
        server_clock: bool = True,
        timeout: float = 2.0,
    ) -> None:
        # Imported here: a server without Redis does not pay for loading it at start-up.
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # One quick retry (a pooled connection Redis closed); not the client's default of ten with backoff, which
        # would hold a tool call for seconds while Redis is down instead of letting the fallback take over.
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 1)
        )
        self._location = redis_location(url)
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._poll = poll_interval
        self._server_clock = server_clock
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._trip = self._redis.register_script(_TRIP)
        self._pause = self._redis.register_script(_PAUSE)
        self._usage = self._redis.register_script(_USAGE)
        self._restore = self._redis.register_script(_RESTORE)
        self._release = self._redis.register_script(_RELEASE)
        # The member each reservation added, to re-stamp it in settle() (callers name a hit by their own stamp).
        self._pending: dict[tuple[str, float], list[str]] = {}

    @property
    def location(self) -> str:
        """The Redis server, without credentials."""
        return self._location

    def degraded(self) -> None:
        """Never said here: a failing Redis raises, and FallbackLedger reports it."""
        return None

    def _key(self, key: str, kind: str) -> str:
        return f"{self._prefix}{{{key}}}:{kind}"

    def _now(self, now: float) -> str:
        # Bounds go to Lua as exact decimal strings; '' asks the script for the server's clock.
        return "" if self._server_clock else repr(now)

    async def reserve(
        self,
        key: str,
        now: float,
        per_second: int,
        per_hour: int,
        hour_ceiling: int,
        *,
        window: float = 1.0,
        probe_lease: float = PROBE_LEASE,
        hold: float = 0.0,
    ) -> float:
        """Record a hit and return 0.0 if both windows and any pause allow it; else the seconds to wait."""
        member = uuid.uuid4().hex
        wait, _ = await self._reserve(
            keys=[self._key(key, "hits"), self._key(key, "trip"), self._key(key, "held")],
            args=[
                self._now(now),
                per_second,
                min(per_hour, hour_ceiling),
                repr(window),
                member,
                repr(MIN_WAIT),
                repr(probe_lease),
                repr(hold),
            ],
        )
        if float(wait) == 0.0:
            if len(self._pending) >= _MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending.setdefault((key, now), []).append(member)
            return 0.0
        return float(wait)

    async def settle(self, key: str, reserved: float, done: float, *, answered: bool | None = None) -> None:
        """Re-stamp the hit reserved at `reserved` (the caller's stamp) to now; see Ledger.settle."""
        members = self._pending.get((key, reserved))
        member = members.pop(0) if members else ""
        if members == []:
            del self._pending[(key, reserved)]
        flag = "" if answered is None else "1" if answered else "0"
        if not member and not flag:
            return
        await self._settle(
            keys=[self._key(key, "hits"), self._key(key, "trip"), self._key(key, "held")],
            args=[self._now(max(done, reserved)), member, flag],
        )

    async def trip(self, key: str, until: float, reason: str | None = None, *, now: float | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins)."""
        if self._server_clock:
            args = ["1", repr(until - (now if now is not None else time.time())), reason or ""]
        else:
            args = ["0", repr(until), reason or ""]
        await self._trip(keys=[self._key(key, "trip")], args=args)

    async def pause(
        self, key: str, now: float, reason: str, *, first: float, longest: float, at_least: float = 0.0
    ) -> tuple[float, int]:
        """Pause `key` after a rate-limit answer without Retry-After; return (until, streak) on the caller's clock."""
        until, streak, server_now = await self._pause(
            keys=[self._key(key, "trip")],
            args=[self._now(now), reason, repr(first), repr(longest), repr(at_least)],
        )
        return float(until) - float(server_now) + now, int(streak)

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any pause, on the caller's clock."""
        second, hour, oldest, until, reason, streak, probe, server_now = await self._usage(
            keys=[self._key(key, "hits"), self._key(key, "trip")], args=[self._now(now)]
        )
        offset = now - float(server_now)

        def local(value: bytes | int) -> float:
            moment = float(value)
            return moment + offset if moment else 0.0

        return Usage(
            used_last_second=int(second),
            used_last_hour=int(hour),
            oldest_in_hour=float(oldest) + offset if oldest else None,
            tripped_until=local(until),
            trip_reason=reason.decode() if reason else None,
            streak=int(streak),
            probe_until=local(probe),
        )

    async def restore(self, key: str, hits: Sequence[float], now: float) -> None:
        """Add hits this process made while Redis could not record them."""
        recent = [repr(now - at) for at in hits if at > now - HOUR]
        if recent:
            await self._restore(keys=[self._key(key, "hits")], args=[self._now(now), uuid.uuid4().hex, *recent])

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
