"""The case resource: sprinklr://case/{case_number} is a case and its latest conversation, as text."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import CallToolResult, TextContent

from server import call
from server.errors import SprinklrError
from tools.cases import get_case
from tools.messages import get_case_messages

CASE_URI = "sprinklr://case/{case_number}"


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def case_resource(case_number: str, ctx: Context) -> str:
    """A Sprinklr case and its latest 20 messages, newest first (read-only)."""
    if not (case_number.isascii() and case_number.isdigit()) or not 0 < int(case_number) <= 2**53:
        raise ResourceError(
            f"sprinklr://case/{{case_number}} takes a positive case number in digits, e.g. sprinklr://case/48213; "
            f"got {case_number[:40]!r}."
        )
    number = int(case_number)
    with call.call_scope():
        try:
            case = await get_case(ctx, case_number=number)
            conversation = await get_case_messages(ctx, case_number=number, order="newest_first", limit=20)
        except SprinklrError as exc:
            raise ResourceError(str(exc)) from None
    return f"{_text(case)}\n\n{_text(conversation)}"
