"""Tenant isolation in the shared cache: two Sprinklr accounts behind one Redis share nothing; one account shares all.

Two sandboxes with different datasets (other seeds: the same case numbers, other content, other ids) and other API
keys stand for two tenants. Each server talks to its own sandbox through one real redis-server; every read of the
second tenant must come from its own sandbox, which logs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from mcp import Client

from server.app import build_server
from server.sandbox import SandboxConfig, running_sandbox
from server.sandbox.runner import RunningSandbox
from server.settings import Settings
from tests.conftest import OPEN_LIMITS, sandbox_settings, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

CASE = 48213


@pytest.fixture(scope="module")
def other() -> Iterator[RunningSandbox]:
    """A second Sprinklr account: another dataset (seed), another API key, another host:port."""
    config = SandboxConfig(seed=8, api_key="other-tenant-key", access_token="other-tenant-token", **OPEN_LIMITS)
    with running_sandbox(config) as sandbox:
        yield sandbox


def routes(sandbox: RunningSandbox) -> dict[str, int]:
    """What a sandbox's Sprinklr API received since its last reset, by route."""
    stats: dict[str, Any] = httpx.get(f"{sandbox.admin_url}/stats").json()
    return dict(stats["by_route"])


def reset(*sandboxes: RunningSandbox) -> None:
    """Forget what the sandboxes received."""
    for sandbox in sandboxes:
        httpx.post(f"{sandbox.admin_url}/reset").raise_for_status()


def settings_for(sandbox: RunningSandbox, redis_url: str) -> Settings:
    """A server for this sandbox's account, its cache and ledger in the shared Redis."""
    config = sandbox.config
    return sandbox_settings(
        sandbox,
        redis_url=redis_url,
        api_key=config.api_key,
        access_token=config.access_token,
        refresh_token=config.refresh_token,
        api_secret=config.api_secret,
    )


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must succeed; its structured content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


@pytest.fixture
def both(running: RunningSandbox, other: RunningSandbox, redis_url: str) -> tuple[Settings, Settings]:
    """Settings for the two tenants, on one Redis, with both sandboxes' logs cleared."""
    reset(running, other)
    return settings_for(running, redis_url), settings_for(other, redis_url)


async def test_a_case_read_by_one_tenant_is_never_served_to_another(
    both: tuple[Settings, Settings], running: RunningSandbox, other: RunningSandbox
) -> None:
    first, second = both
    ours = running.app_state.dataset.case_by_number[CASE]
    theirs = other.app_state.dataset.case_by_number[CASE]
    assert ours["subject"] != theirs["subject"]
    async with Client(build_server(first)) as a, Client(build_server(second)) as b:
        seen_a = await ok(a, "get_case", case_number=CASE)
        seen_b = await ok(b, "get_case", case_number=CASE)
    assert seen_a["id"] == ours["id"]
    assert seen_b["id"] == theirs["id"]
    assert routes(other).get("GET case-numbers") == 1


async def test_ids_messages_and_searches_of_one_tenant_are_not_found_through_another(
    both: tuple[Settings, Settings], running: RunningSandbox, other: RunningSandbox
) -> None:
    first, second = both
    data_a, data_b = running.app_state.dataset, other.app_state.dataset
    case_a = data_a.case_by_number[CASE]
    message_a = data_a.case_message_ids[case_a["id"]][0]
    async with Client(build_server(first)) as a, Client(build_server(second)) as b:
        # Tenant A reads everything once: case by id, its conversation (ids and messages), a message, a search.
        await ok(a, "get_case", case_id=case_a["id"])
        conversation_a = await ok(a, "get_case_messages", case_number=CASE, limit=5)
        await ok(a, "get_message", message_id=message_a)
        search_a = await ok(a, "search_cases", status=["Open"], page_size=5)
        reset(other)

        by_id = await b.call_tool("get_case", {"case_id": case_a["id"]})
        assert by_id.is_error
        assert "No case" in text_of(by_id)
        message = await b.call_tool("get_message", {"message_id": message_a})
        assert message.is_error
        conversation_b = await ok(b, "get_case_messages", case_number=CASE, limit=5)
        search_b = await ok(b, "search_cases", status=["Open"], page_size=5)
    case_b = data_b.case_by_number[CASE]
    assert [m["id"] for m in conversation_b["messages"]] == data_b.case_message_ids[case_b["id"]][:5]
    assert [m["id"] for m in conversation_a["messages"]] != [m["id"] for m in conversation_b["messages"]]
    open_b = {c["caseNumber"] for c in data_b.cases if c["status"] == "Open" and not c["deleted"]}
    assert {row["case_number"] for row in search_b["results"]} <= open_b
    assert search_b["total"] == len(open_b)
    assert search_a["total"] != search_b["total"] or search_a["results"] != search_b["results"]
    # Every one of those reads reached tenant B's own Sprinklr.
    seen = routes(other)
    assert seen.get("GET case") == 1
    assert seen.get("GET byMessageId") == 1
    assert seen.get("GET associated-messages", 0) >= 1
    assert seen.get("POST bulk-fetch") == 1
    assert seen.get("POST search/CASE", 0) >= 1


async def test_two_servers_of_one_tenant_share_the_cache_through_redis(
    both: tuple[Settings, Settings], running: RunningSandbox
) -> None:
    first, _ = both
    async with Client(build_server(first)) as one, Client(build_server(first)) as two:
        await ok(one, "get_case_messages", case_number=CASE, limit=5)
        reset(running)
        again = await ok(two, "get_case_messages", case_number=CASE, limit=5)
    assert again["case_number"] == CASE
    assert routes(running) == {}
