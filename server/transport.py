"""The quota transport: every request that leaves, retries and token refreshes included, is charged to the quota.

It also owns retries: 5xx answers, timeouts, broken connections and truncated bodies are retried with capped,
jittered exponential backoff (each attempt charged again); a rate-limit answer trips the shared guard so that no
process sharing the key sends anything until the window passes; other 4xx answers are returned at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

import anyio
import httpx2 as httpx

from server.errors import RateLimited, is_over_rate, parse_retry_after
from server.quota import Priority, QuotaExceeded, QuotaGuard, backoff_delay

log = logging.getLogger(__name__)

PRIORITY_EXTENSION = "sprinklr_priority"
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class QuotaTransport(httpx.AsyncBaseTransport):
    """Acquire quota before each attempt, retry transient failures, and trip the guard on a rate-limit answer."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        quota: QuotaGuard,
        *,
        attempts: int = 3,
        backoff_base: float = 0.2,
        backoff_cap: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._inner = inner
        self._quota = quota
        self._attempts = attempts
        self._base = backoff_base
        self._cap = backoff_cap
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send the request within the quota, retrying transient failures; the body is read here so it can be."""
        priority = request.extensions.get(PRIORITY_EXTENSION, Priority.INTERACTIVE)
        for attempt in range(1, self._attempts + 1):
            try:
                stamp = await self._quota.acquire(priority)
            except QuotaExceeded as exc:
                raise RateLimited(str(exc), exc.retry_after) from None
            last = attempt == self._attempts
            failure: httpx.TransportError | None = None
            # How it went, for the pause policy: unknown until an answer (or its absence) is certain.
            answered: bool | None = False
            try:
                response = await self._inner.handle_async_request(request)
                # Reading here turns a truncated body into a retryable transport error instead of a parse failure.
                await response.aread()
                answered = None if is_over_rate(response) else True
            except httpx.TransportError as exc:
                failure = exc
            finally:
                # Also when the call is cancelled: the request may well have reached Sprinklr.
                with anyio.CancelScope(shield=True):
                    await self._quota.settle(stamp, answered)
            if failure is not None:
                if last:
                    raise failure
                log.info("transient %s on %s %s, retrying", type(failure).__name__, request.method, request.url.path)
                await self._sleep(backoff_delay(attempt, self._base, self._cap, self._rng))
                continue
            if is_over_rate(response):
                retry_after = parse_retry_after(response)
                await self._quota.trip(retry_after, "Sprinklr answered 'Developer Over Rate'")
                return response
            if response.status_code in RETRYABLE_STATUS and not last:
                await response.aclose()
                log.info(
                    "Sprinklr answered %s on %s %s, retrying", response.status_code, request.method, request.url.path
                )
                await self._sleep(backoff_delay(attempt, self._base, self._cap, self._rng))
                continue
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
