"""The shared ledger, or while it fails, one in this process with the same limits: a ledger fault never fails a call.

A file that cannot be written, a Redis that is down or slow: FallbackLedger answers from a MemoryLedger instead,
which already knows this process's own recent hits and pauses (it mirrors every one the shared ledger grants), so
the switch lets nothing through that the per-process limits would not. While degraded it asks the shared ledger
again at most every `retry_every` seconds (one caller does; the others keep to the fallback), and when it answers,
hands it the hits, pause and token this process recorded meanwhile. It logs one warning when the quota degrades
and one when it recovers, and `degraded()` says why, in one line, for quota_status.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import TypeVar

import anyio

from server.ledger.base import PROBE_LEASE, Ledger, TokenRecord, Trip, Usage, ledger_faults
from server.ledger.memory import MemoryLedger

log = logging.getLogger(__name__)

_T = TypeVar("_T")
RETRY_EVERY = 5.0


class _Unanswered:
    """The shared ledger was not asked, or failed: use the fallback."""


UNANSWERED = _Unanswered()


def describe_fault(exc: BaseException, limit: int = 160) -> str:
    """A fault in one short line: its type and message, whitespace collapsed."""
    text = re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FallbackLedger:
    """The shared ledger while it answers; a MemoryLedger with the same limits while it fails (see the module)."""

    def __init__(
        self,
        primary: Ledger,
        fallback: MemoryLedger | None = None,
        *,
        retry_every: float = RETRY_EVERY,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback if fallback is not None else MemoryLedger()
        self._retry_every = retry_every
        # The callers' clock (the guard's), for the hits handed back on recovery; `monotonic` times the retries.
        self._clock = clock
        self._monotonic = monotonic
        self._faults = ledger_faults()
        self._reason: str | None = None
        self._since = 0.0
        self._retry_at = 0.0
        self._recovering = False
        # Keys whose token was stored only in the fallback, to hand to the shared ledger when it is back.
        self._unsaved_tokens: set[str] = set()

    @property
    def primary(self) -> Ledger:
        """The shared ledger this one stands in for."""
        return self._primary

    @property
    def location(self) -> str:
        """Where the shared ledger lives."""
        return self._primary.location

    def degraded(self) -> str | None:
        """None while the shared ledger answers; else why each process is counting on its own, in one line."""
        return self._reason

    def _ask(self) -> bool:
        """Whether this call goes to the shared ledger: always while it answers; while not, one call in a while."""
        if self._reason is None:
            return True
        now = self._monotonic()
        if self._recovering or now < self._retry_at:
            return False
        self._retry_at = now + self._retry_every
        return True

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = self._monotonic() + self._retry_every
        if self._reason is not None:
            log.debug("the quota ledger still fails: %s", describe_fault(exc))
            return
        self._since = self._clock()
        started = datetime.fromtimestamp(self._since, UTC).strftime("%H:%M:%SZ")
        self._reason = (
            f"the shared quota ledger ({self._primary.location}) failed at {started}: {describe_fault(exc)}; "
            f"until it answers again, this process keeps to the limits on its own"
        )
        log.warning("quota degraded: %s (retrying every %.0f s)", self._reason, self._retry_every)

    async def _recover(self) -> None:
        """Hand the shared ledger what it missed, then use it again (or stay degraded if that fails)."""
        self._recovering = True
        now = self._clock()
        try:
            for key in self._fallback.known_keys():
                hits = self._fallback.hits_since(key, self._since)
                if hits:
                    await self._primary.restore(key, hits, now)
                trip = self._fallback.trip_of(key)
                if trip.until > now:
                    await self._primary.trip(key, trip.until, trip.reason, now=now)
                token = self._fallback.token_of(key)
                if key in self._unsaved_tokens and token is not None:
                    await self._primary.put_token(key, token)
        except self._faults as exc:
            self._failed(exc)
            return
        finally:
            self._recovering = False
        self._unsaved_tokens.clear()
        self._reason = None
        log.warning(
            "quota recovered: the shared quota ledger (%s) answers again after %.0f s",
            self._primary.location,
            now - self._since,
        )

    async def _shared(self, call: Callable[[Ledger], Awaitable[_T]]) -> _T | _Unanswered:
        """The shared ledger's answer to `call`, or UNANSWERED if it was not asked or failed."""
        if not self._ask():
            return UNANSWERED
        try:
            result = await call(self._primary)
        except self._faults as exc:
            self._failed(exc)
            return UNANSWERED
        if self._reason is not None:
            await self._recover()
        return result

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
        """Reserve in the shared ledger (mirroring a granted hit here), or here alone while it fails."""
        wait = await self._shared(
            lambda ledger: ledger.reserve(
                key, now, per_second, per_hour, hour_ceiling, window=window, probe_lease=probe_lease, hold=hold
            )
        )
        if isinstance(wait, _Unanswered):
            return await self._fallback.reserve(
                key, now, per_second, per_hour, hour_ceiling, window=window, probe_lease=probe_lease, hold=hold
            )
        if wait == 0.0:
            self._fallback.record(key, now, hold)
        return wait

    async def settle(self, key: str, reserved: float, done: float, *, answered: bool | None = None) -> None:
        """Settle in both (the fallback mirrors the shared ledger)."""
        await self._shared(lambda ledger: ledger.settle(key, reserved, done, answered=answered))
        await self._fallback.settle(key, reserved, done, answered=answered)

    async def trip(self, key: str, until: float, reason: str | None = None, *, now: float | None = None) -> None:
        """Trip both."""
        await self._shared(lambda ledger: ledger.trip(key, until, reason, now=now))
        await self._fallback.trip(key, until, reason, now=now)

    async def pause(
        self, key: str, now: float, reason: str, *, first: float, longest: float, at_least: float = 0.0
    ) -> tuple[float, int]:
        """Pause in the shared ledger (the fallback adopts its decision), or here alone while it fails."""
        decided = await self._shared(
            lambda ledger: ledger.pause(key, now, reason, first=first, longest=longest, at_least=at_least)
        )
        if isinstance(decided, _Unanswered):
            return await self._fallback.pause(key, now, reason, first=first, longest=longest, at_least=at_least)
        until, streak = decided
        self._fallback.set_trip(key, Trip(until, reason, streak, 0.0))
        return decided

    async def usage(self, key: str, now: float) -> Usage:
        """The shared ledger's usage, or this process's while it fails."""
        usage = await self._shared(lambda ledger: ledger.usage(key, now))
        return await self._fallback.usage(key, now) if isinstance(usage, _Unanswered) else usage

    async def restore(self, key: str, hits: Sequence[float], now: float) -> None:
        """Add hits to both."""
        await self._shared(lambda ledger: ledger.restore(key, hits, now))
        await self._fallback.restore(key, hits, now)

    async def get_token(self, key: str) -> TokenRecord | None:
        """The shared token pair (kept here too), or the one kept here while the shared ledger fails."""
        record = await self._shared(lambda ledger: ledger.get_token(key))
        if isinstance(record, _Unanswered):
            return await self._fallback.get_token(key)
        if record is not None:
            await self._fallback.put_token(key, record)
        return record

    async def put_token(self, key: str, record: TokenRecord) -> None:
        """Store the token pair in both; one the shared ledger missed is handed to it when it is back."""
        stored = await self._shared(lambda ledger: ledger.put_token(key, record))
        await self._fallback.put_token(key, record)
        if isinstance(stored, _Unanswered):
            self._unsaved_tokens.add(key)

    def refresh_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """The shared ledger's refresh lock, or this process's while it fails."""
        return self._lease(key)

    @asynccontextmanager
    async def _lease(self, key: str) -> AsyncIterator[None]:
        held: AbstractAsyncContextManager[None] | None = None
        if self._ask():
            lease = self._primary.refresh_lock(key)
            try:
                await lease.__aenter__()
                held = lease
            except self._faults as exc:
                # Another replica may refresh at the same time: a risk only while the shared ledger is down.
                self._failed(exc)
        if held is None:
            async with self._fallback.refresh_lock(key):
                yield
            return
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await held.__aexit__(None, None, None)
                except self._faults as exc:
                    self._failed(exc)  # the lease expires on its own

    async def aclose(self) -> None:
        """Close the shared ledger (a failure to is only logged) and the fallback."""
        try:
            await self._primary.aclose()
        except self._faults as exc:
            log.debug("closing the quota ledger failed: %s", describe_fault(exc))
        await self._fallback.aclose()
