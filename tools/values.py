"""The list_values tool: what the filterable fields of cases take in this account, so filters can be exact."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from server.catalog import ROLES, Role
from tools.common import deps, result
from tools.text import Code, Text, word
from tools.views import Page

# Values shown per field when every field is listed; one field lists up to the budget.
PER_FIELD = 12


class ValueList(Page):
    """Known values per field, most common first."""

    # Text, not Code | Fenced: a bare union would serialize a fenced value without its marks.
    values: dict[str, list[Text]]
    sample: int = Field(description="Recent cases the seen values come from.")


async def list_values(
    ctx: Context,
    field: Annotated[Role | None, Field(description="One field; default all")] = None,
) -> CallToolResult:
    """Valid values of the case filters (status, priority, type, brand, language, country, queue, assignee), from
    the account's picklists and recent cases. Cached for hours: at most 3 Sprinklr calls."""
    d = deps(ctx)
    values = await d.catalog.values()
    roles: tuple[Role, ...] = (field,) if field else ROLES
    limit = 200 if field else PER_FIELD
    shown: dict[str, list[Text]] = {}
    for role in roles:
        known = values.of(role)
        if role == "assignee":
            users = await d.catalog.user_names()
            known = list(dict.fromkeys(users.get(v) or v for v in known))
        cleaned: list[Text] = [w for w in (word(v, 80, pii=d.pii) for v in known[:limit]) if w is not None]
        if len(known) > limit:
            cleaned.append(Code(f"+{len(known) - limit} more"))
        shown[role] = cleaned
    view = ValueList(values=shown, sample=values.sample_size)
    head = f"Known values ({'field ' + field if field else 'all fields'}; from picklists and the latest cases)."
    return result(view, head, d)
