"""Case tools: search cases, and read one case by number or id."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from server.models import Case
from server.sprinklr import SprinklrClient
from tools.common import Deps, decode_cursor, deps, encode_cursor, fit, rendered, result, search_page
from tools.text import Fence
from tools.views import CaseSummary, CaseView, View, case_summary, case_view

CaseNumber = Annotated[int, Field(gt=0, le=2**53, description="Case number as agents see it, e.g. 48213.")]
CaseId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Sprinklr's internal case id (letters, digits, '_' or '-'), e.g. 65a1f0c2e4b0a1b2c3d4e5f6.",
    ),
]
Detail = Annotated[
    Literal["summary", "full"],
    Field(description="'summary' (default): what an agent needs, long text cut. 'full': every field, whole text."),
]
Fresh = Annotated[
    bool, Field(description="True to skip the cache and read Sprinklr again (costs an API call). Default false.")
]
# Values of picklist-like fields: words, spaces and common punctuation; never quotes, braces or control characters.
Word = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[\w][\w .,&'()/+:#-]*$")]
Words = Annotated[list[Word], Field(min_length=1, max_length=20)]
ChannelType = Literal[
    "FACEBOOK", "TWITTER", "LINKEDIN", "INSTAGRAM", "YOUTUBE", "TIKTOK", "WORKFLOW", "SINA_WEIBO", "VK", "GOOGLE_PLUS"
]
PageSize = Annotated[int, Field(ge=1, le=100, description="Results per page, 1-100 (default 20).")]
Cursor = Annotated[
    str | None,
    Field(
        default=None,
        max_length=4000,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="next_cursor from the previous page of this search; leave out for the first page.",
    ),
]


def _day_or_moment(value: Any) -> Any:
    """A bare ISO date ('2026-06-30') stays a date, so that as an upper bound it can mean the whole day."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return date.fromisoformat(value.strip())
    return value


Moment = Annotated[datetime | date, BeforeValidator(_day_or_moment)]
DAY_MS = 24 * 3600 * 1000


def epoch(moment: Moment, *, end_of_day: bool = False) -> int:
    """A date or datetime (naive means UTC) as epoch milliseconds; a bare date as an upper bound means its last ms."""
    if not isinstance(moment, datetime):
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return int(start.timestamp() * 1000) + (DAY_MS - 1 if end_of_day else 0)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class CaseQuery(BaseModel):
    """The filters of a case search; also what a search cursor carries, so it is validated the same way."""

    model_config = ConfigDict(extra="forbid")

    created_after: Moment | None = None
    created_before: Moment | None = None
    modified_after: Moment | None = None
    modified_before: Moment | None = None
    case_number_from: CaseNumber | None = None
    case_number_to: CaseNumber | None = None
    status: Words | None = None
    priority: Words | None = None
    case_type: Words | None = None
    brand: Words | None = None
    language: Words | None = None
    country: Words | None = None
    queue_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    contact_channel_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.@+:-]+$")] | None = None
    external_system: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")] | None = None
    sort: Literal["created_desc", "created_asc", "modified_desc", "modified_asc"] = "created_desc"
    page_size: PageSize = 20


def case_search_body(query: CaseQuery, field_ids: dict[str, str], start: int = 0) -> dict[str, Any]:
    """The CASE search body: only filter keys and operators the reference lists for CASE; deleted cases excluded.

    `start` is the 0-based position of the first result wanted, for re-running a search whose cursor expired.
    """
    filters: list[dict[str, Any]] = [{"type": "EQUALS", "key": "deleted", "values": [False]}]

    def add(kind: str, key: str, *values: Any) -> None:
        filters.append({"type": kind, "key": key, "values": list(values)})

    for bound, kind, key in (
        (query.created_after, "GTE", "createdTime"),
        (query.created_before, "LTE", "createdTime"),
        (query.modified_after, "GTE", "modifiedTime"),
        (query.modified_before, "LTE", "modifiedTime"),
    ):
        if bound is not None:
            # "Created before 2026-06-30" given as a day includes that whole day, as search_messages' until does.
            add(kind, key, epoch(bound, end_of_day=kind == "LTE"))
    if query.case_number_from is not None:
        add("GTE", "caseNumber", query.case_number_from)
    if query.case_number_to is not None:
        add("LTE", "caseNumber", query.case_number_to)
    for values, name in (
        (query.status, "Status"),
        (query.priority, "Priority"),
        (query.case_type, "Type"),
        (query.brand, "Brand"),
        (query.language, "Language"),
        (query.country, "Country"),
    ):
        if values:
            add("IN", f"workflow.customProperties.{field_ids[name]}", *values)
    if query.queue_id:
        add("EQUALS", "workflow.queues.queueId", query.queue_id)
    if query.contact_channel_id:
        add("EQUALS", "contact.channelId", query.contact_channel_id)
    if query.external_system:
        add("EQUALS", "externalCase.channelType", query.external_system)
    key, order = {
        "created_desc": ("createdTime", "DESC"),
        "created_asc": ("createdTime", "ASC"),
        "modified_desc": ("modifiedTime", "DESC"),
        "modified_asc": ("modifiedTime", "ASC"),
    }[query.sort]
    page: dict[str, int] = {"size": query.page_size}
    if start:
        page["start"] = start + 1  # Sprinklr counts positions from 1
    return {
        "filter": {"type": "AND", "filters": filters},
        "sorts": [{"key": key, "order": order}],
        "page": page,
        "includeCount": True,
    }


class CaseList(View):
    """A page of cases."""

    results: list[CaseSummary]
    total: int | None = Field(default=None, description="How many cases match in all.")
    offset: int = Field(description="Position of the first result on this page among all matches.")
    next_cursor: str | None = Field(default=None, description="Pass as cursor for the next page; absent at the end.")


async def run_case_search(
    client: SprinklrClient,
    query: CaseQuery,
    field_ids: dict[str, str],
    cursor_payload: dict[str, Any] | None,
    budget_fits: Callable[[list[Case]], int] | None = None,
) -> tuple[list[Case], int | None, int, str | None]:
    """Run a case search or continue one; returns (cases, total, offset, next cursor).

    `budget_fits` says how many of the cases fit in the output budget; the rest are left for the next page.
    """
    page, offset = await search_page(
        client, "CASE", cursor_payload, lambda start: case_search_body(query, field_ids, start=start)
    )
    cases = [Case.model_validate(item) for item in page.results if isinstance(item.get("id"), str | int)]
    upstream = page.cursor
    shown = budget_fits(cases) if budget_fits is not None else len(cases)
    if shown < len(cases):
        # The budget cut this page: the next one starts right after the last case shown, by position.
        cases = cases[:shown]
        upstream = None
    next_offset = offset + len(cases)
    more = (
        bool(cases)
        and (page.total is None or next_offset < page.total)
        and (page.cursor is not None or upstream is None)
    )
    payload = {"c": upstream, "t": page.issued, "o": next_offset, "q": query.model_dump(mode="json", exclude_none=True)}
    next_cursor = encode_cursor(payload) if more else None
    return cases, page.total, offset, next_cursor


async def search_cases(
    ctx: Context,
    created_after: Annotated[
        Moment | None, Field(description="Created at or after, ISO date or datetime (UTC).")
    ] = None,
    created_before: Annotated[
        Moment | None, Field(description="Created at or before, ISO date (the whole day counts) or datetime.")
    ] = None,
    modified_after: Annotated[Moment | None, Field(description="Modified at or after, ISO date or datetime.")] = None,
    modified_before: Annotated[
        Moment | None, Field(description="Modified at or before, ISO date (the whole day counts) or datetime.")
    ] = None,
    case_number_from: Annotated[CaseNumber | None, Field(description="Lowest case number.")] = None,
    case_number_to: Annotated[CaseNumber | None, Field(description="Highest case number.")] = None,
    status: Annotated[Words | None, Field(description="Any of these statuses, e.g. ['Open', 'Pending'].")] = None,
    priority: Annotated[Words | None, Field(description="Any of these priorities, e.g. ['High', 'Urgent'].")] = None,
    case_type: Annotated[Words | None, Field(description="Any of these case types, e.g. ['Complaint'].")] = None,
    brand: Annotated[Words | None, Field(description="Any of these brands (the Brand custom field).")] = None,
    language: Annotated[Words | None, Field(description="Any of these language codes, e.g. ['en', 'es'].")] = None,
    country: Annotated[Words | None, Field(description="Any of these countries (the Country custom field).")] = None,
    queue_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Cases in this queue.")] = None,
    contact_channel_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            pattern=r"^[\w.@+:-]+$",
            description="Cases of the customer with this channel user id (see lookup_profile).",
        ),
    ] = None,
    external_system: Annotated[
        str | None,
        Field(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Cases linked to this external system, e.g. salesforce."),
    ] = None,
    sort: Annotated[
        Literal["created_desc", "created_asc", "modified_desc", "modified_asc"], Field(description="Order of results.")
    ] = "created_desc",
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> Annotated[CallToolResult, CaseList]:
    """Search Sprinklr cases by time range, case number range, status, priority, type, brand, language, country,
    queue, customer (contact channel id) or linked external system. Deleted cases are never returned.

    Returns one page of short case summaries, the total count, and next_cursor when there are more: pass it back
    as `cursor` (with the same filters or none) for the next page. Open a case with get_case_by_number.
    """
    d = deps(ctx)
    payload: dict[str, Any] | None = None
    if cursor is not None:
        payload, query = decode_cursor(cursor, CaseQuery)
    else:
        query = CaseQuery(
            created_after=created_after,
            created_before=created_before,
            modified_after=modified_after,
            modified_before=modified_before,
            case_number_from=case_number_from,
            case_number_to=case_number_to,
            status=status,
            priority=priority,
            case_type=case_type,
            brand=brand,
            language=language,
            country=country,
            queue_id=queue_id,
            contact_channel_id=contact_channel_id,
            external_system=external_system,
            sort=sort,
            page_size=page_size,
        )
    _check_ranges(query)

    summaries: list[CaseSummary] = []

    def budget_fits(found: list[Case]) -> int:
        summaries[:] = [case_summary(c, d.fence, d.settings.custom_fields) for c in found]
        return fit(summaries, d.budget_chars)

    cases, total, offset, next_cursor = await run_case_search(
        d.client, query, d.settings.custom_fields, payload, budget_fits
    )
    view = CaseList(
        results=summaries[: len(cases)],  # built once, while fitting the budget
        total=total,
        offset=offset,
        next_cursor=next_cursor,
    )
    shown = f"{offset + 1}-{offset + len(cases)}" if cases else "none"
    head = f"Cases {shown} of {total if total is not None else '?'}."
    tail = "More: call search_cases with cursor=next_cursor." if next_cursor else ""
    return result(view, head, tail, body="results")


def _check_ranges(query: CaseQuery) -> None:
    for low, high, name in (
        (query.created_after, query.created_before, "created_after must be before created_before"),
        (query.modified_after, query.modified_before, "modified_after must be before modified_before"),
    ):
        if low is not None and high is not None and epoch(low) > epoch(high, end_of_day=True):
            raise ToolError(f"Invalid time range: {name}.")
    if (
        query.case_number_from is not None
        and query.case_number_to is not None
        and query.case_number_from > query.case_number_to
    ):
        raise ToolError("Invalid range: case_number_from must not be greater than case_number_to.")


def _case_result(case: Case, d: Deps, detail: str) -> CallToolResult:
    full = detail == "full"
    limit = d.text_limit if full else max(500, d.budget_chars // 4)

    def render(fence: Fence) -> CallToolResult:
        view = case_view(case, fence, d.settings.custom_fields, full=full, limit=limit)
        head = f"Case {view.case_number} ({view.status or 'status unknown'})"
        return result(view, head, "Conversation: call get_case_messages with this case_number.")

    return rendered(case, f"case:{detail}", d, render)


async def get_case_by_number(
    case_number: CaseNumber, ctx: Context, detail: Detail = "summary", fresh: Fresh = False
) -> Annotated[CallToolResult, CaseView]:
    """Fetch one Sprinklr case by its case number: subject, description, status, priority, type, times, due
    date, sentiment, assignee, queues, customer contact, linked external case and custom fields (Brand, Language,
    Country, ...).

    Use when the user quotes a case number. For the conversation, call get_case_messages; to find cases by
    status, customer or time, use search_cases.
    """
    d = deps(ctx)
    return _case_result(await d.client.get_case_by_number(case_number, fresh=fresh), d, detail)


async def get_case(
    case_id: CaseId, ctx: Context, detail: Detail = "summary", fresh: Fresh = False
) -> Annotated[CallToolResult, CaseView]:
    """Fetch one Sprinklr case by its internal id (as found in messages or links), with the same fields as
    get_case_by_number. Prefer get_case_by_number when you have the case number.
    """
    d = deps(ctx)
    return _case_result(await d.client.get_case(case_id, fresh=fresh), d, detail)
