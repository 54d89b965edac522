"""Message tools: a case's conversation, one message, and message search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from server import call
from server.models import Message
from server.sprinklr import SprinklrClient
from tools.args import CaseId, CaseNumber, ChannelType, Detail, LastDays, Moment, Offset, PageSize, one_of, window
from tools.cases import _describe, read_case
from tools.common import Deps, deps, fit, now, result
from tools.views import MessageView, Page, message_view, without_repeats

MessageId = Annotated[str, Field(min_length=3, max_length=300, pattern=r"^[A-Za-z0-9_.:-]+$")]
# How much of one message's text a compact view shows.
MESSAGE_TEXT_LIMIT = 1500
SEARCH_TEXT_LIMIT = 400
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 92
SENTIMENTS = {"negative": -1, "neutral": 0, "positive": 1}


class Conversation(Page):
    """A page of a case's conversation."""

    case_number: int | None = None
    total_messages: int = Field(description="Messages in the conversation (so far, if it was cut).")
    order: Literal["oldest_first", "newest_first"]
    offset: int
    messages: list[MessageView]


async def get_case_messages(
    ctx: Context,
    case_number: CaseNumber | None = None,
    case_id: CaseId | None = None,
    order: Literal["oldest_first", "newest_first"] = "oldest_first",
    offset: Offset = 0,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
    detail: Detail = "summary",
) -> CallToolResult:
    """A case's conversation by case_number or case_id, in time order (newest_first for what was said last),
    paged. Repeated sender, channel and language are left out."""
    one_of(case_number=case_number, case_id=case_id)
    d = deps(ctx)
    case = await read_case(d.client, case_number, case_id)
    found = await d.client.case_message_ids(case.id)
    ordered = found.ids if order == "oldest_first" else list(reversed(found.ids))
    page_ids = ordered[offset : offset + limit]

    async def progress(done: int, total: int) -> None:
        await ctx.report_progress(done, total, f"read {done} of {total} messages")

    messages = await d.client.messages(page_ids, progress=progress)
    full = detail == "full"
    text_limit = d.text_limit if full else MESSAGE_TEXT_LIMIT
    views = [message_view(m, limit=text_limit, pii=d.pii, full=full) for m in messages]
    views = without_repeats(views[: fit(views, d.budget_chars - 500)])
    # Messages that could not be read still take their place, so the next offset moves past them.
    shown = page_ids[: _position_after(page_ids, [m.message_id for m in messages][: len(views)])]
    end = offset + len(shown)
    total = len(found.ids)
    view = Conversation(case_number=case.case_number, total_messages=total, order=order, offset=offset, messages=views)
    of = f"of {total}" if found.complete else f"of at least {total}"
    head = (
        f"Case {case.case_number}: messages {offset + 1}-{end} {of} ({order.replace('_', ' ')})."
        if views
        else f"Case {case.case_number}: no messages at offset {offset} (the conversation has {total})."
    )
    arguments: dict[str, Any] = {"case_number": case.case_number} if case.case_number else {"case_id": case.id}
    if order != "oldest_first":
        arguments["order"] = order
    more = end < total or not found.complete
    next_call = ("get_case_messages", {**arguments, "offset": end, "limit": limit}) if more and views else None
    return result(view, head, d, body="messages", next_call=next_call)


def _position_after(page_ids: list[str], shown_ids: list[str]) -> int:
    """How many of `page_ids` are covered once `shown_ids` (a prefix of the readable ones) are shown."""
    if not shown_ids:
        return 0
    return page_ids.index(shown_ids[-1]) + 1 if shown_ids[-1] in page_ids else len(page_ids)


async def get_message(message_id: MessageId, ctx: Context) -> CallToolResult:
    """One message by id (from get_case_messages or search_messages), with its whole text."""
    d = deps(ctx)
    message = await d.client.message(message_id)
    found = OneMessage(message=message_view(message, limit=d.text_limit, pii=d.pii, full=True))
    return result(found, "One message:", d, body="message")


class OneMessage(Page):
    """One message, whole."""

    message: MessageView


class MessageHit(Page):
    """Messages found by search, newest first."""

    results: list[MessageView]
    total: int | None = None
    offset: int = 0


async def search_messages(
    ctx: Context,
    text: Annotated[str | None, Field(min_length=2, max_length=200, description="Words the text contains")] = None,
    since: Moment | None = None,
    until: Moment | None = None,
    last_days: LastDays | None = None,
    channel: Annotated[list[ChannelType] | None, Field(min_length=1, max_length=10)] = None,
    sentiment: list[Literal["negative", "neutral", "positive"]] | None = None,
    side: Literal["brand", "customer"] | None = None,
    offset: Offset = 0,
    page_size: PageSize = 20,
) -> CallToolResult:
    """Search messages by text, channel, sentiment or side in a window of at most 92 days (default: the last 30),
    newest first. A hit shows its case number when Sprinklr links it to one; whole conversations:
    get_case_messages."""
    d = deps(ctx)
    moment = now()
    if since is None and until is None and last_days is None:
        last_days = DEFAULT_WINDOW_DAYS
    low, high = window(since, until, last_days, now=moment)
    high = high if high is not None else int(moment.timestamp() * 1000)
    low = low if low is not None else high - MAX_WINDOW_DAYS * 86_400_000
    if high - low > (MAX_WINDOW_DAYS + 1) * 86_400_000:
        raise ToolError(f"The window is too long: at most {MAX_WINDOW_DAYS} days. Narrow since/until.")
    filters: list[dict[str, Any]] = []
    if text:
        filters.append({"type": "SEARCH", "key": "content.text", "values": [text]})
    if channel:
        filters.append({"type": "IN", "key": "channelType", "values": list(channel)})
    if sentiment:
        filters.append({"type": "IN", "key": "enrichments.sentiment", "values": [SENTIMENTS[s] for s in sentiment]})
    if side:
        filters.append({"type": "EQUALS", "key": "brandPost", "values": [side == "brand"]})
    page, widened = await d.client.search_messages(filters, low, high, offset=offset, size=page_size)
    messages = _messages(page.rows)
    kept = [m for m in messages if m.when is None or low <= m.when.timestamp() * 1000 <= high]
    # Whole months come back newest first: pages of the month after the window are skipped here, not shown empty.
    while widened and not kept and page.rows and not _older_than(messages, low) and call.current().room(2):
        offset += len(page.rows)
        page, widened = await d.client.search_messages(filters, low, high, offset=offset, size=page_size)
        messages = _messages(page.rows)
        kept = [m for m in messages if m.when is None or low <= m.when.timestamp() * 1000 <= high]
    if widened and len(kept) < len(messages):
        call.current().note(
            f"Sprinklr takes whole months in this account's time filter: {len(messages) - len(kept)} messages "
            f"outside the window were left out of this page."
        )
    views = [message_view(m, limit=SEARCH_TEXT_LIMIT, pii=d.pii) for m in kept]
    links = await _case_links(d, kept)
    for item, message in zip(views, kept, strict=True):
        item.case_number = links.get(message.message_id)
    shown_views = views[: fit(views, d.budget_chars - 600)]
    shown = len(messages) if len(shown_views) == len(views) else messages.index(kept[len(shown_views) - 1]) + 1
    more = await d.client.keep_rest(page, shown)
    if widened and _older_than(messages[:shown], low):
        more = False  # newest first: what follows is older still, outside the window
    hits = MessageHit(results=shown_views, total=page.total, offset=offset)
    arguments = _arguments(text, since, until, last_days, channel, sentiment, side)
    if not shown_views:
        # Say what was searched for, so the model can tell the user what matched nothing and widen it.
        head = f"No messages match {_describe(arguments)}." if offset == 0 else f"No more messages at offset {offset}."
        return result(hits, head, d)
    total = f" of {page.total}" if page.total is not None else ""
    head = f"Messages {offset + 1}-{offset + shown}{total}, newest first."
    next_call = ("search_messages", {**arguments, "offset": offset + shown, "page_size": page_size}) if more else None
    return result(hits, head, d, body="results", next_call=next_call)


def _arguments(
    text: str | None, since: Any, until: Any, last_days: int | None, channel: Any, sentiment: Any, side: str | None
) -> dict[str, Any]:
    given = {
        "text": text,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "last_days": last_days,
        "channel": channel,
        "sentiment": sentiment,
        "side": side,
    }
    return {name: value for name, value in given.items() if value is not None}


def _older_than(messages: list[Message], low: int) -> bool:
    """Whether a page sorted newest first has reached messages from before the window: all after them are older.

    Received time (createdTime) is never before the channel's time, so it is the safe one to compare, whichever
    of the two the search is sorted by.
    """
    times = [m.created_time or m.when for m in messages]
    return any(t is not None and t.timestamp() * 1000 < low for t in times)


def _messages(rows: list[dict[str, Any]]) -> list[Message]:
    found = []
    for row in rows:
        try:
            message = Message.model_validate(row)
        except ValueError:
            continue
        if row.get("deleted") is not True:  # deleted messages are never shown (we do not rely on a deleted filter)
            found.append(message)
    return found


async def _case_links(d: Deps, messages: list[Message]) -> dict[str, int]:
    """Case numbers of these messages where Sprinklr links them: a case whose first message starts their thread.

    One CASE search on firstMessageId for the whole page, when the account accepts that (undocumented) key; else
    only the links known from cases read earlier.
    """
    client: SprinklrClient = d.client
    roots = {m.message_id: m.conversation_message_id or m.message_id for m in messages}
    known = await client.cases_by_first_message(list(set(roots.values())))
    return {mid: known[root] for mid, root in roots.items() if root in known}
