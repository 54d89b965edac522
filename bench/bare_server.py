"""The baselines: a bare MCPServer with one trivial tool, served over stdio, to compare our overhead against.

It also has `canned_case`: the same answer, byte for byte, that our get_case gave (taken from the file
named by BENCH_CANNED_CASE) under the same output schema, so that a second ratio isolates our code from the cost of
the payload itself (serialising, parsing and schema-checking a 2-3 KB result instead of a 5-byte echo).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import anyio
from mcp.server.mcpserver import MCPServer


class _Published(MCPServer):
    """The bare server, publishing the canned tool's output schema exactly as ours does (lean, from the view)."""

    output_schemas: ClassVar[dict[str, Any]] = {}

    async def list_tools(self) -> Any:
        """The tools, with the canned tool's output schema."""
        return [
            tool.model_copy(update={"output_schema": self.output_schemas[tool.name]})
            if tool.name in self.output_schemas
            else tool
            for tool in await super().list_tools()
        ]


def build_bare_server() -> MCPServer:
    """An MCP server with one echo tool and nothing else: no settings, no lifespan, no HTTP client."""
    server = _Published(name="bare")

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    canned_path = os.environ.get("BENCH_CANNED_CASE")
    if canned_path:
        # Imported only here, so that the cold-start baseline stays a bare server.
        from mcp.types import CallToolResult

        from server.schemas import lean
        from tools.views import CaseView

        with open(canned_path, encoding="utf-8") as handle:
            canned = CallToolResult.model_validate(json.load(handle))

        async def canned_case(case_number: int) -> Any:
            """Return the recorded answer of our get_case."""
            return canned

        # An object, not a string: CallToolResult is imported here, not at module level.
        canned_case.__annotations__["return"] = CallToolResult
        # Returned as is, as ours are, under the same published output schema.
        server.add_tool(canned_case, structured_output=False)
        server.output_schemas["canned_case"] = lean(CaseView.model_json_schema())

    return server


def main() -> None:
    """Serve the bare server over stdio until stdin closes: over the SDK's own stdio transport, or with
    BENCH_TRANSPORT=ours over ours (server/stdio.py), to tell our transport's gain from our code's cost."""
    if os.environ.get("BENCH_TRANSPORT") == "ours":
        from server.stdio import run_stdio

        anyio.run(run_stdio, build_bare_server())
    else:
        anyio.run(build_bare_server().run_stdio_async)


if __name__ == "__main__":
    main()
