"""The quota guard: keeps every process sharing a Sprinklr API key inside 10 calls a second and 1,000 an hour.

Sprinklr answers over-limit calls with 403 "Developer Over Rate" and a key that keeps hitting it is an outage for a
support team, so the guard refuses early, with a clear message and a retry-after, rather than letting a call through.

When Sprinklr refuses anyway (another application using the key, a lower limit than ours), every process sharing
the ledger pauses:

- with Retry-After, for that long (at least 1 s, at most an hour);
- without it (Sprinklr's reference says to wait an hour, but not when the hour began), for 60 s, or until our own
  ledger's hour frees if it is full. When the pause ends, exactly one call in all the processes may go: the probe,
  holding a 20 s lease in the ledger; every other call is refused meanwhile. If Sprinklr refuses the probe too, the
  next pause doubles: 2, 4, 8, 16, 32 min, then 60 min at most. Any answer that is not a rate limit ends the streak
  and calls flow again; a probe that gets no answer at all (a timeout) frees the lease for another. Over an hour of
  refusals the key sees about six requests, at growing intervals, instead of one a minute or more. Refusals of
  calls already in flight when a pause begins do not lengthen it.
"""

from __future__ import annotations

import enum
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

import anyio
from pydantic import BaseModel, ConfigDict

from server.ledger import HOUR, PROBE_LEASE, Ledger

log = logging.getLogger(__name__)

# Requests leave this process a little before Sprinklr counts them, and network jitter can bunch them up on
# arrival; counting the per-second window as 1.1 s keeps ~100 ms of slack so that 10 sent never land as 11.
SECOND_WINDOW = 1.1
# After a rate-limit answer without Retry-After, while our own ledger shows the hour is not full (someone else is
# using the key too): pause for a minute before trying again, then for twice as long after each refused probe.
DEFAULT_TRIP_SECONDS = 60.0
# A trip is at least a second (Retry-After: 0 still means "slow down") and at most the hourly window.
MIN_TRIP_SECONDS = 1.0
MAX_TRIP_SECONDS = HOUR


class Priority(enum.Enum):
    """Interactive calls may use the whole hourly budget; bulk paging stops short of the reserve."""

    INTERACTIVE = "interactive"
    BULK = "bulk"


RefusalReason = Literal["per_second", "hourly", "bulk_reserve", "tripped"]


class QuotaExceeded(Exception):
    """A call could not be made within the allowed wait; the message says why and when to try again."""

    def __init__(self, message: str, *, retry_after: float, reason: RefusalReason) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.reason: RefusalReason = reason


class QuotaStatus(BaseModel):
    """How much of the key's budget is used, shared across every process using the same ledger."""

    model_config = ConfigDict(frozen=True)

    per_second: int
    per_hour: int
    bulk_reserve: int
    used_last_second: int
    used_last_hour: int
    remaining_this_hour: int
    frees_at: datetime | None
    tripped: bool
    tripped_until: datetime | None
    trip_reason: str | None
    pause_streak: int = 0
    ledger_location: str = ""
    degraded_reason: str | None = None


class QuotaGuard:
    """Charges each upstream call to the shared ledger, waiting briefly for a slot or refusing with a retry-after."""

    def __init__(
        self,
        ledger: Ledger,
        key: str,
        *,
        per_second: int = 10,
        per_hour: int = 1000,
        bulk_reserve: int = 100,
        max_wait: float = 2.0,
        probe_lease: float = PROBE_LEASE,
        in_flight: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if per_second < 1 or per_hour < 1:
            raise ValueError("per_second and per_hour must be at least 1")
        if not 0 <= bulk_reserve < per_hour:
            raise ValueError("bulk_reserve must be at least 0 and less than per_hour")
        if max_wait < 0:
            raise ValueError("max_wait must not be negative")
        self._ledger = ledger
        self._key = key
        self._per_second = per_second
        self._per_hour = per_hour
        self._bulk_reserve = bulk_reserve
        self._max_wait = max_wait
        self._probe_lease = probe_lease
        # How long a call counts as in flight (reaching Sprinklr at any moment) until settle(); 0 for callers that
        # never settle, whose calls then count from their reservation.
        self._in_flight = in_flight
        # Wall-clock time by default: the ledger is shared with other processes, which must agree on "now".
        self._clock = clock
        self._sleep = sleep

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> float:
        """Take one call's slot, sleeping at most max_wait in total; raise QuotaExceeded when it would take longer.

        Returns the slot's time stamp, to pass to settle() once the request has been answered.
        """
        ceiling = self._per_hour if priority is Priority.INTERACTIVE else self._per_hour - self._bulk_reserve
        start = self._clock()
        slept = 0.0
        while True:
            now = self._clock()
            wait = await self._ledger.reserve(
                self._key,
                now,
                self._per_second,
                self._per_hour,
                ceiling,
                window=SECOND_WINDOW,
                probe_lease=self._probe_lease,
                hold=self._in_flight,
            )
            if wait == 0.0:
                return now
            # Decided before sleeping, so a tool call never blocks past max_wait however long the wait would be.
            # Both the sleeps asked for and the time passed count: either alone can understate the other.
            if max(slept, now - start) + wait > self._max_wait:
                raise await self._refusal(now, wait, ceiling)
            await self._sleep(wait)
            # Another process may take the freed slot first; the loop then tries again within what is left.
            slept += wait

    async def _refusal(self, now: float, wait: float, ceiling: int) -> QuotaExceeded:
        usage = await self._ledger.usage(self._key, now)
        if usage.tripped_until > now:
            cause = usage.trip_reason or "Sprinklr reported that this API key is over its rate limit"
            message = f"{cause}; upstream calls for this API key are paused for {_seconds(usage.tripped_until - now)}."
            return QuotaExceeded(message, retry_after=wait, reason="tripped")
        if usage.streak and usage.probe_until > now:
            message = (
                f"Sprinklr refused calls for this API key as over its rate limit ({_times(usage.streak)} in a row); "
                f"one call is checking whether the limit has lifted, and the others wait for its answer: try again "
                f"in {_seconds(wait)}."
            )
            return QuotaExceeded(message, retry_after=wait, reason="tripped")
        if usage.used_last_hour >= self._per_hour:
            message = (
                f"Sprinklr's hourly budget for this API key is used up ({usage.used_last_hour:,}/{self._per_hour:,} "
                f"calls in the last hour); it frees up in {_seconds(wait)}."
            )
            return QuotaExceeded(message, retry_after=wait, reason="hourly")
        if usage.used_last_hour >= ceiling:
            message = (
                f"The hourly budget for bulk reads is used up ({usage.used_last_hour:,}/{self._per_hour:,} calls in "
                f"the last hour; the last {self._bulk_reserve:,} are kept for interactive calls); it frees up in "
                f"{_seconds(wait)}. Read fewer pages, or ask for specific items instead."
            )
            return QuotaExceeded(message, retry_after=wait, reason="bulk_reserve")
        message = (
            f"Sprinklr allows {self._per_second} calls a second for this API key and this and other sessions are "
            f"using them all; try again in {_seconds(wait)}."
        )
        return QuotaExceeded(message, retry_after=wait, reason="per_second")

    async def settle(self, stamp: float, answered: bool | None = None) -> None:
        """Re-stamp a slot at the time its answer came back, and say how it went.

        Sprinklr counts a call when it arrives, somewhere between our reservation and the answer. Counting it at the
        answer keeps the next second's calls from landing in the same second as a burst that left late (a busy
        event loop, new connections), which the reservation time alone cannot see. `answered`: True when Sprinklr
        answered with anything but a rate limit (after a pause, that ends the streak), False when no answer came
        (a probe's lease is freed), None when it was a rate-limit answer (the caller trips the guard).
        """
        await self._ledger.settle(self._key, stamp, self._clock(), answered=answered)

    async def trip(self, retry_after: float | None, reason: str) -> None:
        """After a rate-limit answer, stop every process's upstream calls: for Retry-After, or see the module."""
        now = self._clock()
        if retry_after is not None and math.isfinite(retry_after):
            pause = min(max(retry_after, MIN_TRIP_SECONDS), MAX_TRIP_SECONDS)
            await self._ledger.trip(self._key, now + pause, reason, now=now)
            log.warning("%s; pausing upstream calls for %.0f s (Retry-After)", reason, pause)
            return
        usage = await self._ledger.usage(self._key, now)
        at_least = 0.0
        if usage.used_last_hour >= self._per_hour and usage.oldest_in_hour is not None:
            # Our own count says the hour is full: wait at least until its oldest call leaves the window.
            at_least = min(usage.oldest_in_hour + HOUR - now, MAX_TRIP_SECONDS)
        until, streak = await self._ledger.pause(
            self._key, now, reason, first=DEFAULT_TRIP_SECONDS, longest=MAX_TRIP_SECONDS, at_least=at_least
        )
        log.warning(
            "%s; pausing upstream calls for %.0f s (pause %d in a row), then one probe call",
            reason,
            until - now,
            streak,
        )

    async def status(self) -> QuotaStatus:
        """The key's budget as every process sharing the ledger sees it."""
        now = self._clock()
        usage = await self._ledger.usage(self._key, now)
        tripped = usage.tripped_until > now
        return QuotaStatus(
            per_second=self._per_second,
            per_hour=self._per_hour,
            bulk_reserve=self._bulk_reserve,
            used_last_second=usage.used_last_second,
            used_last_hour=usage.used_last_hour,
            remaining_this_hour=max(0, self._per_hour - usage.used_last_hour),
            frees_at=_utc(usage.oldest_in_hour + HOUR) if usage.oldest_in_hour is not None else None,
            tripped=tripped,
            tripped_until=_utc(usage.tripped_until) if tripped else None,
            trip_reason=usage.trip_reason if tripped else None,
            pause_streak=usage.streak,
            ledger_location=self._ledger.location,
            degraded_reason=self._ledger.degraded(),
        )


def backoff_delay(attempt: int, base: float = 0.2, cap: float = 2.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): capped exponential backoff with full jitter."""
    # Full jitter spreads the retries of many clients that failed together; the exponent is bounded to stay a float.
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 64))
    return (rng or random).uniform(0.0, ceiling)


def _times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{math.ceil(value):,} s"


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
