"""Error mapping end to end: Sprinklr's failures, injected by the sandbox, as the model meets them through the tools.

Every message must say what happened and what to do next, and none may carry a credential or a traceback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client
from starlette.types import ASGIApp, Receive, Scope, Send

from server.app import build_server
from server.sandbox.runner import RunningSandbox
from server.settings import Settings
from tests.conftest import SandboxAdmin, sandbox_settings, text_of

pytestmark = pytest.mark.anyio

CASE = {"case_number": 48213}
ANOTHER_CASE = {"case_number": 48001}


async def read_case(client: Client, arguments: dict[str, Any] = CASE) -> tuple[bool, str]:
    """Call get_case; return (is_error, text)."""
    result = await client.call_tool("get_case", arguments)
    return bool(result.is_error), text_of(result)


def secrets_of(running: RunningSandbox) -> list[str]:
    """Every credential the sandbox accepts, none of which may appear in anything the model reads."""
    config = running.config
    return [config.api_key, config.access_token, config.refresh_token, config.api_secret]


def assert_clean(text: str, running: RunningSandbox) -> None:
    """No credential, no traceback, no file path from a stack frame."""
    for secret in secrets_of(running):
        assert secret not in text
    assert "Traceback" not in text
    assert 'File "' not in text


@pytest.fixture
async def no_refresh_client(running: RunningSandbox, sandbox: SandboxAdmin) -> AsyncIterator[Client]:
    """A session whose server has no refresh token or API secret, so a refused token cannot be renewed."""
    settings = sandbox_settings(running, refresh_token=None, api_secret=None)
    async with Client(build_server(settings)) as session:
        yield session


# -- 401: the access token ----------------------------------------------------------------------------------------


async def test_an_expired_token_without_refresh_is_a_tool_error_that_says_how_to_fix_it(
    no_refresh_client: Client, sandbox: SandboxAdmin, running: RunningSandbox
) -> None:
    sandbox.expire_token()
    failed, text = await read_case(no_refresh_client)
    assert failed
    assert "401" in text
    assert "SPRINKLR_ACCESS_TOKEN" in text
    assert "SPRINKLR_REFRESH_TOKEN" in text
    assert_clean(text, running)
    stats = sandbox.stats()
    assert "POST oauth/token" not in stats["by_route"]
    assert stats["requests"] == 1  # no retry loop on a 401 that cannot be fixed by retrying


async def test_an_expired_token_with_refresh_configured_is_refreshed_and_the_call_succeeds(
    client: Client, sandbox: SandboxAdmin
) -> None:
    sandbox.expire_token()
    failed, text = await read_case(client)
    assert not failed, text
    assert "Case 48213" in text
    failed, _ = await read_case(client, ANOTHER_CASE)
    assert not failed
    routes = sandbox.stats()["by_route"]
    assert routes["POST oauth/token"] == 1  # the new token is kept, not refreshed again
    assert routes["GET case-numbers"] == 3  # refused, retried with the new token, then the second case


async def test_concurrent_calls_meeting_an_expired_token_refresh_it_once(client: Client, sandbox: SandboxAdmin) -> None:
    sandbox.configure(latency_ms=30)  # all the calls are in flight before the first 401 comes back
    sandbox.expire_token()
    results: dict[int, tuple[bool, str]] = {}

    async def read(number: int) -> None:
        results[number] = await read_case(client, {"case_number": number})

    async with anyio.create_task_group() as group:
        for number in range(48010, 48016):
            group.start_soon(read, number)
    assert all(not failed for failed, _ in results.values()), results
    assert sandbox.stats()["by_route"]["POST oauth/token"] == 1


async def test_a_refused_refresh_is_a_tool_error_that_asks_for_fresh_tokens(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    settings = sandbox_settings(running, refresh_token="a-refresh-token-sprinklr-no-longer-knows")
    async with Client(build_server(settings)) as session:
        sandbox.expire_token()
        failed, text = await read_case(session)
    assert failed
    assert "refresh" in text
    assert "SPRINKLR_REFRESH_TOKEN" in text
    assert "a-refresh-token-sprinklr-no-longer-knows" not in text
    assert_clean(text, running)


# -- 403 and 421: the key and the environment --------------------------------------------------------------------


async def test_a_wrong_api_key_is_developer_inactive_and_says_it_is_not_a_rate_limit(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    async with Client(build_server(sandbox_settings(running, api_key="a-key-from-another-app"))) as session:
        failed, text = await read_case(session)
    assert failed
    assert "Developer Inactive" in text
    assert "not a rate limit" in text
    assert "SPRINKLR_API_KEY" in text
    assert "a-key-from-another-app" not in text
    assert_clean(text, running)


async def test_a_rate_limit_answer_is_reported_as_a_rate_limit_with_the_wait(
    client: Client, sandbox: SandboxAdmin, running: RunningSandbox
) -> None:
    sandbox.configure(rate_per_second=1)
    assert not (await read_case(client))[0]
    failed, text = await read_case(client, ANOTHER_CASE)
    assert failed
    assert "rate limit" in text
    assert "Try again in" in text
    assert "Developer Inactive" not in text
    assert_clean(text, running)
    # The case read before the limit still comes from the cache, without asking Sprinklr.
    before = sandbox.requests()
    assert not (await read_case(client))[0]
    status = await client.call_tool("quota_status", {})
    assert sandbox.requests() == before
    assert status.structured_content is not None
    assert status.structured_content["quota"]["paused"] is True
    assert "Developer Over Rate" in status.structured_content["quota"]["pause_reason"]


async def test_the_wrong_environment_is_a_tool_error_naming_it(running: RunningSandbox, sandbox: SandboxAdmin) -> None:
    base_url = running.base_url.removesuffix("/prod2") + "/prod3"
    settings = sandbox_settings(running, env="prod3", base_url=base_url)
    async with Client(build_server(settings)) as session:
        failed, text = await read_case(session)
    assert failed
    assert "421" in text
    assert "prod3" in text
    assert "SPRINKLR_ENV" in text
    assert_clean(text, running)
    assert sandbox.stats()["log"][0]["path"].startswith("/prod3/")


# -- 5xx, broken answers: retried, then a clear error, and the next call works ---------------------------------


@pytest.mark.parametrize("kind", ["500", "502", "503", "reset", "truncated"])
async def test_one_transient_failure_is_retried_transparently(client: Client, sandbox: SandboxAdmin, kind: str) -> None:
    sandbox.configure(faults=[{"kind": kind, "count": 1}])
    failed, text = await read_case(client)
    assert not failed, text
    assert "Case 48213" in text
    statuses = [entry["status"] for entry in sandbox.stats()["log"]]
    assert len(statuses) == 2
    assert statuses[-1] == 200


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("503", "503"),
        ("500", "500"),
        ("reset", "connection"),
        ("truncated", "connection"),
    ],
)
async def test_a_persistent_failure_is_a_clear_try_again_error_and_the_next_call_works(
    client: Client, sandbox: SandboxAdmin, running: RunningSandbox, kind: str, says: str
) -> None:
    sandbox.configure(faults=[{"kind": kind, "count": 1000}])
    failed, text = await read_case(client)
    assert failed
    assert says in text
    assert "try again" in text.lower()
    assert_clean(text, running)
    attempts = sandbox.requests()
    assert 1 < attempts <= 5  # retried, and then given up rather than retried forever
    sandbox.configure(faults=[])  # Sprinklr recovers
    failed, text = await read_case(client)
    assert not failed, text  # the failure was not cached
    assert "Case 48213" in text


@pytest.mark.parametrize("kind", ["malformed_json"])
async def test_a_malformed_answer_is_a_clear_error_and_the_next_call_works(
    client: Client, sandbox: SandboxAdmin, running: RunningSandbox, kind: str
) -> None:
    sandbox.configure(faults=[{"kind": kind, "count": 1}])
    failed, text = await read_case(client)
    assert failed
    assert "not valid JSON" in text
    assert "Try again" in text
    assert_clean(text, running)
    failed, text = await read_case(client)
    assert not failed, text
    assert "Case 48213" in text


async def test_a_persistent_failure_in_a_search_is_a_clear_error_and_the_next_search_works(
    client: Client, sandbox: SandboxAdmin, running: RunningSandbox
) -> None:
    sandbox.configure(faults=[{"kind": "502", "count": 1000, "path_contains": "/search/"}])
    result = await client.call_tool("search_cases", {"status": ["Open"], "page_size": 3})
    assert result.is_error
    assert "502" in text_of(result)
    assert_clean(text_of(result), running)
    sandbox.configure(faults=[])
    result = await client.call_tool("search_cases", {"status": ["Open"], "page_size": 3})
    assert not result.is_error, text_of(result)
    assert len(result.structured_content["results"]) == 3


async def test_a_sprinklr_that_never_answers_in_time_is_a_timeout_error_naming_the_setting(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    sandbox.configure(faults=[{"kind": "slow", "count": 1000, "delay_ms": 3000}])
    async with Client(build_server(sandbox_settings(running, timeout_seconds=0.2))) as session:
        failed, text = await read_case(session)
    assert failed
    assert "in time" in text
    assert "SPRINKLR_TIMEOUT_SECONDS" in text
    assert_clean(text, running)


async def test_fields_sprinklr_leaves_out_do_not_break_a_read(client: Client, sandbox: SandboxAdmin) -> None:
    sandbox.configure(faults=[{"kind": "missing_fields", "count": 1}])
    result = await client.call_tool("get_case", CASE)
    assert not result.is_error, text_of(result)
    assert result.structured_content["case_number"] == 48213
    assert "subject" not in result.structured_content  # left out by Sprinklr, so left out here
    assert "created" not in result.structured_content


# "{...}" values are taken from the dataset (its ids and dates move with its anchor day, today by default).
UNKNOWN_FIELD_READS: list[tuple[str, dict[str, Any], str]] = [
    ("get_case", CASE, "case_number"),
    ("get_case", {"case_id": "{case_id}"}, "case_number"),
    ("get_case_messages", {"case_number": 48213, "limit": 3}, "messages"),
    ("get_message", {"message_id": "{message_id}"}, "message"),
    ("lookup_profile", {"profile_id": "{profile_id}"}, "profiles"),
    ("lookup_profile", {"email": "{email}", "cases": 5}, "cases"),
    ("search_cases", {"status": ["Open"], "page_size": 3}, "results"),
    ("search_messages", {"since": "{month_start}", "until": "{month_end}", "page_size": 3}, "results"),
]


def from_dataset(arguments: dict[str, Any], running: RunningSandbox) -> dict[str, Any]:
    """The arguments with their "{...}" placeholders filled in from the sandbox's dataset."""
    data = running.app_state.dataset
    case = data.case_by_number[48213]
    customer = next(p for p in data.profiles if "email" in p["contact"])
    middle = datetime.fromtimestamp(data.message_times[len(data.message_times) // 2] / 1000, tz=UTC)
    values = {
        "{case_id}": case["id"],
        "{message_id}": data.case_message_ids[case["id"]][0],
        "{profile_id}": data.profiles[0]["id"],
        "{email}": customer["contact"]["email"],
        "{month_start}": middle.strftime("%Y-%m-01"),
        "{month_end}": ((middle.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)).date(),
    }
    return {k: (str(values[v]) if isinstance(v, str) and v in values else v) for k, v in arguments.items()}


@pytest.mark.parametrize(
    ("tool", "arguments", "key"),
    UNKNOWN_FIELD_READS,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(UNKNOWN_FIELD_READS)],
)
async def test_fields_sprinklr_adds_to_entities_and_to_its_envelope_are_ignored(
    client: Client, sandbox: SandboxAdmin, running: RunningSandbox, tool: str, arguments: dict[str, Any], key: str
) -> None:
    # The fault adds unknown fields to every entity and a "meta" field beside "data" and "errors".
    sandbox.configure(faults=[{"kind": "unknown_fields", "count": 1000}])
    result = await client.call_tool(tool, from_dataset(arguments, running))
    assert not result.is_error, text_of(result)
    assert result.structured_content[key]
    assert "sprSandboxFutureField" not in text_of(result)


class AnswerWithoutIdOnce:
    """Sprinklr at the wire: the sandbox app in-process, except that its first answer is a case without an id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sent_broken = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.sent_broken or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.sent_broken = True
        body = json.dumps({"data": [{"caseNumber": 48213, "subject": "no id"}], "errors": []}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


async def test_an_answer_that_cannot_be_shown_is_an_error_and_is_not_cached(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    wire = AnswerWithoutIdOnce(running.app)
    async with Client(build_server(sandbox_settings(running), httpx.ASGITransport(app=wire))) as session:
        failed, text = await read_case(session)
        assert failed
        assert "malformed" in text
        assert_clean(text, running)
        failed, text = await read_case(session)
    assert not failed, text  # asked Sprinklr again rather than serving the broken answer from the cache
    assert "Case 48213" in text
    # One read of the case (the broken answer never reached the sandbox); the rest were name look-ups.
    assert sandbox.stats()["by_route"].get("GET case-numbers") == 1


# -- nothing secret, nothing internal, in any error ----------------------------------------------------------------


async def test_no_error_text_contains_a_credential_or_a_traceback(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    texts: list[str] = []

    async def collect(settings: Settings, setup: dict[str, Any] | None, name: str, arguments: dict[str, Any]) -> None:
        sandbox.reset()
        if setup:
            sandbox.configure(**setup)
        async with Client(build_server(settings)) as session:
            result = await session.call_tool(name, arguments)
        assert result.is_error
        texts.append(text_of(result))

    plain = sandbox_settings(running)
    wrong_key = sandbox_settings(running, api_key="wrong-" + running.config.api_key)
    await collect(wrong_key, None, "get_case", {"case_id": "x1"})
    await collect(plain, {"faults": [{"kind": "401", "count": 1000}]}, "get_case", CASE)
    await collect(plain, {"faults": [{"kind": "malformed_json", "count": 1}]}, "search_cases", {"page_size": 2})
    await collect(plain, {"faults": [{"kind": "503", "count": 1000}]}, "lookup_profile", {"email": "a@b.example"})
    broken = {"faults": [{"kind": "truncated", "count": 1000}]}
    await collect(plain, broken, "get_message", {"message_id": "A_1_1_B_1_1"})
    await collect(plain, None, "get_case_messages", {"case_number": 47999})
    await collect(plain, None, "search_messages", {"since": "2025-01-01", "until": "2025-12-31"})
    await collect(plain, None, "get_case", {"case_number": "not a number"})
    assert len(texts) == 8
    for text in texts:
        assert_clean(text, running)
        assert "http://" not in text  # no URL, and so no query string, reaches the model
