"""Case tools: read one case, and search or count cases."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from server import call
from server.catalog import FIELD_ROLES, Role, Values, normalise, resolve_ids
from server.errors import BadRequest, SprinklrError
from server.models import Case
from server.sprinklr import SprinklrClient, digest
from tools.args import CaseId, CaseNumber, ChannelId, Detail, LastDays, Moment, Offset, PageSize, Words, one_of, window
from tools.common import Deps, deps, fit, kept_view, now, result
from tools.text import Code, code, label
from tools.views import CaseRow, CaseView, Page, case_row, case_view, conversation_facts
from tools.views import activity as summarise

Sort = Literal["newest", "oldest", "modified"]
CountBy = Literal["status", "priority", "type", "brand", "language", "country", "queue", "assignee"]
# Records whose text is longer than this are not kept with their views (tools/common.py: kept_view).
KEPT_TEXT_LIMIT = 8_000
# A count asks Sprinklr once per value: the most frequent values of a many-valued field are counted, not all.
MAX_GROUPS = 12


async def get_case(
    ctx: Context,
    case_number: CaseNumber | None = None,
    case_id: CaseId | None = None,
    detail: Detail = "summary",
    activity: Annotated[bool, Field(description="Also who is waiting on whom (reads the conversation)")] = False,
    fresh: Annotated[bool, Field(description="Skip the cache")] = False,
) -> CallToolResult:
    """One case by case_number or case_id: subject, description, status, priority, type, times, assignee,
    queues, customer, custom fields, and (cached or with activity=true) who is waiting on whom."""
    one_of(case_number=case_number, case_id=case_id)
    d = deps(ctx)
    case = await read_case(d.client, case_number, case_id, fresh=fresh)
    full = detail == "full"
    names = await d.names()
    limit = d.text_limit if full else max(500, d.budget_chars // 4)

    def build() -> CaseView:
        return case_view(case, names, d.settings.custom_fields, full=full, limit=limit, pii=d.pii)

    # Only small records are kept with their view: a large one would hold its whole text outside the cache bound.
    small = len(case.description or "") + len(case.subject or "") <= KEPT_TEXT_LIMIT
    view = kept_view(case, names, ("case", full, limit, d.pii), build) if small else build()
    facts = await conversation_facts_of(d.client, case, read=activity)
    extra = {"activity": summarise(facts, now())} if facts is not None else None
    # Only code-shaped values go in the head line: anything else is upstream text, shown fenced in the body.
    codes = [str(v) for v in (view.status, view.priority, view.type) if isinstance(v, Code)]
    head = " · ".join([f"Case {case.case_number}", *codes])
    conversation = ("get_case_messages", {"case_number": case.case_number, "order": "newest_first"})
    return result(view, head, d, next_call=conversation, next_label="Conversation", extra=extra)


async def read_case(client: SprinklrClient, number: int | None, case_id: str | None, *, fresh: bool = False) -> Case:
    """The case by its number or id."""
    if number is not None:
        return await client.case_by_number(number, fresh=fresh)
    assert case_id is not None
    return await client.case_by_id(case_id, fresh=fresh)


async def conversation_facts_of(client: SprinklrClient, case: Case, *, read: bool) -> dict[str, Any] | None:
    """Who spoke when in a case's conversation: read it when asked; else from what is cached (no call).

    The facts are kept beside the message ids (one small entry), so a case shown again does not parse its whole
    conversation again.
    """
    ids = (await client.case_message_ids(case.id)).ids if read else await client.peek_message_ids(case.id)
    if ids is None:
        return None
    kept = await client.recall("facts", case.id, len(ids), ids[-1] if ids else "")
    if isinstance(kept, dict):
        return kept
    messages = await client.messages(ids) if read else await client.peek_messages(ids)
    if messages is None:
        return None
    facts = conversation_facts(messages)
    if facts is not None:
        await client.keep("facts", (case.id, len(ids), ids[-1] if ids else ""), facts, 400, 6 * 3600.0)
    return facts


class CaseList(Page):
    """A page of cases, or counts of cases by a field."""

    results: list[CaseRow] | None = None
    counts: dict[str, int] | None = Field(default=None, description="Cases per value of count_by.")
    total: int | None = Field(default=None, description="Cases matching in all.")
    offset: int | None = None


async def search_cases(
    ctx: Context,
    status: Words | None = None,
    priority: Words | None = None,
    type: Words | None = None,
    brand: Words | None = None,
    language: Words | None = None,
    country: Words | None = None,
    queue: Words | None = None,
    assignee: Annotated[Words | None, Field(description="Agent names or ids")] = None,
    customer_id: Annotated[ChannelId | None, Field(description="Customer's channel id")] = None,
    created_after: Moment | None = None,
    created_before: Moment | None = None,
    last_days: LastDays | None = None,
    sort: Sort = "newest",
    count_by: Annotated[CountBy | None, Field(description="Count per value instead of listing")] = None,
    offset: Offset = 0,
    page_size: PageSize = 20,
) -> CallToolResult:
    """Find or count cases (never deleted ones). Filters take any of the given values, matched case-insensitively;
    list_values shows them. count_by costs one Sprinklr call per value. Cases cannot be searched by text: use
    search_messages."""
    d = deps(ctx)
    low, high = window(created_after, created_before, last_days, now=now())
    given: dict[Role, list[str] | None] = {
        "status": status,
        "priority": priority,
        "type": type,
        "brand": brand,
        "language": language,
        "country": country,
        "queue": queue,
        "assignee": assignee,
    }
    values = await d.catalog.values() if any(given.values()) or count_by else Values()
    filters, unknown = await _filters(d, given, values, customer_id, low, high)
    arguments: dict[str, Any] = {
        k: v
        for k, v in dict[str, Any](
            {str(role): value for role, value in given.items()},
            customer_id=customer_id,
            created_after=_iso(created_after),
            created_before=_iso(created_before),
            last_days=last_days,
        ).items()
        if v is not None
    }
    if sort != "newest":
        arguments["sort"] = sort
    if count_by is not None:
        return await _counts(d, count_by, filters, values, arguments)
    sorts = [
        {"key": "modifiedTime" if sort == "modified" else "createdTime", "order": "ASC" if sort == "oldest" else "DESC"}
    ]
    page = await _find(d, filters, sorts, offset, page_size)
    names = await d.names()
    rows = [case_row(c, names, d.settings.custom_fields, pii=d.pii) for c in _cases(page.rows)]
    shown = fit(rows[:page_size], d.budget_chars - 600)
    more = await page.keep(shown)
    view = CaseList(results=rows[:shown], total=page.total, offset=offset)
    described = _describe(arguments)
    if not shown:
        head = f"No cases match {described}." if offset == 0 else f"No more cases at offset {offset}."
        head += "".join(f" {msg}" for msg in _unknown_hints(unknown, values))
        return result(view, head, d)
    total = f" of {page.total}" if page.total is not None else ""
    head = f"Cases {offset + 1}-{offset + shown}{total} matching {described}."
    next_call = ("search_cases", {**arguments, "offset": offset + shown, "page_size": page_size}) if more else None
    return result(view, head, d, body="results", next_call=next_call)


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


def _describe(arguments: dict[str, Any]) -> str:
    if not arguments:
        return "all cases"
    parts = []
    for name, value in arguments.items():
        shown = "/".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{name}={shown}")
    return ", ".join(parts)


def _unknown_hints(unknown: dict[Role, list[str]], values: Values) -> list[str]:
    hints = []
    for role, missing in unknown.items():
        # Known values are upstream data: only code-shaped ones are listed here (list_values shows them all).
        known = [str(value) for value in map(code, values.of(role)[:15]) if value is not None]
        listed = ", ".join(known) if known else "see list_values"
        hints.append(f"{role} {', '.join(repr(m) for m in missing)} matches no known value (known: {listed}).")
    return hints


async def _filters(
    d: Deps,
    given: dict[Role, list[str] | None],
    values: Values,
    customer_id: str | None,
    low: int | None,
    high: int | None,
) -> tuple[list[dict[str, Any]], dict[Role, list[str]]]:
    """The CASE filters for these arguments, with values in the account's spelling, and the values that matched
    nothing known (sent as given: the known values come from a sample)."""
    filters: list[dict[str, Any]] = [{"type": "EQUALS", "key": "deleted", "values": [False]}]
    unknown: dict[Role, list[str]] = {}
    fields = d.settings.custom_fields
    if low is not None:
        filters.append({"type": "GTE", "key": "createdTime", "values": [low]})
    if high is not None:
        filters.append({"type": "LTE", "key": "createdTime", "values": [high]})
    top_level: dict[Role, str] = {"status": "status", "priority": "priority", "type": "caseType"}
    in_custom = (
        d.catalog.status_in_custom_fields(await d.client.case_sample())
        if any(given.get(r) for r in top_level)
        else True
    )
    for role, raw in given.items():
        if not raw:
            continue
        if role in ("queue", "assignee"):
            labels = d.catalog.queue_names if role == "queue" else await d.catalog.user_names()
            match = resolve_ids(raw, labels)
            key = "workflow.queues.queueId" if role == "queue" else "workflow.assignment.assigneeId"
            filters.append({"type": "IN", "key": key, "values": match.send})
        else:
            match = normalise(role, raw, values.of(role))
            top = top_level[role] if role in top_level and not in_custom else None
            filters.append(
                {
                    "type": "IN",
                    "key": top or f"workflow.customProperties.{fields[FIELD_ROLES[role]]}",
                    "values": match.send,
                }
            )
        if match.unknown:
            unknown[role] = match.unknown
    if customer_id:
        filters.append({"type": "EQUALS", "key": "contact.channelId", "values": [customer_id]})
    return filters, unknown


@dataclass
class Found:
    """Rows of a case search from an offset, the total when known, and how to keep the place for the next page."""

    rows: list[dict[str, Any]]
    total: int | None
    keep: Callable[[int], Awaitable[bool]]


class Refused(Exception):
    """Sprinklr refused a filter key the reference does not list (an undocumented key we tried)."""


# Filter keys the reference does not list for CASE: tried once, filtered here if Sprinklr refuses them.
EXTENDED_KEYS = frozenset({"status", "priority", "caseType", "workflow.assignment.assigneeId"})
# How many cases one call reads to filter them here, and how long a scan's place is kept.
SCAN_PAGE = 100
SCAN_LIMIT = 500
SCAN_LIFETIME = 270.0


async def _find(d: Deps, filters: list[dict[str, Any]], sorts: list[dict[str, str]], offset: int, size: int) -> Found:
    """Cases matching the filters: by Sprinklr's search, or, for keys it refuses, by filtering its results here."""
    extended = [f for f in filters if f["key"] in EXTENDED_KEYS]
    if not extended or d.client.findings.extended_keys is not False:
        try:
            page = await _search(d, filters, sorts, offset, size)
        except Refused:
            pass
        else:
            return Found(page.rows, page.total, partial(d.client.keep_rest, page))
    return await _scan(d, [f for f in filters if f not in extended], extended, sorts, offset, size)


async def _scan(
    d: Deps,
    server: list[dict[str, Any]],
    local: list[dict[str, Any]],
    sorts: list[dict[str, str]],
    offset: int,
    size: int,
) -> Found:
    """Read the newest cases matching the filters Sprinklr takes and keep those matching the rest, SCAN_LIMIT per
    call; where the scan got to is kept, so the next page continues it."""
    scan_id = digest([server, local, sorts])
    state = await d.client.recall("scan", scan_id) or {"pos": 0, "rows": [], "done": False}
    read_now = 0
    scope = call.current()
    while len(state["rows"]) <= offset + size and not state["done"] and read_now < SCAN_LIMIT and scope.room():
        page = await _search(d, server, sorts, state["pos"], SCAN_PAGE)
        state["rows"].extend(row for row in page.rows if all(_matches(row, f) for f in local))
        state["pos"] += len(page.rows)
        read_now += len(page.rows)
        state["done"] = not page.rows or not await d.client.keep_rest(page, len(page.rows))
    await d.client.keep("scan", (scan_id,), state, 1500 * len(state["rows"]) + 200, SCAN_LIFETIME)
    if local:
        keys = ", ".join(sorted({_KEY_NAMES.get(f["key"], f["key"]) for f in local}))
        scope.note(
            f"This account's case search does not filter by {keys}: those were matched here among the "
            f"{state['pos']} newest cases matching the other filters" + ("." if state["done"] else " read so far.")
        )
    rows = state["rows"]

    async def keep(shown: int) -> bool:
        return offset + shown < len(rows) or not state["done"]

    return Found(rows[offset : offset + size], len(rows) if state["done"] else None, keep)


_KEY_NAMES = {"workflow.assignment.assigneeId": "assignee", "caseType": "type"}


def _matches(row: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Whether a case (as Sprinklr sent it) satisfies one IN filter, comparing case-insensitively."""
    node: Any = row
    for part in condition["key"].split("."):
        node = node.get(part) if isinstance(node, dict) else None
    wanted = {str(value).casefold() for value in condition["values"]}
    return node is not None and str(node).casefold() in wanted


async def _search(d: Deps, filters: list[dict[str, Any]], sorts: list[dict[str, str]], offset: int, size: int) -> Any:
    """One page of a CASE search; a refused sort falls back to created time, a refused filter key raises Refused."""
    query = {"filter": {"type": "AND", "filters": filters}, "sorts": sorts}
    try:
        return await d.client.search("CASE", query, offset=offset, size=size)
    except BadRequest as exc:
        refused = exc.detail.lower()
        if "sort" in refused and sorts[0]["key"] != "createdTime":
            d.client.findings_store.update(other_sorts=False)
            call.current().note("Sprinklr would not sort by modified time here; sorted by created time instead.")
            return await d.client.search(
                "CASE", {**query, "sorts": [{"key": "createdTime", "order": "DESC"}]}, offset=offset, size=size
            )
        if any(key.lower() in refused for key in EXTENDED_KEYS):
            d.client.findings_store.update(extended_keys=False)
            raise Refused(exc.detail) from None
        raise


def _cases(rows: list[dict[str, Any]]) -> list[Case]:
    found = []
    for row in rows:
        try:
            found.append(Case.model_validate(row))
        except ValueError:
            continue
    return found


async def _counts(
    d: Deps, by: CountBy, filters: list[dict[str, Any]], values: Values, arguments: dict[str, Any]
) -> CallToolResult:
    """Cases per value of a field: one search per value, with the smallest page, counting by totalCount.

    Spellings of one value (a language or country as code and as name) are one group: each would find the same
    cases, so counting both would count those cases twice.
    """
    groups: dict[tuple[str, ...], tuple[str, list[dict[str, Any]]]] = {}
    for value in values.of(by):
        group, _ = await _filters(d, {by: [value]}, values, None, None, None)
        groups.setdefault(tuple(sorted(map(str, group[-1]["values"]))), (value, group[1:]))
    if not groups:
        raise ToolError(f"No values of {by} are known for this account yet; try list_values.")
    counted = list(groups.values())[:MAX_GROUPS]
    counts: dict[str, int | None] = {}  # None: Sprinklr gave no total for that value
    failures: list[Exception] = []
    limiter = anyio.CapacityLimiter(4)

    async def count(value: str, group: list[dict[str, Any]]) -> None:
        try:
            async with limiter:
                page = await _find(d, filters + group, [{"key": "createdTime", "order": "DESC"}], 0, 1)
        except (SprinklrError, Refused) as exc:
            failures.append(exc)
            return
        counts[value] = page.total

    spent = call.current().spent
    group_key = counted[0][1][-1]["key"]
    keys = {group_key} | {f["key"] for f in filters}
    if keys & EXTENDED_KEYS:
        if d.client.findings.extended_keys is None:
            # One small search finds out whether the account takes those keys, before a search per value does.
            with contextlib.suppress(Refused):
                await _search(d, filters + counted[0][1], [{"key": "createdTime", "order": "DESC"}], 0, 1)
        if d.client.findings.extended_keys is False:
            # A count by a key Sprinklr refuses would come from a partial scan, with no total: count here instead.
            return await _count_here(d, by, filters, arguments, group_refused=group_key in EXTENDED_KEYS)
    async with anyio.create_task_group() as tasks:
        for value, group in counted:
            if value not in counts:
                tasks.start_soon(count, value, group)
    if failures:
        raise failures[0]
    if any(counts.get(value) is None for value, _ in counted):
        # Sprinklr gave no total (a key it refused, found out just now): count here instead.
        return await _count_here(d, by, filters, arguments, group_refused=group_key in EXTENDED_KEYS)
    labels = await d.catalog.user_names() if by == "assignee" else {}
    # Values are upstream data used as keys: label() keeps each to one safe line.
    ordered = {str(label(labels.get(value) or value) or "_"): counts.get(value) or 0 for value, _ in counted}
    total = sum(ordered.values())
    view = CaseList(counts=ordered, total=total)
    others = len(groups) - len(counted)
    cost = call.current().spent - spent
    head = f"Cases by {by} matching {_describe(arguments)} ({len(counted)} values, {cost} Sprinklr calls)."
    if others > 0:
        head += f" {others} rarer values not counted."
    return result(view, head, d)


async def _count_here(
    d: Deps, by: CountBy, filters: list[dict[str, Any]], arguments: dict[str, Any], *, group_refused: bool
) -> CallToolResult:
    """Counts for a field Sprinklr cannot filter by here: the newest matching cases (up to a scan) tallied here."""
    server = [f for f in filters if f["key"] not in EXTENDED_KEYS]
    local = [f for f in filters if f["key"] in EXTENDED_KEYS]
    found = await _scan(d, server, local, [{"key": "createdTime", "order": "DESC"}], 0, SCAN_LIMIT)
    names = await d.names()
    tally: Counter[str] = Counter()
    for case in _cases(found.rows):
        value: Any
        if by in ("language", "country"):
            props = case.workflow.custom_properties if case.workflow else {}
            value = next(iter(props.get(d.settings.custom_fields[by.capitalize()], [])), None)
        else:
            value = getattr(case_row(case, names, d.settings.custom_fields, pii=d.pii), by)
        tally[str(label(value) or "_") if value is not None else "(none)"] += 1
    view = CaseList(counts=dict(tally.most_common()), total=sum(tally.values()))
    matched = sum(tally.values())
    scope = f"all {matched} matching cases" if found.total is not None else f"the newest {matched} matching cases"
    why = f" (this account's case search does not filter by {by})" if group_refused else ""
    head = f"Cases by {by} matching {_describe(arguments)}, counted here{why} among {scope}."
    return result(view, head, d)
