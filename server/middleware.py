"""MCP middleware: unknown arguments refused, and argument errors reworded as one short line per field."""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult, TextContent

_HEADER = re.compile(r"^Error executing tool (?P<tool>[\w-]+): \d+ validation errors? for \w+$")
_DETAIL = re.compile(
    r"^\s+(?P<msg>.*?) \[type=(?P<type>[\w.]+)(?:, input_value=(?P<value>.*?))?(?:, input_type=\w+)?\]$"
)


def reword(text: str) -> str | None:
    """Pydantic's multi-line validation report as 'Invalid arguments for TOOL: field: problem (got X); ...'."""
    lines = text.splitlines()
    header = _HEADER.match(lines[0]) if lines else None
    if header is None:
        return None
    problems: list[str] = []
    field = "arguments"
    for line in lines[1:]:
        if line.startswith("    For further information"):
            continue
        detail = _DETAIL.match(line)
        if detail is None:
            field = line.strip() or field
            continue
        message = detail["msg"].rstrip(".")
        value = detail["value"]
        got = ""
        if detail["type"] != "missing" and value is not None:
            got = f" (got {value if len(value) <= 40 else value[:37] + '...'})"
        problems.append(f"{field}: {message}{got}")
    if not problems:
        return None
    return (
        f"Invalid arguments for {header['tool']}: " + "; ".join(problems) + ". See the tool's input schema for "
        "what each argument accepts."
    )


ArgumentNames = Callable[[], Awaitable[dict[str, frozenset[str]]]]

# Verbs a model reaches for when asked to change something in Sprinklr, and what each would have done.
_WRITES = {
    "close": "close cases", "resolve": "resolve cases", "reopen": "reopen cases", "reply": "reply to customers",
    "respond": "reply to customers", "send": "send messages", "post": "post messages", "publish": "publish messages",
    "assign": "assign cases", "reassign": "reassign cases", "transfer": "transfer cases", "escalate": "escalate cases",
    "update": "update anything", "edit": "edit anything", "modify": "modify anything", "set": "change fields",
    "change": "change anything", "create": "create anything", "add": "add anything", "comment": "add comments",
    "tag": "tag anything", "merge": "merge cases", "delete": "delete anything", "remove": "remove anything",
    "archive": "archive anything", "upload": "upload files", "trigger": "trigger journeys", "mark": "mark cases",
}  # fmt: skip


def unknown_tool(name: str, tools: list[str]) -> str:
    """What to say about a tool that does not exist: read-only when it looks like a write, else the closest names."""
    words = re.split(r"[^a-z]+", name.lower())
    verb = next((word for word in words if word in _WRITES), None)
    if verb is not None:
        return (
            f"This server is read-only: it cannot {_WRITES[verb]} ({name} is not a tool here). Do that in Sprinklr; "
            f"this server can only read: {', '.join(tools)}."
        )
    close = difflib.get_close_matches(name, tools, n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return f"Unknown tool {name!r}.{hint} Tools: {', '.join(tools)}."


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


class ArgumentChecks:
    """Refuses unknown argument names (a misspelled filter must not widen a search) and rewords validation errors."""

    def __init__(self, argument_names: ArgumentNames) -> None:
        self._argument_names = argument_names
        self._names: dict[str, frozenset[str]] | None = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Check the argument names, pass the request on, and reword the error text when arguments were rejected."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params = ctx.params if isinstance(ctx.params, dict) else {}
        arguments = params.get("arguments")
        if self._names is None:
            # Tools are registered once, before serving: their argument names are read once.
            self._names = await self._argument_names()
        name = str(params.get("name"))[:80]
        allowed = self._names.get(name)
        if allowed is None:
            return _error(unknown_tool(name, sorted(self._names)))
        if isinstance(arguments, dict):
            unknown = sorted(str(key) for key in arguments if key not in allowed)
            if unknown:
                return _error(
                    f"Unknown argument(s) for {params.get('name')}: {', '.join(unknown)[:200]}. "
                    f"It takes: {', '.join(sorted(allowed)) or 'no arguments'}."
                )
        result = await call_next(ctx)
        # The runner hands back the serialized result; a handler may also return the model. Only an error is
        # looked into (and dumped): answers pass untouched, this is every call's path.
        if isinstance(result, CallToolResult):
            if not result.is_error:
                return result
            data: Any = result.model_dump(by_alias=True)
        else:
            data = result
        if not isinstance(data, dict) or not data.get("isError"):
            return result
        blocks = data.get("content") or []
        if len(blocks) == 1 and isinstance(blocks[0], dict) and isinstance(blocks[0].get("text"), str):
            better = reword(blocks[0]["text"])
            if better is not None:
                return {**data, "content": [{"type": "text", "text": better}]}
        return result
