"""Sprinklr misbehaving, through a real MCP client session: every fault ends in data or an actionable error.

Each test injects a fault at the sandbox (5xx, resets, broken or odd bodies, slowness, expired cursors and
tokens) and checks four things: the tool answers with data or with an error that says what happened and what to
do next; nothing leaks from one call into another; the next call works; and no result carries a traceback.
The last tests feed malformed JSON-RPC to a real `serve` process over stdio.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from server.app import build_server
from server.sandbox.data import Dataset
from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, sandbox_settings, server_env, text_of

pytestmark = pytest.mark.anyio

JSON = dict[str, Any]
CASE = 48213
OTHER = 48300
TOKEN_ROUTE = "POST oauth/token"
# Every test must finish well inside this, whatever the fault: a hang is a failure too.
DEADLINE_SECONDS = 30


def checked(result: CallToolResult) -> str:
    """The result's text, after checking that no part of the result carries a Python traceback."""
    text = text_of(result)
    assert "Traceback" not in text
    assert "Traceback" not in json.dumps(result.structured_content or {})
    return text


async def call(client: Client, name: str, **arguments: Any) -> CallToolResult:
    """Call a tool under the test deadline."""
    with anyio.fail_after(DEADLINE_SECONDS):
        return await client.call_tool(name, arguments)


async def case_ok(client: Client, number: int, **arguments: Any) -> JSON:
    """get_case must succeed and return exactly the case asked for."""
    result = await call(client, "get_case", case_number=number, **arguments)
    text = checked(result)
    assert not result.is_error, text
    content = result.structured_content
    assert isinstance(content, dict)
    assert content["case_number"] == number
    return content


async def tool_error(client: Client, name: str, **arguments: Any) -> str:
    """The tool must fail as a tool error (not an exception out of the client); return its text."""
    result = await call(client, name, **arguments)
    text = checked(result)
    assert result.is_error, f"expected a tool error from {name}, got: {text[:300]}"
    return text


async def still_serving(client: Client, number: int = OTHER) -> None:
    """The session lists its tools and answers a fresh read, so one bad call did not break the server."""
    with anyio.fail_after(DEADLINE_SECONDS):
        listing = await client.list_tools()
    assert len(listing.tools) == 8
    await case_ok(client, number, fresh=True)


def statuses(sandbox: SandboxAdmin, fragment: str) -> list[int | None]:
    """The statuses the sandbox answered, in order, to requests whose path contains `fragment`."""
    return [entry["status"] for entry in sandbox.stats()["log"] if fragment in entry["path"]]


@asynccontextmanager
async def session(running: RunningSandbox, **overrides: Any) -> AsyncIterator[Client]:
    """A client session with a server built from sandbox settings plus overrides."""
    async with Client(build_server(sandbox_settings(running, **overrides))) as client:
        yield client


# -- slowness and timeouts ------------------------------------------------------------------------------------------


async def test_one_answer_slower_than_the_timeout_is_retried_transparently(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(faults=[{"kind": "slow", "count": 1, "delay_ms": 3000, "path_contains": "case-numbers"}])
    async with session(running, timeout_seconds=1) as client:
        await case_ok(client, CASE)
        # The slow attempt never answered (status None while it sleeps) or answered late; the retry answered 200.
        assert statuses(sandbox, "case-numbers")[-1] == 200
        assert len(statuses(sandbox, "case-numbers")) == 2
        await still_serving(client)


async def test_latency_beyond_the_timeout_is_an_error_naming_the_timeout_setting_and_the_next_call_works(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(latency_ms=1500)
    async with session(running, timeout_seconds=1) as client:
        started = time.monotonic()
        text = await tool_error(client, "get_case", case_number=CASE)
        assert "did not answer in time" in text
        assert "SPRINKLR_TIMEOUT_SECONDS" in text
        assert "Try again" in text
        # Three attempts of about a second each, not an open-ended wait.
        assert time.monotonic() - started < 8
        assert len(statuses(sandbox, "case-numbers")) == 3
        sandbox.configure(latency_ms=0)
        # The failure was not cached: the same case now comes back.
        await case_ok(client, CASE)
        await still_serving(client)


# -- transient failures on every route the tools read ------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """A tool call that reaches one Sprinklr route, and what its answer must hold (checked against the dataset)."""

    fragment: str
    tool: str
    arguments: JSON
    expect: Callable[[JSON], None]


def window_ms(since: str, until: str) -> tuple[int, int]:
    """The epoch-ms bounds of an inclusive day window."""
    low = datetime.fromisoformat(since).replace(tzinfo=UTC)
    high = datetime.fromisoformat(until).replace(tzinfo=UTC)
    return int(low.timestamp() * 1000), int(high.timestamp() * 1000) + 86_400_000 - 1


def busy_month(data: Dataset) -> tuple[str, str]:
    """The first and last day of a month in the middle of the data (which moves with its anchor day, today)."""
    middle = datetime.fromtimestamp(data.message_times[len(data.message_times) // 2] / 1000, tz=UTC)
    first = middle.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"


def route_reads(data: Dataset) -> dict[str, Read]:
    """One read per route a tool uses, each with its oracle."""
    case = data.case_by_number[CASE]
    ids = data.case_message_ids[case["id"]]
    message_id = ids[0]
    profile = data.profiles[0]
    email = profile["contact"]["email"]
    open_cases = {c["caseNumber"] for c in data.cases if not c["deleted"] and c["status"] == "Open"}
    month = busy_month(data)
    low, high = window_ms(*month)
    in_month = sorted(
        (m for m in data.messages if low <= m["channelCreatedTime"] <= high), key=lambda m: -m["channelCreatedTime"]
    )

    def is_case(content: JSON) -> None:
        assert content["case_number"] == CASE
        assert content["id"] == case["id"]

    def is_conversation(content: JSON) -> None:
        assert content["case_number"] == CASE
        assert content["total_messages"] == len(ids)
        assert [m["id"] for m in content["messages"]] == ids[: len(content["messages"])]
        assert content["messages"]

    def is_message(content: JSON) -> None:
        assert content["message"]["id"] == message_id

    def is_profile(content: JSON) -> None:
        assert [p["id"] for p in content["profiles"]] == [profile["id"]]

    def are_open_cases(content: JSON) -> None:
        assert content["total"] == len(open_cases)
        numbers = [row["case_number"] for row in content["results"]]
        assert len(numbers) == 3
        assert set(numbers) <= open_cases

    def are_month_messages(content: JSON) -> None:
        assert content["total"] == len(in_month)
        assert [m["id"] for m in content["results"]] == [m["messageId"] for m in in_month[:3]]

    conversation = {"case_number": CASE, "limit": 10}
    return {
        "case-numbers": Read("case-numbers", "get_case", {"case_number": CASE}, is_case),
        "case-by-id": Read(f"case/{case['id']}", "get_case", {"case_id": case["id"]}, is_case),
        "associated-messages": Read("associated-messages", "get_case_messages", conversation, is_conversation),
        "bulk-fetch": Read("bulk-fetch", "get_case_messages", conversation, is_conversation),
        "byMessageId": Read("byMessageId", "get_message", {"message_id": message_id}, is_message),
        # A profile by id is a PROFILE search on `id` (the documented way), so it shares search-PROFILE's route.
        "profile-by-id": Read("search/PROFILE", "lookup_profile", {"profile_id": profile["id"]}, is_profile),
        "search-PROFILE": Read("search/PROFILE", "lookup_profile", {"email": email}, is_profile),
        "search-CASE": Read("search/CASE", "search_cases", {"status": ["Open"], "page_size": 3}, are_open_cases),
        "search-MESSAGE": Read(
            "search/MESSAGE",
            "search_messages",
            {"since": month[0], "until": month[1], "page_size": 3},
            are_month_messages,
        ),
    }


ROUTES = [
    "case-numbers",
    "case-by-id",
    "associated-messages",
    "bulk-fetch",
    "byMessageId",
    "profile-by-id",
    "search-PROFILE",
    "search-CASE",
    "search-MESSAGE",
]


@pytest.fixture
def data(running: RunningSandbox) -> Dataset:
    """The dataset the sandbox serves: the oracle answers are checked against."""
    return running.app_state.dataset


async def read_ok(client: Client, read: Read) -> JSON:
    """Make the read; it must succeed and match its oracle."""
    result = await call(client, read.tool, **read.arguments)
    text = checked(result)
    assert not result.is_error, text
    assert isinstance(result.structured_content, dict)
    read.expect(result.structured_content)
    return result.structured_content


@pytest.mark.parametrize("kind", ["503", "reset", "truncated"])
@pytest.mark.parametrize("route", ROUTES)
async def test_one_transient_failure_on_any_route_is_retried_transparently_with_the_right_answer(
    client: Client, sandbox: SandboxAdmin, data: Dataset, route: str, kind: str
) -> None:
    read = route_reads(data)[route]
    sandbox.configure(faults=[{"kind": kind, "count": 1, "path_contains": read.fragment}])
    await read_ok(client, read)
    seen = statuses(sandbox, read.fragment)
    # The failed attempt and its retry, POSTs (search, bulk-fetch) included: they only read. (A conversation's
    # ids are read until a page brings nothing new, so that route sees one more request after the retry.)
    stats = sandbox.stats()
    # Seen to fail once in about ten full runs (no failed attempt among the statuses), never alone: say everything.
    evidence = (
        f"statuses {seen}; pending {stats['faults_pending']}; log {[(e['path'], e['status']) for e in stats['log']]}"
    )
    assert len([status for status in seen if status != 200]) == 1, evidence
    assert seen[1] == 200
    assert len(seen) == (3 if route == "associated-messages" else 2)
    assert sandbox.stats()["faults_pending"] == []
    await still_serving(client)


@pytest.mark.parametrize("route", ROUTES)
async def test_a_persistent_502_on_any_route_is_a_clear_error_without_upstream_html_and_the_next_call_works(
    client: Client, sandbox: SandboxAdmin, data: Dataset, route: str
) -> None:
    read = route_reads(data)[route]
    sandbox.configure(faults=[{"kind": "502", "count": 1000, "path_contains": read.fragment}])
    text = await tool_error(client, read.tool, **read.arguments)
    assert "Sprinklr answered 502 (a server error)" in text
    assert "after retries" in text
    assert "Try again" in text
    assert "<" not in text
    assert "Bad Gateway" not in text
    assert len(statuses(sandbox, read.fragment)) == 3
    sandbox.configure(faults=[])
    await read_ok(client, read)
    await still_serving(client)


@pytest.mark.parametrize("route", ROUTES)
async def test_malformed_json_on_any_route_is_an_error_that_says_so_and_is_not_cached(
    client: Client, sandbox: SandboxAdmin, data: Dataset, route: str
) -> None:
    read = route_reads(data)[route]
    sandbox.configure(faults=[{"kind": "malformed_json", "count": 1, "path_contains": read.fragment}])
    text = await tool_error(client, read.tool, **read.arguments)
    assert "not valid JSON" in text
    assert "Try again" in text
    assert "<!--" not in text
    # The broken answer was not kept: the same read now gets the right answer from a second request (a
    # conversation's ids are read until a page brings nothing new: one request more).
    await read_ok(client, read)
    assert len(statuses(sandbox, read.fragment)) == (3 if route == "associated-messages" else 2)
    await still_serving(client)


@pytest.mark.parametrize(
    "route", ["associated-messages", "bulk-fetch", "search-CASE", "search-PROFILE", "search-MESSAGE"]
)
async def test_answers_missing_documented_fields_on_lists_still_list_every_entity(
    client: Client, sandbox: SandboxAdmin, data: Dataset, route: str
) -> None:
    read = route_reads(data)[route]
    sandbox.configure(faults=[{"kind": "missing_fields", "count": 1, "path_contains": read.fragment}])
    await read_ok(client, read)
    assert sandbox.stats()["faults_pending"] == []
    await still_serving(client)


# -- search cursors -------------------------------------------------------------------------------------------------


async def test_an_expired_search_cursor_is_rerun_transparently_and_gives_the_next_page_without_duplicates(
    client: Client, sandbox: SandboxAdmin
) -> None:
    # A zero lifetime: every cursor the sandbox issues has already expired when it is used. No sleep needed.
    sandbox.configure(cursor_ttl_seconds=0)
    first = await call(client, "search_cases", status=["Open", "Pending"], page_size=5)
    assert not first.is_error, checked(first)
    assert first.structured_content is not None
    following = first.structured_content["next"]
    assert following["tool"] == "search_cases"
    assert following["arguments"]["offset"] == 5
    assert 'Next page: search_cases {"status":["Open","Pending"],"offset":5,"page_size":5}' in checked(first)
    second = await call(client, "search_cases", **following["arguments"])
    assert not second.is_error, checked(second)
    assert second.structured_content is not None
    # Sprinklr refused the expired cursor (400) and the same search was re-run from position 6.
    seen = statuses(sandbox, "search/CASE")
    assert 400 in seen
    after = seen[seen.index(400) + 1 :]
    assert after
    assert all(status == 200 for status in after)
    reference = await call(client, "search_cases", status=["Open", "Pending"], page_size=10)
    assert reference.structured_content is not None
    page_one = [row["case_number"] for row in first.structured_content["results"]]
    page_two = [row["case_number"] for row in second.structured_content["results"]]
    expected = [row["case_number"] for row in reference.structured_content["results"]]
    assert page_one == expected[:5]
    assert page_two == expected[5:10]
    assert not set(page_one) & set(page_two)
    assert second.structured_content["offset"] == 5
    assert second.structured_content["total"] == reference.structured_content["total"]
    assert "expired" not in checked(second).lower()


async def test_an_expired_message_search_cursor_continues_at_the_right_position(
    client: Client, sandbox: SandboxAdmin, data: Dataset
) -> None:
    sandbox.configure(cursor_ttl_seconds=0)
    month = busy_month(data)
    arguments = {"since": month[0], "until": month[1], "page_size": 4}
    first = await call(client, "search_messages", **arguments)
    assert first.structured_content is not None
    second = await call(client, "search_messages", **first.structured_content["next"]["arguments"])
    assert not second.is_error, checked(second)
    assert second.structured_content is not None
    low, high = window_ms(*month)
    in_month = sorted(
        (m for m in data.messages if low <= m["channelCreatedTime"] <= high), key=lambda m: -m["channelCreatedTime"]
    )
    expected = [m["messageId"] for m in in_month[:8]]
    ids = [m["id"] for m in first.structured_content["results"] + second.structured_content["results"]]
    assert ids == expected
    assert 400 in statuses(sandbox, "search/MESSAGE")


# -- tokens ---------------------------------------------------------------------------------------------------------


async def test_a_stray_401_mid_session_with_refresh_settings_refreshes_once_and_later_calls_use_the_new_token(
    client: Client, sandbox: SandboxAdmin
) -> None:
    await case_ok(client, CASE)
    sandbox.configure(faults=[{"kind": "401", "count": 1, "path_contains": "case-numbers"}])
    await case_ok(client, OTHER)
    assert sandbox.stats()["by_route"].get(TOKEN_ROUTE) == 1
    # The refresh rotated the tokens: the old access token no longer works, so later reads prove the new one is used.
    for number in (48400, 48401, 48402):
        await case_ok(client, number)
    assert sandbox.stats()["by_route"].get(TOKEN_ROUTE) == 1
    await still_serving(client)


async def test_a_stray_401_without_refresh_settings_is_an_error_naming_the_variables_and_the_next_call_works(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(faults=[{"kind": "401", "count": 1, "path_contains": "case-numbers"}])
    async with session(running, refresh_token=None, api_secret=None) as client:
        text = await tool_error(client, "get_case", case_number=CASE)
        assert "401" in text
        assert "SPRINKLR_ACCESS_TOKEN" in text
        assert "SPRINKLR_REFRESH_TOKEN" in text
        assert "SPRINKLR_API_SECRET" in text
        assert sandbox.stats()["by_route"].get(TOKEN_ROUTE) is None
        await case_ok(client, CASE)
        await still_serving(client)


async def test_an_expired_token_without_refresh_settings_fails_each_call_once_until_a_valid_token_returns(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    async with session(running, refresh_token=None, api_secret=None) as client:
        await case_ok(client, CASE)
        sandbox.expire_token()
        for number in (OTHER, 48400):
            text = await tool_error(client, "get_case", case_number=number)
            assert "SPRINKLR_ACCESS_TOKEN" in text
        # One request per call: a 401 that no refresh can fix is not retried.
        assert len(statuses(sandbox, "case-numbers")) == 3
        assert sandbox.stats()["by_route"].get(TOKEN_ROUTE) is None
        # The session survives; once the token works again (here: the sandbox restores it), so do the tools.
        sandbox.reset()
        await case_ok(client, OTHER)
        await still_serving(client)


async def test_a_refused_refresh_is_a_clear_error_and_releases_the_refresh_for_the_next_call(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    async with session(running, refresh_token="wrong-refresh-token", api_secret=running.config.api_secret) as client:
        await case_ok(client, CASE)
        sandbox.expire_token()
        text = await tool_error(client, "get_case", case_number=OTHER)
        assert "refused the token refresh" in text
        assert "SPRINKLR_ACCESS_TOKEN" in text
        assert "SPRINKLR_REFRESH_TOKEN" in text
        # The failed refresh left no lock behind: the next call tries again (and fails the same way) promptly.
        text = await tool_error(client, "get_case", case_number=48400)
        assert "refused the token refresh" in text
        assert sandbox.stats()["by_route"].get(TOKEN_ROUTE) == 2
        sandbox.reset()
        await case_ok(client, 48400)
        await still_serving(client)


async def test_a_refresh_whose_connection_breaks_is_an_error_and_the_next_call_refreshes(
    client: Client, sandbox: SandboxAdmin
) -> None:
    await case_ok(client, CASE)
    sandbox.expire_token()
    sandbox.configure(faults=[{"kind": "reset", "count": 3, "path_contains": "oauth/token"}])
    text = await tool_error(client, "get_case", case_number=OTHER)
    assert "connection failed or broke" in text
    # The refresh token was never used (the sandbox never answered), so the next call refreshes with it.
    await case_ok(client, OTHER)
    assert statuses(sandbox, "oauth/token")[-1] == 200
    await still_serving(client)


async def test_a_refresh_meeting_a_sprinklr_outage_says_try_again_not_replace_the_tokens(
    client: Client, sandbox: SandboxAdmin
) -> None:
    await case_ok(client, CASE)
    sandbox.expire_token()
    sandbox.configure(faults=[{"kind": "503", "count": 3, "path_contains": "oauth/token"}])
    text = await tool_error(client, "get_case", case_number=OTHER)
    assert "503" in text
    assert "try again" in text.lower()
    # An outage says nothing about the refresh token: nobody should be sent to replace it.
    assert "revoked" not in text
    assert "SPRINKLR_REFRESH_TOKEN" not in text
    await case_ok(client, OTHER)
    assert statuses(sandbox, "oauth/token")[-1] == 200
    await still_serving(client)


# -- isolation under faults -----------------------------------------------------------------------------------------


async def test_concurrent_calls_under_mixed_faults_each_get_their_own_case_or_a_clean_error(
    client: Client, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(
        faults=[
            {"kind": "500", "count": 3},
            {"kind": "reset", "count": 3},
            {"kind": "truncated", "count": 3},
            {"kind": "502", "count": 2},
            {"kind": "unknown_fields", "count": 3},
            {"kind": "missing_fields", "count": 2},
        ]
    )
    numbers = list(range(48600, 48616))
    outcomes: dict[int, CallToolResult] = {}

    async def read(number: int) -> None:
        outcomes[number] = await call(client, "get_case", case_number=number)

    async with anyio.create_task_group() as tg:
        for number in numbers:
            tg.start_soon(read, number)
    succeeded = 0
    for number, result in outcomes.items():
        text = checked(result)
        if result.is_error:
            assert str(number) in text, text
            assert "after retries" in text, text
            continue
        succeeded += 1
        assert result.structured_content is not None
        assert result.structured_content["case_number"] == number
        assert f"Case {number} " in text
        # Another case's number never appears in this case's answer.
        assert not any(str(other) in text for other in numbers if other != number)
    # 16 faults for 16 reads with 3 attempts each: most reads get through.
    assert succeeded >= len(numbers) - 4
    assert sandbox.stats()["faults_pending"] == []
    for number in numbers:
        await case_ok(client, number)


async def test_concurrent_conversation_reads_under_faults_never_mix_messages_of_different_cases(
    client: Client, sandbox: SandboxAdmin, data: Dataset
) -> None:
    sandbox.configure(
        faults=[
            {"kind": "truncated", "count": 2, "path_contains": "bulk-fetch"},
            {"kind": "reset", "count": 2, "path_contains": "associated-messages"},
            {"kind": "503", "count": 2, "path_contains": "bulk-fetch"},
        ]
    )
    numbers = [48000, 48100, 48200, 48300, 48400, 48500]
    outcomes: dict[int, JSON] = {}

    async def read(number: int) -> None:
        result = await call(client, "get_case_messages", case_number=number, limit=20)
        assert not result.is_error, checked(result)
        assert result.structured_content is not None
        outcomes[number] = result.structured_content

    async with anyio.create_task_group() as tg:
        for number in numbers:
            tg.start_soon(read, number)
    for number in numbers:
        ids = data.case_message_ids[data.case_by_number[number]["id"]]
        assert outcomes[number]["case_number"] == number
        assert [m["id"] for m in outcomes[number]["messages"]] == ids[:20]
    assert sandbox.stats()["faults_pending"] == []


async def test_a_failing_call_for_one_case_never_answers_a_concurrent_call_for_another(
    client: Client, sandbox: SandboxAdmin, data: Dataset
) -> None:
    sandbox.configure(faults=[{"kind": "503", "count": 1000, "path_contains": "case-numbers"}])
    other = data.case_by_number[OTHER]
    outcomes: dict[str, CallToolResult] = {}

    async def failing() -> None:
        outcomes["failing"] = await call(client, "get_case", case_number=CASE)

    async def working() -> None:
        # Case by id does not touch the failing route.
        outcomes["working"] = await call(client, "get_case", case_id=other["id"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(failing)
        tg.start_soon(working)
    assert outcomes["failing"].is_error
    assert str(CASE) in checked(outcomes["failing"])
    assert str(OTHER) not in checked(outcomes["failing"])
    assert not outcomes["working"].is_error, checked(outcomes["working"])
    assert outcomes["working"].structured_content is not None
    assert outcomes["working"].structured_content["case_number"] == OTHER


# -- malformed JSON-RPC over stdio -------------------------------------------------------------------------------------


class StdioServer:
    """`python -m server serve` as a child process, spoken to in raw JSON-RPC lines."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def send(self, line: str) -> None:
        """Write one line to the server's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def request(self, message: JSON) -> None:
        """Write one JSON-RPC message."""
        self.send(json.dumps(message))

    def receive(self, timeout: float = 5.0) -> JSON | None:
        """The next line from stdout as JSON, or None if nothing comes within `timeout` seconds."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.process.stdout.readline()
        if not line:
            return None
        message: JSON = json.loads(line)
        return message

    def initialize(self) -> None:
        """The handshake an MCP client starts every stdio session with."""
        self.request(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": LATEST_HANDSHAKE_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "test-faults", "version": "0"},
                },
            }
        )
        answer = self.receive(20)
        assert answer is not None
        assert answer.get("id") == 1, answer
        assert "result" in answer, answer
        self.request({"jsonrpc": "2.0", "method": "notifications/initialized"})


@contextmanager
def stdio_server(running: RunningSandbox) -> Iterator[StdioServer]:
    """A `serve` process over stdio, initialized, and stopped at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"],
        env=server_env(running),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    try:
        server = StdioServer(process)
        server.initialize()
        yield server
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


GARBAGE_LINES = ["this is not json", '{"jsonrpc": "2.0", "id": 5, "nope": true}', "[1, 2", '{"foo": "bar"}']


@pytest.mark.slow
def test_garbage_on_stdin_does_not_stop_the_stdio_server_from_answering_the_next_requests(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    with stdio_server(running) as server:
        for line in GARBAGE_LINES:
            server.send(line)
        call_case = {"name": "get_case", "arguments": {"case_number": CASE}}
        server.request({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": call_case})
        # Whatever the server says about the garbage (nothing, today), the valid request gets its answer.
        answer = server.receive(20)
        while answer is not None and answer.get("id") != 10:
            assert "error" in answer, answer
            answer = server.receive(20)
        assert answer is not None
        assert answer["result"]["structuredContent"]["case_number"] == CASE
        assert "Traceback" not in json.dumps(answer)
        server.request({"jsonrpc": "2.0", "id": 11, "method": "tools/list"})
        listing = server.receive(20)
        assert listing is not None
        assert listing["id"] == 11
        assert len(listing["result"]["tools"]) == 8
        assert server.process.poll() is None


@pytest.mark.slow
def test_each_malformed_json_rpc_line_on_stdin_gets_a_parse_or_invalid_request_error(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    with stdio_server(running) as server:
        server.send("this is not json")
        parse_error = server.receive(2)
        assert parse_error is not None
        assert parse_error["error"]["code"] == -32700
        assert parse_error["id"] is None
        server.request({"jsonrpc": "2.0", "id": 5, "nope": True})
        invalid = server.receive(2)
        assert invalid is not None
        assert invalid["error"]["code"] in (-32600, -32700)
        server.request({"jsonrpc": "2.0", "id": 9, "method": "ping"})
        assert server.receive(5) == {"jsonrpc": "2.0", "id": 9, "result": {}}
        assert server.process.poll() is None


@pytest.mark.slow
def test_a_request_with_a_null_id_gets_an_invalid_request_error_with_id_null(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    with stdio_server(running) as server:
        for method, params in [("tools/list", {}), ("ping", None), ("tools/call", {"name": "quota_status"})]:
            message: JSON = {"jsonrpc": "2.0", "id": None, "method": method}
            if params is not None:
                message["params"] = params
            server.request(message)
            answer = server.receive(5)
            assert answer is not None, f"no answer to {method} with id null"
            assert answer["id"] is None
            assert answer["error"]["code"] == -32600
            assert "null id" in answer["error"]["message"]
        # A notification (no id at all) is still never answered: the next line out is the ping's answer.
        server.request({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
        server.request({"jsonrpc": "2.0", "id": 9, "method": "ping"})
        assert server.receive(5) == {"jsonrpc": "2.0", "id": 9, "result": {}}
        # A null elsewhere in a request is the request's business, not its id's.
        call = {"name": "get_case", "arguments": {"case_number": None}}
        server.request({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": call})
        answer = server.receive(20)
        assert answer is not None
        assert answer["id"] == 12
        assert answer["result"]["isError"] is True
        assert server.process.poll() is None
