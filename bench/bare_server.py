"""The baseline: a bare MCPServer with one trivial tool, served over stdio, to compare our overhead against."""

from __future__ import annotations

import anyio
from mcp.server.mcpserver import MCPServer


def build_bare_server() -> MCPServer:
    """An MCP server with one echo tool and nothing else: no settings, no lifespan, no HTTP client."""
    server = MCPServer(name="bare")

    @server.tool()
    async def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    return server


def main() -> None:
    """Serve the bare server over stdio until stdin closes, started the same way as `sprinklr-mcp serve`."""
    anyio.run(build_bare_server().run_stdio_async)


if __name__ == "__main__":
    main()
