"""A short scripted support session through a real MCP client session, printed as a person would read it."""

from __future__ import annotations

from typing import Any

from server.settings import Settings


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def run_tour(settings: Settings) -> int:
    """Find open cases, open one, read its latest messages, look up the customer and their other cases."""
    from mcp import Client

    from server.app import build_server

    async with Client(build_server(settings)) as client:
        tools = await client.list_tools()
        print(f"== {len(tools.tools)} read-only tools: {', '.join(t.name for t in tools.tools)}\n")

        async def show(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            outcome = await client.call_tool(name, arguments)
            print(f"== {name} {arguments}\n{_text(outcome)}\n")
            return outcome.structured_content or {}

        listing = await show(
            "search_cases",
            {"status": ["open"], "priority": ["urgent", "high"], "created_after": "2026-09-01", "page_size": 3},
        )
        cases = listing.get("results") or []
        if not cases:
            print("The sandbox returned no open high-priority cases.")
            return 1
        number = cases[0]["case_number"]
        case = await show("get_case", {"case_number": number, "activity": True})
        await show("get_case_messages", {"case_number": number, "order": "newest_first", "limit": 4})
        customer = case.get("customer") or {}
        if customer.get("channel_id"):
            await show("lookup_profile", {"channel_id": customer["channel_id"], "cases": 3})
        await show("search_cases", {"count_by": "status", "last_days": 7})
        await show("quota_status", {})
    return 0
