"""The case resource: sprinklr://case/{case_number} is a case and its latest conversation, as text."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError

from server.errors import SprinklrError
from tools.cases import get_case_by_number
from tools.messages import get_case_messages

CASE_URI = "sprinklr://case/{case_number}"


async def case_resource(case_number: str, ctx: Context) -> str:
    """A Sprinklr case and its latest 20 messages, newest first (read-only)."""
    if not case_number.isdigit() or not 0 < int(case_number) <= 2**53:
        raise ResourceError(
            f"sprinklr://case/{{case_number}} takes a positive case number, e.g. 48213; got {case_number!r}."
        )
    number = int(case_number)
    try:
        case = await get_case_by_number(number, ctx)
        conversation = await get_case_messages(ctx, case_number=number, order="newest_first", limit=20)
    except SprinklrError as exc:
        raise ResourceError(str(exc)) from None
    parts = [block.text for result in (case, conversation) for block in result.content if block.type == "text"]
    return "\n\n".join(parts)
