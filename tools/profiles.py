"""Profile tools: find a customer by email, phone, channel id or profile id, with their recent cases."""

from __future__ import annotations

import re
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from server.errors import NotFound
from server.models import Profile
from tools.archive import ArchiveHistory, archived_history
from tools.args import ChannelId, ChannelType, one_of
from tools.cases import _cases
from tools.common import deps, fit, result
from tools.views import CaseRow, Page, ProfileView, case_row, profile_view

Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s\"'<>]+@[^@\s\"'<>]+\.[A-Za-z]{2,}$")]
Phone = Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9 ().-]{6,30}$", description="Any common format")]


class CustomerLookup(Page):
    """Profiles found, and the first one's recent cases when asked for."""

    profiles: list[ProfileView]
    cases: list[CaseRow] | None = Field(default=None, description="The customer's latest cases, newest first.")
    total_cases: int | None = None
    archive: ArchiveHistory | None = Field(default=None, description="Sparkcentral conversations (best-effort).")


def phone_variants(phone: str) -> list[str]:
    """A phone number as typed and in the forms it is commonly stored: +digits and digits."""
    digits = re.sub(r"\D", "", phone)
    return list(dict.fromkeys([phone.strip(), f"+{digits}", digits]))


async def lookup_profile(
    ctx: Context,
    email: Email | None = None,
    phone: Phone | None = None,
    channel_id: ChannelId | None = None,
    channel: Annotated[ChannelType | None, Field(description="Narrows channel_id")] = None,
    profile_id: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    cases: Annotated[int, Field(ge=0, le=20, description="Also list this many latest cases")] = 0,
) -> CallToolResult:
    """Find a customer by exactly one of email, phone, channel_id or profile_id; cases=N also lists their N latest
    cases. Emails match case-insensitively, phones in any format."""
    given = one_of(email=email, phone=phone, channel_id=channel_id, profile_id=profile_id)
    d = deps(ctx)
    profiles: list[Profile]
    if profile_id is not None:
        profiles = [await d.client.profile_by_id(profile_id)]
    else:
        filters: list[dict[str, Any]]
        if email is not None:
            variants = list(dict.fromkeys([email.strip(), email.strip().lower()]))
            filters = [{"type": "IN", "key": "contact.email", "values": variants}]
        elif phone is not None:
            filters = [{"type": "IN", "key": "contact.phoneNo", "values": phone_variants(phone)}]
        else:
            filters = [{"type": "IN", "key": "channelId", "values": [channel_id]}]
            if channel is not None:
                filters.append({"type": "IN", "key": "channelType", "values": [channel]})
        profiles = await d.client.profiles(filters)
    first = profiles[0] if profiles else None
    contact = first.contact if first else None
    history = await archived_history(
        d,
        email=email or (contact.email if contact else None),
        phone=phone or (contact.phone_no if contact else None),
        handle=first.username if first else channel_id,
    )
    if first is None and history is None:
        raise NotFound(f"No customer profile matches that {given} in {d.client.env}. Check it, or try another one.")
    found = CustomerLookup(profiles=[profile_view(p, pii=d.pii) for p in profiles[:10]], archive=history)
    next_call = None
    if cases and first is not None and first.channel_id:
        query = {
            "filter": {"type": "AND", "filters": [
                {"type": "EQUALS", "key": "deleted", "values": [False]},
                {"type": "EQUALS", "key": "contact.channelId", "values": [first.channel_id]},
            ]},
            "sorts": [{"key": "createdTime", "order": "DESC"}],
        }  # fmt: skip
        page = await d.client.search("CASE", query, offset=0, size=cases)
        names = await d.names()
        rows = [case_row(c, names, d.settings.custom_fields, pii=d.pii) for c in _cases(page.rows)][:cases]
        room = d.budget_chars - len(found.model_dump_json(exclude_none=True)) - 400
        shown = fit(rows, room) if rows else 0
        found.cases, found.total_cases = rows[:shown], page.total
        if await d.client.keep_rest(page, shown) and page.total is not None and page.total > shown:
            next_call = ("search_cases", {"customer_id": first.channel_id, "offset": shown})
    head = f"{len(profiles)} Sprinklr profile(s) found by {given}."
    if history is not None:
        head += f" Sparkcentral archive: {history.total} conversation(s) (best-effort match)."
    if found.total_cases is not None:
        head += f" Cases: {len(found.cases or [])} of {found.total_cases} shown."
    return result(found, head, d, next_call=next_call)
