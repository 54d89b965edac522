"""What every ledger shares: the Ledger protocol, its records, and the decisions made the same way in each store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Protocol

HOUR = 3600.0
# A refused reserve always reports some wait, so a caller that sleeps and retries never spins on float rounding.
MIN_WAIT = 1e-6
# How long the one probe call sent after a pause may take before another process may probe instead (its holder
# clears it as soon as the answer comes back; the lease only matters when the holder died).
PROBE_LEASE = 20.0


@dataclass(frozen=True, slots=True)
class Usage:
    """What the ledger holds for one key at a moment: hits in the last second and hour, and any pause."""

    used_last_second: int
    used_last_hour: int
    oldest_in_hour: float | None
    tripped_until: float
    trip_reason: str | None = None
    # Pauses in a row that ended without a call being answered (see Trip), and the probe's lease.
    streak: int = 0
    probe_until: float = 0.0


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An access/refresh token pair shared by every process using the key; the repr hides both tokens."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    version: int
    saved_at: float


@dataclass(frozen=True, slots=True)
class Trip:
    """A key's pause: refused until `until`; then, while `streak` > 0, one probe call at a time until one is answered.

    `streak` counts pauses in a row (after rate-limit answers without Retry-After) with no call answered in between;
    `probe_until` is the lease of the probe call in flight, if any.
    """

    until: float = 0.0
    reason: str | None = None
    streak: int = 0
    probe_until: float = 0.0


NO_TRIP = Trip()


class Ledger(Protocol):
    """The shared record of quota hits, pauses and tokens for hashed API keys."""

    @property
    def location(self) -> str:
        """Where the record lives, for people: a file path, a Redis server (no credentials), or this process."""
        ...

    def degraded(self) -> str | None:
        """None while the shared record answers; else one line saying why each process is counting on its own."""
        ...

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
        """Record a hit at `now` and return 0.0 if both windows and any pause allow it; else the seconds to wait.

        After a pause with a streak, only one hit at a time is allowed (the probe) until one is answered. With
        `hold`, the hit is in flight until settled (for `hold` seconds at most): it may reach Sprinklr at any moment
        and be stamped later, so the second's window counts it as if made now.
        """
        ...

    async def settle(self, key: str, reserved: float, done: float, *, answered: bool | None = None) -> None:
        """Move one hit stamped `reserved` to `done`, when its request has been answered (see QuotaGuard.settle).

        answered=True (Sprinklr answered, not with a rate limit) after a pause clears the streak; answered=False
        (no answer came) frees the probe for another caller; None leaves the pause alone.
        """
        ...

    async def trip(self, key: str, until: float, reason: str | None = None, *, now: float | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins).

        `until` is on the caller's clock; `now` (that clock's reading) lets a ledger with its own clock convert it.
        """
        ...

    async def pause(
        self, key: str, now: float, reason: str, *, first: float, longest: float, at_least: float = 0.0
    ) -> tuple[float, int]:
        """After a rate-limit answer without Retry-After: pause `key` and return (until, streak); see next_pause."""
        ...

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any pause (times on the caller's clock)."""
        ...

    async def restore(self, key: str, hits: Sequence[float], now: float) -> None:
        """Add hits this process made while the ledger could not record them (stamps on the caller's clock)."""
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


def decide(
    now: float,
    per_second: int,
    ceiling: int,
    window: float,
    trip: Trip,
    recent: int,
    nth_recent: Callable[[int], float],
    total: int,
    nth_oldest: Callable[[int], float],
) -> tuple[float, bool]:
    """(wait, probe): the wait before a hit at `now` is allowed (0.0 when it is), and whether that hit is the probe.

    `recent` counts the hits in the second's window: those after now - window, and those in flight (see
    Ledger.reserve), which count as made at `now` at the earliest; `nth_recent` looks them up in that order.
    `total` counts all hits after now - 1 h, and `nth_oldest` looks them up in order. Both include hits stamped
    later than `now` (another process's clock a little ahead): those count too. The look-ups are only made when
    a window is full.
    """
    paused = trip.until > now
    probing = trip.streak > 0 and not paused
    blocked = paused
    wait = trip.until - now if paused else 0.0
    if probing and trip.probe_until > now:
        # Another caller's probe is in flight: nobody else may find out the same thing the hard way.
        blocked = True
        wait = max(wait, trip.probe_until - now)
    if recent >= per_second:
        # The hit that must leave the window before one more fits: the (recent - per_second + 1)th oldest in it.
        blocked = True
        wait = max(wait, nth_recent(recent - per_second) + window - now)
    if total >= ceiling:
        blocked = True
        wait = max(wait, nth_oldest(total - ceiling) + HOUR - now)
    if blocked:
        return max(wait, MIN_WAIT), False
    return 0.0, probing


def next_pause(now: float, trip: Trip, reason: str, first: float, longest: float, at_least: float) -> Trip:
    """The pause after a rate-limit answer without Retry-After, given the key's current one.

    A pause already running is kept (lengthened to `at_least`) and its streak not raised: the refusals of calls that
    were in flight when it began say nothing new. Otherwise the streak goes up by one and the pause lasts
    first * 2^(streak - 1), at most `longest` (60 s, 2 min, 4 min, ... 1 h), and at least `at_least`. A streak whose
    last pause ended over an hour ago is forgotten.
    """
    if trip.until > now:
        return replace(trip, until=max(trip.until, now + at_least), streak=max(trip.streak, 1))
    streak = (trip.streak if now - trip.until <= HOUR else 0) + 1
    length = min(first * 2.0 ** min(streak - 1, 64), longest)
    return Trip(until=now + max(length, at_least), reason=reason, streak=streak, probe_until=0.0)


def after_answer(trip: Trip, done: float, answered: bool | None) -> Trip | None:
    """The key's pause after a call settled at `done` (None: unchanged); see Ledger.settle."""
    if answered is None or trip.streak == 0 or trip.until > done:
        # No streak, or a call that was in flight when the pause began: it says nothing about the pause.
        return None
    if answered:
        return replace(trip, streak=0, probe_until=0.0)
    return replace(trip, probe_until=0.0) if trip.probe_until else None


def ledger_faults() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the shared ledger failed (not our code): SQLite, the file system, and Redis."""
    faults: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency, but a ledger without it must still work
        return faults
    return (*faults, RedisError)
