"""The tool inventory: every tool registered with the one READ_ONLY annotation, in a call scope, errors made tool
errors here; and the published schemas kept lean (the tool list is read by the model in every conversation)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

from server import call
from server.errors import SprinklrError
from server.schemas import Published
from server.settings import Settings
from tools import archive, cases, messages, profiles, prompts, resources, status, values
from tools.views import CaseView


def read_only(*, open_world: bool = True) -> ToolAnnotations:
    """The one annotation every tool carries: reads only, destroys nothing, same answer when repeated."""
    return ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=open_world
    )


@dataclass(frozen=True)
class ToolSpec:
    """A tool's static definition."""

    fn: Callable[..., Awaitable[Any]]
    title: str
    # The view its structured content follows: published as the tool's output schema.
    output: type[BaseModel]
    # False only for tools that read this server's own state, not Sprinklr.
    open_world: bool = True
    # Constraints the prose states that a function signature cannot: added to the published input schema.
    schema_extra: dict[str, Any] = field(default_factory=dict)


def _one_of(*names: str) -> dict[str, Any]:
    return {"oneOf": [{"required": [name]} for name in names]}


INVENTORY: tuple[ToolSpec, ...] = (
    ToolSpec(cases.get_case, "Read a case", CaseView, schema_extra=_one_of("case_number", "case_id")),
    ToolSpec(messages.get_case_messages, "Read a case's conversation", messages.Conversation,
             schema_extra=_one_of("case_number", "case_id")),
    ToolSpec(messages.get_message, "Read a message", messages.OneMessage),
    ToolSpec(cases.search_cases, "Find or count cases", cases.CaseList),
    ToolSpec(messages.search_messages, "Search messages", messages.MessageHit),
    ToolSpec(profiles.lookup_profile, "Look up a customer", profiles.CustomerLookup,
             schema_extra=_one_of("email", "phone", "channel_id", "profile_id")),
    ToolSpec(values.list_values, "Valid filter values", values.ValueList),
    ToolSpec(status.quota_status, "API budget and cache", status.StatusView, open_world=False),
)  # fmt: skip
# The Sparkcentral archive's tools: registered only when an archive is configured (they read local data only).
ARCHIVE_INVENTORY: tuple[ToolSpec, ...] = (
    ToolSpec(archive.search_sparkcentral, "Search the Sparkcentral archive", archive.ArchiveSearch, open_world=False),
    ToolSpec(archive.get_sparkcentral_conversation, "Read an archived conversation", archive.ArchivedConversation,
             open_world=False),
    ToolSpec(archive.get_sparkcentral_report, "Sparkcentral archive report", archive.ArchiveReport, open_world=False),
)  # fmt: skip
TOOL_NAMES = frozenset(spec.fn.__name__ for spec in INVENTORY)


def as_tool_errors(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Run a tool in its own call scope (request cap) and turn a SprinklrError (worded for the model) into a tool
    error; anything else stays a crash, which the SDK reports without its details."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        with call.call_scope():
            try:
                return await fn(*args, **kwargs)
            except SprinklrError as exc:
                raise ToolError(str(exc)) from None

    return wrapper


def _description(spec: ToolSpec) -> str:
    """The tool's docstring, and for tools that read Sprinklr, the hard cap on what one call may spend."""
    text = inspect.cleandoc(spec.fn.__doc__ or "")
    return f"{text} At most {call.DEFAULT_CAP} Sprinklr calls." if spec.open_world else text


def register_tools(server: MCPServer[Any], settings: Settings) -> dict[str, Published]:
    """Register the enabled tools (SPRINKLR_MCP_TOOLS; all by default), resources and prompts.

    Tools return a finished CallToolResult (built by tools/common.py: result), so the SDK does not validate it
    again on every call; the output schema is published from the view model instead.
    """
    enabled = settings.enabled_tools()
    extras: dict[str, Published] = {}
    for spec in INVENTORY + (ARCHIVE_INVENTORY if settings.archive_configured else ()):
        name = spec.fn.__name__
        if name in enabled:
            server.add_tool(
                as_tool_errors(spec.fn),
                name=name,
                title=spec.title,
                description=_description(spec),
                annotations=read_only(open_world=spec.open_world),
                structured_output=False,
            )
            extras[name] = Published(spec.schema_extra, spec.output.model_json_schema())
    if {"get_case", "get_case_messages"} <= enabled:
        server.resource(
            resources.CASE_URI,
            name="case",
            title="Sprinklr case and conversation",
            description="A case and its latest 20 messages, newest first. Customer text is fenced as untrusted.",
            mime_type="text/plain",
        )(resources.case_resource)
        server.prompt(title="Summarize a case")(prompts.summarize_case)
    if "quota_status" in enabled:
        server.resource(
            status.STATUS_URI,
            name="status",
            title="Sprinklr API quota and cache",
            description="sprinklr://status/quota, /cache or /all: the budget and cache as JSON, at no API cost.",
            mime_type="application/json",
        )(status.status_resource)
    if "lookup_profile" in enabled:
        server.prompt(title="A customer's history")(prompts.customer_history)
    return extras


__all__ = ["INVENTORY", "TOOL_NAMES", "ToolError", "register_tools"]
