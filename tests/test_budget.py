"""The shared cache and quota guard, end to end: MCP client sessions against the sandbox, which counts what it gets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from server.app import build_server
from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, sandbox_settings, server_env, text_of

pytestmark = pytest.mark.anyio


def max_in_any_second(times: list[float]) -> int:
    """The most requests that fall in any window of one second."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def api_times(sandbox: SandboxAdmin) -> list[float]:
    """Arrival times of the Sprinklr API requests the sandbox logged."""
    return [float(entry["t"]) for entry in sandbox.stats()["log"]]


async def test_twenty_concurrent_identical_case_reads_reach_sprinklr_once_and_a_repeat_not_at_all(
    client: Client, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(latency_ms=100)  # keep the first request in flight while the others arrive
    results: list[Any] = [None] * 20

    async def read(i: int) -> None:
        results[i] = await client.call_tool("get_case", {"case_number": 48213})

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(read, i)
    assert all(not r.is_error and r.structured_content["case_number"] == 48213 for r in results)
    assert sandbox.requests() == 1

    again = await client.call_tool("get_case", {"case_number": 48213})
    assert not again.is_error
    assert sandbox.requests() == 1


async def test_fresh_true_reads_sprinklr_again(client: Client, sandbox: SandboxAdmin) -> None:
    await client.call_tool("get_case", {"case_number": 48213})
    fresh = await client.call_tool("get_case", {"case_number": 48213, "fresh": True})
    assert not fresh.is_error
    assert sandbox.requests() == 2


async def test_a_conversation_read_again_bulk_fetches_only_messages_not_seen_before(
    client: Client, sandbox: SandboxAdmin, samples: dict[str, Any]
) -> None:
    number = samples["biggestCase"]["caseNumber"]
    first = await client.call_tool("get_case_messages", {"case_number": number, "limit": 50})
    assert not first.is_error
    before = sandbox.stats()["by_route"]
    overlapping = await client.call_tool("get_case_messages", {"case_number": number, "offset": 25, "limit": 50})
    assert not overlapping.is_error
    after = sandbox.stats()["by_route"]
    bulk = [key for key in after if "bulk-fetch" in key]
    assert bulk
    # 25 of the 50 were cached: one more batch for the other 25, and no new case or id-list request.
    assert sum(after[k] for k in bulk) - sum(before.get(k, 0) for k in bulk) == 1
    assert sum(after.values()) - sum(before.values()) == 1


async def test_a_burst_of_distinct_calls_never_exceeds_ten_a_second_or_the_hourly_budget(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(rate_per_second=10, rate_per_hour=1000)
    settings = sandbox_settings(running, rate_per_second=10, rate_per_hour=30)
    outcomes: list[Any] = []

    async with Client(build_server(settings)) as client:

        async def read(number: int) -> None:
            outcomes.append(await client.call_tool("get_case", {"case_number": number}))

        async with anyio.create_task_group() as tg:
            for number in range(48000, 48200):
                tg.start_soon(read, number)

    stats = sandbox.stats()
    assert stats["rate_limited"] == 0, "the server let Sprinklr refuse a call"
    assert max_in_any_second(api_times(sandbox)) <= 10
    assert stats["requests"] <= 30
    served = [o for o in outcomes if not o.is_error]
    refused = [o for o in outcomes if o.is_error]
    assert len(served) == stats["requests"]
    assert len(outcomes) == 200
    assert refused
    for outcome in refused:
        message = text_of(outcome)
        assert "calls a second" in message or "hour" in message
        assert "try again in" in message.lower()  # says how long to wait


async def test_after_developer_over_rate_nothing_reaches_sprinklr_until_the_window_passes(
    client: Client, sandbox: SandboxAdmin
) -> None:
    # Sprinklr's own limit is lower than ours: the server learns it from the 403.
    sandbox.configure(rate_per_hour=3)
    for number in (48001, 48002, 48003):
        assert not (await client.call_tool("get_case", {"case_number": number})).is_error
    refused = await client.call_tool("get_case", {"case_number": 48004})
    assert refused.is_error
    assert "Developer Over Rate" in text_of(refused) or "rate limit" in text_of(refused).lower()
    seen = sandbox.requests()

    later = await client.call_tool("get_case", {"case_number": 48005})
    assert later.is_error
    assert "paused" in text_of(later).lower() or "over rate" in text_of(later).lower()
    assert sandbox.requests() == seen, "a request reached Sprinklr while the key was locked out"

    cached = await client.call_tool("get_case", {"case_number": 48001})
    assert not cached.is_error, "cached reads must keep working during a pause"

    status = await client.call_tool("quota_status", {})
    assert status.structured_content["quota"]["paused"] is True
    assert sandbox.requests() == seen


@pytest.mark.slow
async def test_two_server_processes_with_one_key_share_the_hourly_budget_through_the_file_ledger(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    env = server_env(
        running,
        SPRINKLR_MCP_LEDGER_PATH=str(tmp_path / "ledger.sqlite3"),
        SPRINKLR_RATE_PER_SECOND="10",
        SPRINKLR_RATE_PER_HOUR="24",
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "server", "serve"], env=env)
    refused = 0
    async with Client(params) as first, Client(params) as second:
        for i in range(20):
            for j, client in enumerate((first, second)):
                outcome = await client.call_tool("get_case", {"case_number": 48000 + 2 * i + j})
                refused += outcome.is_error
    # The two processes never went past the shared 24 calls; each case read that got through was one of them (the
    # rest were the name look-ups a first case read makes, which give way when the budget is short).
    stats = sandbox.stats()
    assert stats["requests"] == 24
    assert refused == 40 - stats["by_route"]["GET case-numbers"]
    assert stats["rate_limited"] == 0


@pytest.mark.redis
async def test_two_replicas_on_redis_share_the_hourly_budget_and_the_cache(
    running: RunningSandbox, sandbox: SandboxAdmin, redis_url: str
) -> None:
    settings = sandbox_settings(running, redis_url=redis_url, rate_per_hour=10)
    refused = 0
    async with Client(build_server(settings)) as one, Client(build_server(settings)) as two:
        assert not (await one.call_tool("get_case", {"case_number": 48500})).is_error
        # The other replica finds it in the shared cache.
        assert not (await two.call_tool("get_case", {"case_number": 48500})).is_error
        assert sandbox.stats()["by_route"]["GET case-numbers"] == 1
        # The names the first read looked up are shared too: the second replica made no request at all.
        shared = sandbox.requests()
        for number in range(48501, 48519):
            client = one if number % 2 else two
            outcome = await client.call_tool("get_case", {"case_number": number})
            refused += outcome.is_error
    stats = sandbox.stats()
    assert stats["requests"] == 10
    assert refused == 18 - (stats["by_route"]["GET case-numbers"] - 1)
    assert shared <= 3


async def test_two_servers_meeting_an_expired_token_refresh_it_once_through_the_shared_ledger(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    # Two servers with their own auth state and one ledger file behave as two processes on one machine.
    settings = sandbox_settings(running, ledger_path=str(tmp_path / "ledger.sqlite3"))
    async with Client(build_server(settings)) as one, Client(build_server(settings)) as two:
        assert not (await one.call_tool("get_case", {"case_number": 48010})).is_error
        sandbox.expire_token()
        outcomes: list[Any] = []

        async def read(client: Client, number: int) -> None:
            outcomes.append(await client.call_tool("get_case", {"case_number": number}))

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(read, one if i % 2 else two, 48011 + i)
    assert [o.is_error for o in outcomes] == [False] * 6, [text_of(o) for o in outcomes if o.is_error]
    # A refresh token works once: a second refresh would have failed and locked the other server out.
    assert sandbox.stats()["by_route"].get("POST oauth/token") == 1


async def test_the_status_resource_shows_the_quota_without_an_upstream_call(
    client: Client, sandbox: SandboxAdmin
) -> None:
    before = json.loads((await client.read_resource("sprinklr://status/quota")).contents[0].text)  # type: ignore[union-attr]
    await client.call_tool("get_case", {"case_number": 48213})
    quota = await client.read_resource("sprinklr://status/quota")
    after = json.loads(quota.contents[0].text)  # type: ignore[union-attr]
    assert after["used_this_hour"] == before["used_this_hour"] + 1
    assert sandbox.requests() == 1
