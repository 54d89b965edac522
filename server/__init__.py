"""sprinklr-mcp: a read-only MCP server for Sprinklr."""
