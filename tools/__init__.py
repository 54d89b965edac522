"""The tool inventory: every tool registered with the one READ_ONLY annotation, and errors made tool errors here."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from server.errors import SprinklrError
from server.settings import Settings
from tools import cases, messages, profiles, prompts, resources, status


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
    # False only for tools that read this server's own state, not Sprinklr.
    open_world: bool = True


INVENTORY: tuple[ToolSpec, ...] = (
    ToolSpec(cases.search_cases, "Search cases"),
    ToolSpec(cases.get_case_by_number, "Get case by number"),
    ToolSpec(cases.get_case, "Get case by id"),
    ToolSpec(messages.get_case_messages, "Read a case's conversation"),
    ToolSpec(messages.get_message, "Get message"),
    ToolSpec(messages.search_messages, "Search messages"),
    ToolSpec(profiles.lookup_profile, "Look up a customer"),
    ToolSpec(status.quota_status, "API quota and cache status", open_world=False),
)


def as_tool_errors(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Turn a SprinklrError (already worded for the model) into a tool error; anything else stays a crash."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except SprinklrError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def register_tools(server: MCPServer[Any], settings: Settings) -> None:
    """Register the tools SPRINKLR_MCP_TOOLS enables (all by default), each read-only, and the resource and prompts."""
    enabled = settings.enabled_tools()
    for spec in INVENTORY:
        if spec.fn.__name__ in enabled:
            server.add_tool(
                as_tool_errors(spec.fn),
                name=spec.fn.__name__,
                title=spec.title,
                description=inspect.cleandoc(spec.fn.__doc__ or ""),
                annotations=read_only(open_world=spec.open_world),
                structured_output=True,
            )
    if {"get_case_by_number", "get_case_messages"} <= enabled:
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
