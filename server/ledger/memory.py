"""A ledger in this process only: for tests, a single server process, and the fallback when the shared one fails."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio

from server.ledger.base import (
    HOUR,
    NO_TRIP,
    PROBE_LEASE,
    TokenRecord,
    Trip,
    Usage,
    after_answer,
    decide,
    next_pause,
)


class MemoryLedger:
    """A ledger in this process only: for tests and for a single server process."""

    def __init__(self) -> None:
        self._hits: dict[str, list[float]] = {}
        # Hits in flight: (stamp, held until), per key.
        self._held: dict[str, list[tuple[float, float]]] = {}
        self._trips: dict[str, Trip] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._leases: dict[str, anyio.Semaphore] = {}
        self._lock = anyio.Lock()

    @property
    def location(self) -> str:
        """This process only."""
        return "this process only"

    def degraded(self) -> None:
        """Never: there is nothing to fail."""
        return None

    def _pruned(self, key: str, now: float) -> list[float]:
        hits = self._hits.setdefault(key, [])
        del hits[: bisect.bisect_right(hits, now - HOUR)]
        return hits

    def _in_window(self, key: str, hits: list[float], now: float, window: float) -> list[float]:
        """The hits counting in the second's window, sorted: in-flight ones at `now` at the earliest."""
        recent = hits[bisect.bisect_right(hits, now - window) :]
        held = self._held[key] = [entry for entry in self._held.get(key, []) if entry[1] > now]
        if not held:
            return recent
        in_flight = Counter(at for at, _ in held)
        settled = []
        for at in recent:
            if in_flight[at]:
                in_flight[at] -= 1  # counted below
            else:
                settled.append(at)
        return sorted(settled + [max(at, now) for at, _ in held])

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
        """Record a hit at `now` and return 0.0 if both windows and any pause allow it; else the seconds to wait."""
        async with self._lock:
            hits = self._pruned(key, now)
            trip = self._trips.get(key, NO_TRIP)
            in_window = self._in_window(key, hits, now, window)
            ceiling = min(per_hour, hour_ceiling)
            recent, nth_recent = len(in_window), in_window.__getitem__
            wait, probe = decide(
                now, per_second, ceiling, window, trip, recent, nth_recent, len(hits), hits.__getitem__
            )
            if wait == 0.0:
                self.record(key, now, hold)
                if probe:
                    self._trips[key] = Trip(trip.until, trip.reason, trip.streak, now + probe_lease)
            return wait

    def record(self, key: str, at: float, hold: float = 0.0) -> None:
        """Count a hit, in flight for up to `hold` seconds (also one another ledger granted, to mirror it)."""
        # Sorted insert, not append: callers' clocks need not agree on order.
        bisect.insort(self._pruned(key, at), at)
        if hold > 0:
            self._held.setdefault(key, []).append((at, at + hold))

    def hits_since(self, key: str, since: float) -> list[float]:
        """The hits stamped at `since` or later, oldest first."""
        hits = self._hits.get(key, [])
        return hits[bisect.bisect_left(hits, since) :]

    def known_keys(self) -> list[str]:
        """Every key with hits, a pause or a token here."""
        return sorted({*self._hits, *self._trips, *self._tokens})

    def trip_of(self, key: str) -> Trip:
        """The key's pause as this ledger knows it."""
        return self._trips.get(key, NO_TRIP)

    def set_trip(self, key: str, trip: Trip) -> None:
        """Adopt the pause another ledger decided on."""
        self._trips[key] = trip

    def token_of(self, key: str) -> TokenRecord | None:
        """The token pair stored here, without waiting."""
        return self._tokens.get(key)

    async def settle(self, key: str, reserved: float, done: float, *, answered: bool | None = None) -> None:
        """Move one hit stamped `reserved` to `done`; after a pause, an answer ends the streak (see Ledger)."""
        async with self._lock:
            hits = self._hits.get(key, [])
            index = bisect.bisect_left(hits, reserved)
            if index < len(hits) and hits[index] == reserved and done > reserved:
                del hits[index]
                bisect.insort(hits, done)
            held = self._held.get(key, [])
            for index, (at, _) in enumerate(held):
                if at == reserved:
                    del held[index]
                    break
            changed = after_answer(self._trips.get(key, NO_TRIP), done, answered)
            if changed is not None:
                self._trips[key] = changed

    async def trip(self, key: str, until: float, reason: str | None = None, *, now: float | None = None) -> None:
        """Refuse every reserve for `key` until `until` (the later of the existing and the new trip wins)."""
        async with self._lock:
            current = self._trips.get(key, NO_TRIP)
            if until > current.until:
                self._trips[key] = Trip(until, reason, current.streak, current.probe_until)

    async def pause(
        self, key: str, now: float, reason: str, *, first: float, longest: float, at_least: float = 0.0
    ) -> tuple[float, int]:
        """Pause `key` after a rate-limit answer without Retry-After; return (until, streak)."""
        async with self._lock:
            trip = next_pause(now, self._trips.get(key, NO_TRIP), reason, first, longest, at_least)
            self._trips[key] = trip
            return trip.until, trip.streak

    async def usage(self, key: str, now: float) -> Usage:
        """Count the hits in the last second and hour and report any pause."""
        async with self._lock:
            hits = self._pruned(key, now)
            trip = self._trips.get(key, NO_TRIP)
            return Usage(
                used_last_second=len(hits) - bisect.bisect_right(hits, now - 1.0),
                used_last_hour=len(hits),
                oldest_in_hour=hits[0] if hits else None,
                tripped_until=trip.until,
                trip_reason=trip.reason,
                streak=trip.streak,
                probe_until=trip.probe_until,
            )

    async def restore(self, key: str, hits: Sequence[float], now: float) -> None:
        """Add hits made elsewhere."""
        async with self._lock:
            for at in hits:
                self.record(key, at)

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
