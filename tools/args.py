"""Argument types shared by the tools: constraints live in the types, descriptions are short product copy."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BeforeValidator, Field, WithJsonSchema

CaseNumber = Annotated[int, Field(gt=0, le=2**53, description="e.g. 48213")]
CaseId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Internal case id")]
Detail = Annotated[Literal["summary", "full"], Field(description="full: every field, whole texts")]
Offset = Annotated[int, Field(ge=0, le=100_000, description="From the previous page's Next line")]
PageSize = Annotated[int, Field(ge=1, le=100)]
# Values of picklist-like fields: words, spaces and common punctuation; never quotes, braces or control characters.
# Published as a plain list of strings: the pattern is enforced here, and a refusal says what is allowed.
Word = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[\w][\w .,&'()/+:#@-]*$")]
Words = Annotated[
    list[Word], Field(min_length=1, max_length=20), WithJsonSchema({"type": "array", "items": {"type": "string"}})
]
ChannelType = Literal[
    "FACEBOOK", "TWITTER", "LINKEDIN", "INSTAGRAM", "YOUTUBE", "TIKTOK", "WORKFLOW", "SINA_WEIBO", "VK", "GOOGLE_PLUS"
]
ChannelId = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[\w.@+:-]+$"), WithJsonSchema({"type": "string"})
]
LastDays = Annotated[int, Field(ge=1, le=730, description="Instead of dates: the last N days")]
DAY_MS = 24 * 3600 * 1000
# Far enough ahead for any real date, near enough that epoch milliseconds never overflow.
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _day_or_moment(value: Any) -> Any:
    """A bare ISO date ('2026-06-30') stays a date, so that as an upper bound it can mean the whole day."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return date.fromisoformat(value.strip())
    return value


Moment = Annotated[
    datetime | date,
    BeforeValidator(_day_or_moment),
    WithJsonSchema({"type": "string", "description": "ISO date or datetime (UTC)"}),
]


def epoch(moment: datetime | date, *, end_of_day: bool = False) -> int:
    """A date or datetime (naive means UTC) as epoch ms; a bare date as an upper bound means its last millisecond."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        if end_of_day:
            moment += timedelta(days=1) - timedelta(milliseconds=1)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not datetime(1970, 1, 2, tzinfo=UTC) <= moment <= LATEST:
        raise ToolError(f"{moment.date().isoformat()} is out of range: give a date between 1970 and 8999.")
    return int(moment.timestamp() * 1000)


def window(
    after: datetime | date | None, before: datetime | date | None, last_days: int | None, *, now: datetime
) -> tuple[int | None, int | None]:
    """A time range in epoch ms from dates or `last_days`; refuses a mix of both and an empty range."""
    if last_days is not None:
        if after is not None or before is not None:
            raise ToolError("Give last_days or dates, not both.")
        return int((now - timedelta(days=last_days)).timestamp() * 1000), None
    low = epoch(after) if after is not None else None
    high = epoch(before, end_of_day=True) if before is not None else None
    if low is not None and high is not None and low > high:
        raise ToolError("The time range is empty: the start is after the end.")
    return low, high


def one_of(**given: object) -> str:
    """The name of the one argument given among these; a clear error when none or several are."""
    present = [name for name, value in given.items() if value is not None]
    if len(present) != 1:
        names = ", ".join(given)
        got = f"; got {', '.join(present)}" if present else ""
        raise ToolError(f"Give exactly one of {names}{got}.")
    return present[0]
