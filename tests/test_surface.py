"""The MCP surface: the tool list and every tool's schemas and annotations pinned by a snapshot, every tool
declared read-only, no input that suggests a write, and SPRINKLR_MCP_TOOLS choosing what is registered.

After an intended change to a tool, regenerate the snapshot and review its diff:
    UPDATE_SNAPSHOTS=1 python -m pytest tests/test_surface.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import Tool

from server.app import build_server
from server.archive.demo import DemoArchive
from server.sandbox.runner import RunningSandbox
from server.settings import ConfigError, load_settings
from tests.archive_support import demo
from tests.conftest import ALL_TOOLS, SandboxAdmin, sandbox_settings

__all__ = ["demo"]  # a fixture

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"
# Words (between underscores) that would make an input look like a write or a raw request. "post" is not one:
# Sprinklr's brandPost is a noun, and "created"/"modified" are times, not verbs.
WRITE_WORDS = frozenset(
    {
        *("create", "update", "delete", "remove", "publish", "put", "patch", "upload", "write", "insert", "modify"),
        *("save", "upsert", "assign", "comment", "send", "reply", "trigger", "deflect", "generate", "edit", "close"),
        *("archive", "merge", "set", "add", "method", "url", "path", "body", "payload", "raw", "http"),
    }
)


def describe(tool: Tool) -> dict[str, Any]:
    """What a client sees of one tool, as it goes on the wire."""
    wire = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {key: wire[key] for key in ("name", "title", "description", "inputSchema", "outputSchema", "annotations")}


def match_snapshot(path: Path, value: Any) -> None:
    """Compare with the committed snapshot, or rewrite it when UPDATE_SNAPSHOTS=1."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot at {path}; run with UPDATE_SNAPSHOTS=1 to create it"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert value == expected, f"the tool surface changed; if intended, run with UPDATE_SNAPSHOTS=1 and review {path}"


def property_names(schema: Any) -> set[str]:
    """Every property name anywhere in a JSON schema, nested definitions included."""
    names: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                names.update(value)
            names |= property_names(value)
    elif isinstance(schema, list):
        for item in schema:
            names |= property_names(item)
    return names


async def test_the_tool_list_schemas_and_annotations_match_the_snapshot(client: Client) -> None:
    listing = await client.list_tools()
    match_snapshot(SNAPSHOT, [describe(tool) for tool in sorted(listing.tools, key=lambda t: t.name)])


async def test_all_tools_are_registered_by_default(client: Client) -> None:
    listing = await client.list_tools()
    assert {tool.name for tool in listing.tools} == ALL_TOOLS


# The part of tools/list a model reads in every conversation: names, descriptions, input schemas, as served.
TOOL_LIST_BUDGET = 8_000


def model_facing_size(tools: list[Tool]) -> int:
    """Characters of the model-facing tool list, measured as the project's hook measures it."""
    return sum(
        len(tool.name) + len(tool.description or "") + len(json.dumps(tool.input_schema, separators=(",", ":")))
        for tool in tools
    )


async def test_the_model_facing_tool_list_fits_its_budget_with_the_archive_tools_too(
    running: RunningSandbox, sandbox: SandboxAdmin, demo: DemoArchive
) -> None:
    # The default toolset as the demo serves it: the Sprinklr tools and, with an archive, the Sparkcentral ones.
    async with Client(build_server(sandbox_settings(running, **demo.settings()))) as session:
        listing = await session.list_tools()
    size = model_facing_size(listing.tools)
    print(f"\nmodel-facing tool list: {size:,} characters for {len(listing.tools)} tools")
    assert {tool.name for tool in listing.tools} > ALL_TOOLS
    assert size <= TOOL_LIST_BUDGET
    for tool in listing.tools:
        text = json.dumps(tool.input_schema) + json.dumps(tool.output_schema)
        # Nothing that tells a model nothing: auto titles, null branches, JSON's largest integer.
        assert '"title"' not in json.dumps(tool.input_schema), tool.name
        assert '{"type": "null"}' not in text, tool.name
        assert "9007199254740992" not in text, tool.name


async def test_exactly_one_of_rules_are_in_the_schema_and_enforced(client: Client) -> None:
    listing = {tool.name: tool for tool in (await client.list_tools()).tools}
    expected = {
        "get_case": ["case_number", "case_id"],
        "get_case_messages": ["case_number", "case_id"],
        "lookup_profile": ["email", "phone", "channel_id", "profile_id"],
    }
    valid = {
        "case_number": 48213,
        "case_id": "682d5be15bf2061ee105e55e",
        "email": "a@b.example",
        "phone": "+1 415 555 0100",
    }
    for name, choices in expected.items():
        assert listing[name].input_schema["oneOf"] == [{"required": [choice]} for choice in choices]
        for arguments in ({}, {choice: valid[choice] for choice in choices[:2]}):
            refused = await client.call_tool(name, arguments)
            assert refused.is_error
            assert f"Give exactly one of {', '.join(choices)}" in "".join(
                getattr(block, "text", "") for block in refused.content
            )


async def test_every_tool_is_declared_read_only_idempotent_and_not_destructive(client: Client) -> None:
    listing = await client.list_tools()
    assert listing.tools
    for tool in listing.tools:
        hints = tool.annotations
        assert hints is not None, tool.name
        assert hints.read_only_hint is True, tool.name
        assert hints.destructive_hint is False, tool.name
        assert hints.idempotent_hint is True, tool.name


async def test_every_tool_has_a_title_a_description_and_an_output_schema(client: Client) -> None:
    listing = await client.list_tools()
    for tool in listing.tools:
        assert tool.title, tool.name
        assert tool.title.strip(), tool.name
        assert tool.description, tool.name
        assert len(tool.description.strip()) >= 40, tool.name
        # Descriptions are product copy for a model: no docstring indentation left in them.
        assert not re.search(r"\n {4}", tool.description), tool.name
        assert tool.output_schema, tool.name
        assert tool.output_schema.get("type") == "object", tool.name


async def test_only_quota_status_is_closed_world(client: Client) -> None:
    listing = await client.list_tools()
    closed = {tool.name for tool in listing.tools if tool.annotations and tool.annotations.open_world_hint is False}
    assert closed == {"quota_status"}


async def test_no_tool_input_has_a_property_name_that_suggests_a_write(client: Client) -> None:
    listing = await client.list_tools()
    names = set().union(*(property_names(tool.input_schema) for tool in listing.tools))
    assert "case_number" in names  # the walk does see the inputs
    assert sorted(name for name in names if WRITE_WORDS & set(name.lower().split("_"))) == []


async def test_no_tool_name_suggests_a_write(client: Client) -> None:
    listing = await client.list_tools()
    verbs = {tool.name.split("_")[0] for tool in listing.tools}
    assert verbs <= {"get", "search", "lookup", "list", "quota"}
    assert not any(WRITE_WORDS & set(tool.name.split("_")) for tool in listing.tools)


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (("cases",), {"search_cases", "get_case", "list_values"}),
        (("messages",), {"get_case_messages", "get_message", "search_messages"}),
        (("profiles", "status"), {"lookup_profile", "quota_status"}),
        (("get_case", "quota_status"), {"get_case", "quota_status"}),
        (("cases", "get_message"), {"search_cases", "get_case", "list_values", "get_message"}),
    ],
)
async def test_sprinklr_mcp_tools_limits_the_registered_tools(
    running: RunningSandbox, sandbox: SandboxAdmin, chosen: tuple[str, ...], expected: set[str]
) -> None:
    async with Client(build_server(sandbox_settings(running, tools=chosen))) as session:
        listing = await session.list_tools()
        assert {tool.name for tool in listing.tools} == expected
        left_out = sorted(ALL_TOOLS - expected)[0]
        refused = await session.call_tool(left_out, {})
        assert refused.is_error
        assert left_out in "".join(getattr(block, "text", "") for block in refused.content)
    assert sandbox.requests() == 0


async def test_sprinklr_mcp_tools_is_read_from_a_comma_separated_variable(
    running: RunningSandbox, sandbox: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPRINKLR_MCP_TOOLS", " cases , quota_status ")
    config = running.config
    settings = load_settings(
        env=config.env,
        api_key=config.api_key,
        access_token=config.access_token,
        base_url=running.base_url,
        ledger_path=":memory:",
    )
    async with Client(build_server(settings)) as session:
        listing = await session.list_tools()
    assert {tool.name for tool in listing.tools} == {"search_cases", "get_case", "list_values", "quota_status"}


def test_an_unknown_name_in_sprinklr_mcp_tools_is_a_configuration_error_naming_it(running: RunningSandbox) -> None:
    with pytest.raises(ConfigError) as error:
        sandbox_settings(running, tools=("cases", "delete_case"))
    message = str(error.value)
    assert "SPRINKLR_MCP_TOOLS" in message
    assert "delete_case" in message
