"""The shared cache and quota guard, end to end: MCP client sessions against the sandbox, which counts what it gets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2 as httpx
import pytest
from mcp import Client, StdioServerParameters

from server.app import build_server
from server.errors import RateLimited
from server.ledger import default_ledger_path
from server.runtime import open_app
from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, clean_env, sandbox_settings, server_env, text_of
from tests.redis_server import restartable_redis_server

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
    # Each case served was one request; the rest of the budget went to the name look-ups the first reads make
    # (those give way when the budget is short, so how many got a slot depends on timing).
    assert len(served) == stats["by_route"].get("GET case-numbers", 0)
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


# -- the quota stays shared when the environment is messy ------------------------------------------------------------

# Sprinklr's limit at the sandbox and in the servers, for the bursts below.
BURST_LIMITS = {"SPRINKLR_RATE_PER_SECOND": "10", "SPRINKLR_RATE_PER_HOUR": "100000"}


def serve(env: dict[str, str]) -> StdioServerParameters:
    """A real server process over stdio with exactly this environment."""
    return StdioServerParameters(command=sys.executable, args=["-m", "server", "serve"], env=env)


async def read_cases(client: Client, first: int, done: anyio.Event, outcomes: list[Any]) -> None:
    """Read distinct cases one after another until `done`, as one busy user of one server would."""
    number = first
    while not done.is_set():
        outcomes.append(await client.call_tool("get_case", {"case_number": number}))
        number += 1


async def stop_after(seconds: float, done: anyio.Event) -> None:
    await anyio.sleep(seconds)
    done.set()


def assert_answered_or_told_to_wait(outcomes: list[Any]) -> None:
    """Every call was answered, or refused by our guard saying how long to wait: never a bare failure."""
    for outcome in outcomes:
        if outcome.is_error:
            assert "try again in" in text_of(outcome), text_of(outcome)


async def wait_for_requests(sandbox: SandboxAdmin, count: int) -> None:
    """Until the sandbox has received `count` requests (it lives in another thread: polled, with a deadline)."""
    with anyio.fail_after(30):
        while await anyio.to_thread.run_sync(sandbox.requests) < count:  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.05)


@pytest.mark.slow
async def test_two_servers_started_by_hosts_with_different_homes_share_one_ledger(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    # As two MCP hosts start them: different HOME and XDG_CACHE_HOME, and no ledger path set. Before, each got its
    # own ledger under its XDG_CACHE_HOME and together they sent Sprinklr up to 20 calls a second. (They share the
    # account's real ledger file; the sandbox's port in the tenant id keeps this run's budget its own.)
    sandbox.configure(rate_per_second=10)
    envs = []
    for name in ("host-a", "host-b"):
        env = server_env(running, HOME=str(tmp_path / name), XDG_CACHE_HOME=str(tmp_path / name / "cache"))
        del env["SPRINKLR_MCP_LEDGER_PATH"]
        envs.append({**env, **BURST_LIMITS})
    outcomes: list[Any] = []
    done = anyio.Event()
    async with Client(serve(envs[0])) as one, Client(serve(envs[1])) as two:
        for client in (one, two):
            status = await client.call_tool("quota_status", {})
            assert status.structured_content["quota"]["ledger_path"] == str(default_ledger_path())
        async with anyio.create_task_group() as tg:
            for index, client in enumerate((one, two)):
                for worker in range(5):
                    tg.start_soon(read_cases, client, 48000 + index * 500 + worker * 100, done, outcomes)
            tg.start_soon(stop_after, 4, done)
    stats = sandbox.stats()
    assert stats["rate_limited"] == 0
    assert max_in_any_second(api_times(sandbox)) <= 10
    assert stats["requests"] >= 25  # both really did read, side by side, for seconds
    assert_answered_or_told_to_wait(outcomes)


def delete_database(path: Path) -> None:
    path.unlink()  # its -wal and -shm stay behind, still open in the running server


def delete_directory(path: Path) -> None:
    shutil.rmtree(path.parent)


@pytest.mark.slow
@pytest.mark.parametrize("cleaner", [delete_database, delete_directory], ids=["database", "directory"])
async def test_a_ledger_deleted_mid_burst_keeps_every_second_within_the_limit(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path, cleaner: Callable[[Path], None]
) -> None:
    # A server is busy when a cache cleaner deletes the ledger, and a host then starts a second server. Before, the
    # busy one kept counting in the deleted file and the new one in a new file (up to 18 calls a second and dozens
    # of 403s), or the new one failed every call with "disk I/O error" (-wal and -shm left behind).
    sandbox.configure(rate_per_second=10)
    path = tmp_path / "cache" / "ledger.sqlite3"
    env = {**server_env(running, SPRINKLR_MCP_LEDGER_PATH=str(path)), **BURST_LIMITS}
    early: list[Any] = []
    late: list[Any] = []
    done = anyio.Event()
    async with Client(serve(env)) as busy, anyio.create_task_group() as tg:
        for worker in range(5):
            tg.start_soon(read_cases, busy, 48000 + worker * 100, done, early)
        await wait_for_requests(sandbox, 10)
        cleaner(path)
        async with Client(serve(env)) as newcomer, anyio.create_task_group() as late_tg:
            # Both read side by side for a few seconds once the newcomer is up, however long it took to start.
            for worker in range(5):
                late_tg.start_soon(read_cases, newcomer, 48500 + worker * 100, done, late)
            late_tg.start_soon(stop_after, 4, done)
    stats = sandbox.stats()
    assert stats["rate_limited"] == 0
    assert max_in_any_second(api_times(sandbox)) <= 10
    assert any(not outcome.is_error for outcome in late), "the second server never got a call through"
    assert_answered_or_told_to_wait(early + late)
    assert path.exists()


@pytest.mark.redis
@pytest.mark.slow
async def test_a_redis_outage_degrades_the_quota_without_failing_a_call_and_recovers(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(rate_per_second=10)
    with restartable_redis_server() as redis:
        settings = sandbox_settings(running, redis_url=redis.url, rate_per_second=10, rate_per_hour=100_000)
        async with Client(build_server(settings)) as client:

            async def quota() -> dict[str, Any]:
                status = await client.call_tool("quota_status", {})
                assert not status.is_error, text_of(status)
                content: dict[str, Any] = status.structured_content["quota"]
                return content

            assert not (await client.call_tool("get_case", {"case_number": 48000})).is_error
            assert (await quota())["degraded"] is False
            redis.stop()
            during = [await client.call_tool("get_case", {"case_number": 48001 + n}) for n in range(25)]
            assert [text_of(o) for o in during if o.is_error] == []
            status = await quota()
            assert status["degraded"] is True
            assert status["ledger_path"] == redis.url
            assert redis.url in status["degraded_reason"]
            assert "ConnectionError" in status["degraded_reason"]
            assert status["used_this_hour"] >= 25  # this process's own count carries on

            redis.start()
            number = 48100
            with anyio.fail_after(30):
                while (await quota())["degraded"]:
                    outcome = await client.call_tool("get_case", {"case_number": number})
                    assert not outcome.is_error, text_of(outcome)
                    number += 1
                    await anyio.sleep(0.2)
            # Back on Redis, which got the hits made while it was away.
            assert (await quota())["used_this_hour"] >= 25
    assert sandbox.stats()["rate_limited"] == 0
    assert max_in_any_second(api_times(sandbox)) <= 10


def test_check_with_an_unreachable_redis_warns_in_one_line_and_still_checks_the_credentials(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    with restartable_redis_server() as redis:
        url = redis.url
    # That server has stopped: nothing answers on its port now.
    env = {**clean_env(), **server_env(running, SPRINKLR_MCP_REDIS_URL=url)}
    done = subprocess.run(
        [sys.executable, "-m", "server", "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    warning = done.stderr.strip().splitlines()
    assert len(warning) == 1, done.stderr
    assert warning[0].startswith(f"sprinklr-mcp: warning: the shared quota ledger ({url}) failed")
    assert "ConnectionError" in warning[0]
    assert done.stdout.startswith("OK: credentials work")
    assert f"Quota ledger (redis): {url} (not answering)" in done.stdout
    assert sandbox.requests() == 1


class WithoutRetryAfter(httpx.AsyncBaseTransport):
    """Sprinklr's gateway as its reference describes it: 403 "Developer Over Rate" with no Retry-After header."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if "retry-after" in response.headers:
            del response.headers["retry-after"]
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class FakeClock:
    """The quota's clock, moved by the test: an hour passes in a moment."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_over_an_hour_of_refusals_without_retry_after_sprinklr_sees_a_few_probes_at_growing_intervals(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    sandbox.configure(rate_per_hour=1)  # Sprinklr refuses everything after the first call, for the whole test
    settings = sandbox_settings(running, ledger_path=str(tmp_path / "ledger.sqlite3"), rate_per_second=10)
    clock = FakeClock(time.time())
    reached: list[float] = []
    async with open_app(settings, WithoutRetryAfter(httpx.AsyncHTTPTransport(retries=0)), clock=clock) as app:
        # A new ledger file grants nothing for one window (FileLedger._grace): on this fake clock, let it pass.
        with pytest.raises(RateLimited):
            await app.client.case_by_number(48000)
        assert sandbox.requests() == 0
        clock.now += 2
        await app.client.case_by_number(48000)
        start = clock.now
        # Someone asks for a case every 5 s for an hour; each reaching Sprinklr is refused.
        for step in range(0, 3600, 5):
            clock.now = start + step
            before = sandbox.requests()
            with pytest.raises(RateLimited):
                await app.client.case_by_number(48001 + step // 5)
            if sandbox.requests() > before:
                reached.append(step)
        # The first refusal, then one probe after each pause, each pause twice the last (pausing a minute after
        # each refusal, as before, let 60 through).
        assert reached == [0, 60, 180, 420, 900, 1860]
        assert sandbox.stats()["rate_limited"] == len(reached)
        status = await app.quota.status()
        assert (status.pause_streak, status.tripped) == (6, True)

        # Sprinklr lets calls through again: the next probe is answered and ends the streak for everyone.
        sandbox.configure(rate_per_hour=1_000_000)
        clock.now = start + 3780
        await app.client.case_by_number(48800)
        clock.now += 0.01
        await app.client.case_by_number(48801)
        assert (await app.quota.status()).pause_streak == 0
    assert sandbox.stats()["requests"] == 1 + len(reached) + 2


async def test_quota_status_and_its_resource_say_where_the_quota_is_shared(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.sqlite3"
    async with Client(build_server(sandbox_settings(running, ledger_path=str(path)))) as client:
        tool = (await client.call_tool("quota_status", {})).structured_content["quota"]
        resource = await client.read_resource("sprinklr://status/quota")
        as_json = json.loads(resource.contents[0].text)  # type: ignore[union-attr]
    for view in (tool, as_json):
        assert (view["ledger"], view["ledger_path"], view["degraded"]) == ("file", str(path), False)
        assert view.get("degraded_reason") is None
    assert sandbox.requests() == 0
