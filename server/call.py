"""One tool call's account of its upstream work: a hard cap on requests, when its data was read, what went missing.

A tool call runs inside `call_scope(cap)`; the client charges every request it sends to the scope, so no single
call can spend the hour's budget (a conversation whose pages never end stops at the cap, and says so). Paging code
asks `room()` before it starts another request, so it can stop cleanly and keep what it has.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from server.errors import SprinklrError

# Enough for the longest documented read: a 1,000-message conversation in pages of 50 ids (20) plus its messages in
# bulk-fetch batches of 100 (10), plus the case and name look-ups.
DEFAULT_CAP = 40


class CallCapReached(SprinklrError):
    """This tool call used all the upstream requests one call may make."""


@dataclass
class CallScope:
    """Requests spent and left, the oldest data read, and notes on what Sprinklr could not give."""

    cap: int = DEFAULT_CAP
    spent: int = 0
    oldest_read: float | None = None
    notes: list[str] = field(default_factory=list)

    def spend(self, what: str) -> None:
        """Charge one request, or raise CallCapReached when the cap is used up."""
        if self.spent >= self.cap:
            raise CallCapReached(
                f"Stopped before reading {what}: one tool call may make at most {self.cap} Sprinklr requests, and "
                f"this one used them all. What was read so far is cached; call again to continue."
            )
        self.spent += 1

    def room(self, needed: int = 1) -> bool:
        """Whether `needed` more requests fit under the cap."""
        return self.spent + needed <= self.cap

    def read(self, at: float) -> None:
        """Note that data shown in this call was read from Sprinklr at `at` (unix time)."""
        if self.oldest_read is None or at < self.oldest_read:
            self.oldest_read = at

    def note(self, text: str) -> None:
        """Something the answer must say (e.g. messages Sprinklr could not return), once."""
        if text not in self.notes:
            self.notes.append(text)


_current: ContextVar[CallScope | None] = ContextVar("sprinklr_call_scope", default=None)


def current() -> CallScope:
    """The scope of the running tool call; outside one (CLI check, tests of the client) an uncapped scope."""
    scope = _current.get()
    if scope is None:
        scope = CallScope(cap=1_000_000)
        _current.set(scope)
    return scope


@contextmanager
def call_scope(cap: int = DEFAULT_CAP) -> Iterator[CallScope]:
    """Run a tool call in a fresh scope with this request cap."""
    scope = CallScope(cap=cap)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def now() -> float:
    """The wall clock, as the cache records when things were read."""
    return time.time()
