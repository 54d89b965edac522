"""Sparkcentral archive tools: search archived conversations, read one, and report response times and CSAT.

Registered only when an archive is configured. The archive is local (imported export CSVs), so these tools cost no
Sprinklr call; everything in it came from Sparkcentral and is upstream text: ids and identifiers through ident(),
code-like values through word(), names and free text fenced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field, WithJsonSchema

from server.archive.db import ArchiveUnavailable
from server.archive.rollup import ReportBy, ReportMetric
from server.archive.store import (
    ArchiveQueryError,
    ArchiveStore,
    ContactMatch,
    ConversationRow,
    ConversationSearch,
    MessageRow,
)
from tools.args import Moment, Offset, Word, window
from tools.common import Deps, deps, fit, now, result
from tools.text import Fenced, Line, Text, fenced, ident, ours, word
from tools.views import Page, View, duration

T = TypeVar("T")
MESSAGE_TEXT_LIMIT = 1500
BEST_EFFORT = (
    "Matching across Sprinklr and Sparkcentral is best-effort: by email, phone digits or handle, never by name alone."
)
NO_CONTENT = "No text in this export (Sparkcentral's scheduled exports leave Twitter content out)."
# Constraints enforced here, published as plain strings: the tool list is read in every conversation.
_STRING = WithJsonSchema({"type": "string"})
Contact = Annotated[str, Field(min_length=2, max_length=120, pattern=r"^[\w@+.()' -]+$"), _STRING]
ConversationId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.:-]+$"), _STRING]
Name = Annotated[Word, _STRING]
Words = Annotated[str, Field(min_length=1, max_length=200), _STRING]
# An ISO date or datetime (UTC), as everywhere: "since" and "until" need no description of their own.
Day = Annotated[Moment, _STRING]


def _iso(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _span(seconds: float | None) -> str | None:
    return None if seconds is None else duration(seconds)


class ContactHit(View):
    """An archived contact found by an identifier: which one matched, and how."""

    contact_id: Text
    matched_by: Literal["email", "phone", "handle", "name", "profile_id"]
    value: Text | None = None
    via: Text | None = Field(default=None, description="Where the identifier was seen: primary, attribute, ...")
    medium: Text | None = None
    conversations: int
    first: str | None = None
    last: str | None = None


class ArchivedRow(View):
    """An archived conversation in a list."""

    id: Text
    created: str | None = None
    status: Text | None = None
    medium: Text | None = None
    channel: Text | None = None
    customer: Text | None = None
    topics: list[Text] | None = None
    agent: Text | None = None
    csat: int | None = None
    messages: int | None = None


class ArchiveSearch(Page):
    """Archived Sparkcentral conversations, newest first."""

    total: int
    offset: int
    contacts: list[ContactHit] | None = Field(default=None, description="Contacts the contact filter matched.")
    conversations: list[ArchivedRow]


class ArchivedMessage(View):
    """One archived message."""

    time: str | None = None
    side: Literal["customer", "agent", "unknown"]
    agent: Text | None = None
    tags: list[Text] | None = None
    text: Fenced | None = None
    note: Line | None = None
    deleted: bool | None = None


class ArchivedDetail(ArchivedRow):
    """An archived conversation's row as the export had it."""

    contact_id: Text | None = None
    secondary: Text | None = None
    team: Text | None = None
    resolved: str | None = None
    resolved_by: Text | None = None
    reason: Text | None = None
    comment: Fenced | None = None
    first_response: str | None = None
    resolution: str | None = None
    language: Text | None = None
    csat_status: Text | None = None
    csat_answer: Fenced | None = None
    only_messages: bool | None = Field(default=None, description="True when no conversation export had its row.")


class ArchivedConversation(Page):
    """An archived conversation and a page of its messages, oldest first."""

    conversation: ArchivedDetail
    total_messages: int
    offset: int
    messages: list[ArchivedMessage]


class ReportLine(View):
    """One group of a report."""

    key: Text
    count: int
    average: str | None = None
    lowest: str | None = None
    highest: str | None = None
    satisfied: str | None = Field(default=None, description="Share of CSAT 4-5.")


class ArchiveReport(Page):
    """A Sparkcentral metric by team, agent, topic or week."""

    by: ReportBy
    metric: ReportMetric
    groups: int
    count: int
    rows: list[ReportLine]


class ArchiveHistory(View):
    """A customer's archived Sparkcentral conversations, found by email, phone or handle (for lookup_profile)."""

    contacts: list[ContactHit]
    conversations: list[ArchivedRow]
    total: int
    note: Line


def _store(d: Deps) -> ArchiveStore:
    if d.app.archive is None:
        raise ToolError("No Sparkcentral archive is configured: set SPARKCENTRAL_EXPORT_DIR or SPARKCENTRAL_SFTP_URL.")
    return d.app.archive


async def _ask(work: Callable[[], T]) -> T:
    """Run one archive query in a worker thread (SQLite is synchronous), its errors worded for the model."""
    try:
        return await anyio.to_thread.run_sync(work)
    except ArchiveUnavailable as exc:
        raise ToolError(f"The Sparkcentral archive is not ready: {exc}.") from None
    except ArchiveQueryError as exc:
        raise ToolError(str(exc)) from None


def contact_hit(match: ContactMatch, *, pii: bool) -> ContactHit:
    """The view of a matched contact."""
    return ContactHit(
        contact_id=ident(match.contact_id, 100) or ours("?"),
        matched_by=match.matched_by,
        value=ident(match.matched_value, 120, pii=pii),
        via=word(match.source, 60),
        medium=word(match.medium),
        conversations=match.conversations,
        first=_iso(match.first_ms),
        last=_iso(match.last_ms),
    )


def archived_row(row: ConversationRow, *, pii: bool) -> ArchivedRow:
    """The one-row view of an archived conversation."""
    return ArchivedRow(**_row_fields(row, pii=pii))


def _row_fields(row: ConversationRow, *, pii: bool) -> dict[str, Any]:
    counts = [n for n in (row.inbound, row.outbound) if n is not None]
    return {
        "id": ident(row.id, 100) or ours("?"),
        "created": _iso(row.created_ms),
        "status": word(row.status),
        "medium": word(row.medium),
        "channel": ident(row.channel, 80) if row.channel != row.medium else None,
        "customer": ident(row.contact_primary, 120, pii=pii),
        "topics": [w for w in (word(t) for t in row.topics[:10]) if w] or None,
        "agent": fenced(row.agent, 80),
        "csat": row.csat,
        "messages": sum(counts) if counts else None,
    }


def _detail(row: ConversationRow, *, pii: bool, limit: int) -> ArchivedDetail:
    return ArchivedDetail(
        **_row_fields(row, pii=pii),
        contact_id=ident(row.contact_id, 100),
        secondary=ident(row.contact_secondary, 120, pii=pii),
        team=fenced(row.team, 80),
        resolved=_iso(row.resolved_ms),
        resolved_by=word(row.resolved_by),
        reason=word(row.resolve_reason),
        comment=fenced(row.resolve_comment, 500, pii=pii),
        first_response=_span(row.first_response_s),
        resolution=_span(row.resolution_s),
        language=word(row.language),
        csat_status=word(row.csat_status),
        csat_answer=fenced(row.csat_answer, limit, pii=pii),
        only_messages=True if row.from_messages_only else None,
    )


def _message(message: MessageRow, *, pii: bool, limit: int) -> ArchivedMessage:
    direction = (message.direction or "").lower()
    side: Literal["customer", "agent", "unknown"] = (
        "customer" if direction == "inbound" else "agent" if direction == "outbound" else "unknown"
    )
    return ArchivedMessage(
        time=_iso(message.created_ms),
        side=side,
        agent=fenced(message.agent, 80),
        tags=[w for w in (word(t) for t in message.tags[:10]) if w] or None,
        text=fenced(message.content, limit, pii=pii),
        note=ours(NO_CONTENT) if message.content is None else None,
        deleted=True if message.deleted_ms else None,
    )


def _csat_range(csat: str | None) -> tuple[int | None, int | None]:
    if csat is None:
        return None, None
    low, _, high = csat.partition("-")
    bounds = sorted((int(low), int(high or low)))
    return bounds[0], bounds[1]


async def search_sparkcentral(
    ctx: Context,
    contact: Annotated[Contact | None, Field(description="Email, phone, @handle or contact id")] = None,
    text: Annotated[Words | None, Field(description="Words in messages")] = None,
    since: Day | None = None,
    until: Day | None = None,
    status: Name | None = None,
    channel: Name | None = None,
    topic: Name | None = None,
    tag: Name | None = None,
    agent: Annotated[Name | None, Field(description="Agent or team")] = None,
    reason: Annotated[Name | None, Field(description="Resolve reason")] = None,
    csat: Annotated[str | None, Field(pattern=r"^[1-5](-[1-5])?$", description="e.g. 1-2")] = None,
    offset: Offset = 0,
    page_size: Annotated[int, Field(ge=1, le=50)] = 10,
) -> CallToolResult:
    """Search archived Sparkcentral conversations (before Sprinklr), newest first, with the total."""
    d = deps(ctx)
    store = _store(d)
    low, high = window(since, until, None, now=now())
    csat_min, csat_max = _csat_range(csat)
    query = ConversationSearch(
        contact=contact,
        since_ms=low,
        until_ms=high,
        status=status,
        channel=channel,
        topic=topic,
        tag=tag,
        person=agent,
        resolve_reason=reason,
        csat_min=csat_min,
        csat_max=csat_max,
        text=text,
    )
    found = await _ask(lambda: store.search(query, offset=offset, limit=page_size))
    rows = [archived_row(r, pii=d.pii) for r in found.page.items]
    rows = rows[: fit(rows, d.budget_chars - 1200)]
    contacts = [contact_hit(m, pii=d.pii) for m in found.contacts[:5]]
    view = ArchiveSearch(total=found.page.total, offset=offset, contacts=contacts or None, conversations=rows)
    end = offset + len(rows)
    if rows:
        head = f"Archived Sparkcentral conversations {offset + 1}-{end} of {found.page.total}, newest first."
    elif contact and not found.contacts:
        head = "No archived contact matches that identifier (email, phone, handle or contact id)."
    else:
        head = f"No archived conversations match (total {found.page.total}, offset {offset})."
    if found.contacts:
        head += f" Contact matched by {found.contacts[0].matched_by}. {BEST_EFFORT}"
    arguments = {
        name: value
        for name, value in (
            ("contact", contact), ("text", text), ("since", _arg(since)), ("until", _arg(until)), ("status", status),
            ("channel", channel), ("topic", topic), ("tag", tag), ("agent", agent), ("reason", reason),
            ("csat", csat),
        )
        if value is not None
    }  # fmt: skip
    next_call = None
    if rows and end < found.page.total:
        next_call = ("search_sparkcentral", {**arguments, "offset": end, "page_size": page_size})
    return result(view, head, d, body="conversations", next_call=next_call)


def _arg(moment: date | None) -> str | None:
    """A date or datetime argument as the model gave it, for the next call (datetime is a date subclass)."""
    return None if moment is None else moment.isoformat()


async def get_sparkcentral_conversation(
    ctx: Context,
    conversation_id: ConversationId,
    offset: Offset = 0,
    limit: Annotated[int, Field(ge=1, le=100)] = 30,
) -> CallToolResult:
    """An archived Sparkcentral conversation (id from search_sparkcentral): status, topics, CSAT, times, agent;
    messages oldest first."""
    d = deps(ctx)
    store = _store(d)
    found = await _ask(lambda: store.conversation(conversation_id, offset=offset, limit=limit))
    if found is None:
        raise ToolError(f"No archived conversation {conversation_id[:100]}; find ids with search_sparkcentral.")
    detail = _detail(found.conversation, pii=d.pii, limit=1000)
    messages = [_message(m, pii=d.pii, limit=MESSAGE_TEXT_LIMIT) for m in found.messages.items]
    room = d.budget_chars - len(detail.model_dump_json(exclude_none=True)) - 800
    messages = messages[: fit(messages, room)]
    total = found.messages.total
    view = ArchivedConversation(conversation=detail, total_messages=total, offset=offset, messages=messages)
    end = offset + len(messages)
    head = (
        f"Archived conversation {conversation_id}: messages {offset + 1}-{end} of {total}, oldest first."
        if messages
        else f"Archived conversation {conversation_id}: no messages at offset {offset} (it has {total})."
    )
    next_call = None
    if messages and end < total:
        next_call = (
            "get_sparkcentral_conversation",
            {"conversation_id": conversation_id, "offset": end, "limit": limit},
        )
    return result(view, head, d, next_call=next_call)


async def get_sparkcentral_report(
    ctx: Context,
    by: ReportBy,
    metric: ReportMetric = "response_time",
    since: Day | None = None,
    until: Day | None = None,
) -> CallToolResult:
    """Sparkcentral response times, resolution times or CSAT by team, agent, topic or week (whole weeks)."""
    d = deps(ctx)
    store = _store(d)
    low, high = window(since, until, None, now=now())
    report = await _ask(lambda: store.report(by, metric, since_ms=low, until_ms=high, limit=60))
    seconds = metric != "csat"
    rows = [
        ReportLine(
            key=ours(r.key) if by == "week" else word(r.key, 80) or ours("?"),
            count=r.count,
            average=_span(r.average) if seconds else _score(r.average),
            lowest=_span(r.minimum) if seconds else _score(r.minimum),
            highest=_span(r.maximum) if seconds else _score(r.maximum),
            satisfied=None if r.satisfied_share is None else f"{r.satisfied_share:.0%}",
        )
        for r in report.rows
    ]
    rows = rows[: fit(rows, d.budget_chars - 600)]
    view = ArchiveReport(by=by, metric=metric, groups=report.groups, count=report.count, rows=rows)
    shown = f"{len(rows)} of {report.groups} groups" if len(rows) < report.groups else f"{report.groups} groups"
    head = f"Sparkcentral {metric.replace('_', ' ')} by {by}: {report.count} values in {shown}."
    if len(rows) < report.groups:
        head += " Narrow since/until to see the rest."
    return result(view, head, d, body="rows")


def _score(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f} / 5"


async def archived_history(
    d: Deps, *, email: str | None = None, phone: str | None = None, handle: str | None = None, limit: int = 5
) -> ArchiveHistory | None:
    """For lookup_profile: a customer's archived conversations by email, phone or handle (None without an archive
    or a match). Says which identifier matched; matching across systems is best-effort."""
    store = d.app.archive
    if store is None or not (email or phone or handle):
        return None
    matches = await _ask(lambda: store.find_contacts(email=email, phone=phone, handle=handle))
    if not matches:
        return None
    page = await _ask(lambda: store.history(matches, limit=limit))
    return ArchiveHistory(
        contacts=[contact_hit(m, pii=d.pii) for m in matches[:5]],
        conversations=[archived_row(r, pii=d.pii) for r in page.items],
        total=page.total,
        note=ours(BEST_EFFORT + " Read them with get_sparkcentral_conversation."),
    )
