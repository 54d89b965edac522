"""Profile tools: find a customer by email, phone, channel id or profile id, with their recent cases."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from server.errors import NotFound
from server.models import Case, Profile
from tools.cases import CaseQuery, ChannelType, case_search_body
from tools.common import deps, fit, result
from tools.views import CaseSummary, ProfileView, View, case_summary, profile_view


class CustomerLookup(View):
    """Profiles found, and each one's recent cases when asked for."""

    profiles: list[ProfileView]
    recent_cases: list[CaseSummary] | None = Field(
        default=None, description="The customer's most recent cases (first profile found), newest first."
    )
    total_cases: int | None = Field(default=None, description="How many cases that customer has in all.")


async def lookup_profile(
    ctx: Context,
    email: Annotated[
        str | None,
        Field(max_length=254, pattern=r"^[^@\s\"'<>]+@[^@\s\"'<>]+\.[A-Za-z]{2,}$", description="Customer email."),
    ] = None,
    phone: Annotated[
        str | None,
        Field(max_length=32, pattern=r"^\+?[0-9 ().-]{6,30}$", description="Phone number, e.g. +1 415 555 0100."),
    ] = None,
    channel: Annotated[ChannelType | None, Field(description="Channel of channel_id, e.g. TWITTER.")] = None,
    channel_id: Annotated[
        str | None,
        Field(min_length=1, max_length=128, pattern=r"^[\w.@+:-]+$", description="The customer's id on that channel."),
    ] = None,
    profile_id: Annotated[
        str | None, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Sprinklr profile id (from a case's contact).")
    ] = None,
    include_cases: Annotated[bool, Field(description="Also list the customer's recent cases (one more call).")] = False,
    cases_limit: Annotated[int, Field(ge=1, le=20, description="How many recent cases, 1-20 (default 5).")] = 5,
) -> Annotated[CallToolResult, CustomerLookup]:
    """Find a customer's Sprinklr profile by exactly one of: email, phone, channel plus channel_id, or
    profile_id. With include_cases=true, also list that customer's most recent cases ("which other cases has this
    customer opened?"). Names and contact details are customer-provided data.
    """
    given = [
        name
        for name, value in (("email", email), ("phone", phone), ("channel_id", channel_id), ("profile_id", profile_id))
        if value is not None
    ]
    if len(given) != 1:
        raise ToolError(
            "Give exactly one of email, phone, channel_id (with channel) or profile_id"
            + (f"; got {', '.join(given)}." if given else ".")
        )
    if channel is not None and channel_id is None:
        raise ToolError("channel only narrows a channel_id lookup: give channel_id too.")
    d = deps(ctx)
    profiles: list[Profile]
    if profile_id is not None:
        profiles = [await d.client.get_profile(profile_id)]
    else:
        filters: list[dict[str, Any]] = []
        if email is not None:
            filters.append({"type": "EQUALS", "key": "contact.email", "values": [email.strip()]})
        elif phone is not None:
            filters.append({"type": "EQUALS", "key": "contact.phoneNo", "values": [phone.strip()]})
        else:
            filters.append({"type": "IN", "key": "channelId", "values": [channel_id]})
            if channel is not None:
                filters.append({"type": "IN", "key": "channelType", "values": [channel]})
        body = {"filter": {"type": "AND", "filters": filters}, "page": {"size": 10}, "includeCount": False}
        page = await d.client.search("PROFILE", body)
        profiles = [Profile.model_validate(item) for item in page.results if isinstance(item.get("id"), str | int)]
    if not profiles:
        raise NotFound(
            f"No customer profile matches that {given[0]} in {d.client.env}. Check it, or try another identifier."
        )
    found = CustomerLookup(profiles=[profile_view(p, d.fence) for p in profiles])
    first = profiles[0]
    if include_cases and first.channel_id:
        query = CaseQuery(contact_channel_id=first.channel_id, page_size=cases_limit)
        page = await d.client.search("CASE", case_search_body(query, d.settings.custom_fields))
        cases = [Case.model_validate(item) for item in page.results if isinstance(item.get("id"), str | int)]
        summaries = [case_summary(c, d.fence, d.settings.custom_fields) for c in cases]
        # What the profiles leave of the budget bounds the case list; total_cases says how many there are in all.
        room = d.budget_chars - len(found.model_dump_json(exclude_none=True))
        found.recent_cases = summaries[: fit(summaries, room)] if summaries else []
        found.total_cases = page.total
    head = f"{len(profiles)} profile(s) found."
    return result(found, head)
