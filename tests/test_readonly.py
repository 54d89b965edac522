"""The read-only guarantee at three levels: the guard refuses every write unsent, the client has no write method,
and no tool call, good or bad, ever makes the sandbox record a write.

The guard is driven through the app's real HTTP client (auth, guard, quota, network) against the live sandbox,
which records every request it receives, so "nothing was sent" is checked where it matters: at Sprinklr's end.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
from mcp import Client

from server.errors import ReadOnlyViolation
from server.guard import ALLOW_LIST
from server.runtime import AppContext, open_app
from server.sandbox.runner import RunningSandbox
from server.settings import Settings
from server.sprinklr import SprinklrClient
from tests.conftest import SandboxAdmin, text_of

pytestmark = pytest.mark.anyio

CASE_ID = "682d5be15bf2061ee105e55e"  # case 48213 in the sandbox's dataset
PROFILE_ID = "647e23650fcf31ca8e752fdf"
MESSAGE_ID = "ACCOUNT_612562241_1747803099742_TWITTER_1_1060294339470888001"

# Every write action of the Sprinklr platform (../shared/reference/sprinklr-integration-actions.txt and the case
# creation page), each as a plausible method and path under the environment's API root.
WRITE_ACTIONS: list[tuple[str, str, str]] = [
    ("create case", "POST", "/api/v2/case"),
    ("create case (v1)", "POST", "/api/v1/case"),
    ("create case via profile", "POST", f"/api/v2/profile/{PROFILE_ID}/case"),
    ("update case", "PUT", "/api/v2/case"),
    ("update case by id", "PUT", f"/api/v2/case/{CASE_ID}"),
    ("update case by id (POST)", "POST", f"/api/v2/case/{CASE_ID}"),
    ("update case (POST /update)", "POST", "/api/v2/case/update"),
    ("patch case", "PATCH", f"/api/v2/case/{CASE_ID}"),
    ("delete case by id", "DELETE", f"/api/v2/case/{CASE_ID}"),
    ("delete case by id (POST /delete)", "POST", f"/api/v2/case/delete?id={CASE_ID}"),
    ("delete case by number", "DELETE", "/api/v2/case/case-numbers?case-number=48213"),
    ("delete case by number (GET /delete)", "GET", "/api/v2/case/delete?case-number=48213"),
    ("create profile", "POST", "/api/v2/profile"),
    ("update profile", "PUT", f"/api/v2/profile/{PROFILE_ID}"),
    ("update profile (POST)", "POST", f"/api/v2/profile/{PROFILE_ID}"),
    ("publish message", "POST", "/api/v2/publishing/message"),
    ("publish message (v2 message)", "POST", "/api/v2/message"),
    ("reply to message", "POST", f"/api/v2/message/{MESSAGE_ID}/reply"),
    ("delete message", "DELETE", f"/api/v2/message/byMessageId?messageId={MESSAGE_ID}"),
    ("add comment", "POST", "/api/v2/comment"),
    ("add comment to case", "POST", f"/api/v2/case/{CASE_ID}/comment"),
    ("upload media", "POST", "/api/v2/media/upload"),
    ("upload media in bulk", "POST", "/api/v2/media/bulk-upload"),
    ("create custom entity", "POST", "/api/v2/custom-entity/ORDER"),
    ("trigger customer journey", "POST", "/api/v2/journey/trigger"),
    ("deflect customer call", "POST", "/api/v2/voice/deflect"),
    ("generate OTA", "POST", "/api/v2/ota/generate"),
    ("bulk update cases", "POST", "/api/v2/case/bulk"),
    ("create a search (not a read entity)", "POST", "/api/v2/search/CAMPAIGN"),
    ("read a profile by an undocumented path", "GET", f"/api/v2/profile/{PROFILE_ID}"),
    ("revoke token", "DELETE", "/oauth/token"),
]

# A real path for every rule on the allow-list, to send with the methods the rule does not allow.
ALLOWED_PATHS = [
    "/api/v2/case/case-numbers?case-number=48213",
    f"/api/v2/case/associated-messages?id={CASE_ID}",
    f"/api/v2/case/{CASE_ID}",
    "/api/v2/message/bulk-fetch",
    f"/api/v2/message/byMessageId?messageId={MESSAGE_ID}",
    "/api/v2/search/CASE",
    "/oauth/token",
]

# Reads that are allowed in shape, made into something else by the path or the query.
TRICKS: list[tuple[str, str, str]] = [
    ("dot segments out of the API root", "GET", "/api/v2/case/../../../../__sandbox__/reset"),
    ("dot segments onto the case-create path", "POST", "/api/v2/search/CASE/../../case"),
    ("encoded slash in an id", "GET", "/api/v2/case/abc%2F..%2Fupdate"),
    ("encoded slash, upper case", "GET", "/api/v2/case/abc%2fdef"),
    ("encoded dot segment", "GET", "/api/v2/case/%2e%2e/update"),
    ("half-encoded dot segment", "GET", "/api/v2/case/.%2e/update"),
    ("encoded dot segments onto a profile", "GET", "/api/v2/profile/%2e%2e%2f%2e%2e%2fcase"),
    ("double slash", "GET", f"/api/v2//case/{CASE_ID}"),
    ("double slash at the root", "GET", f"//api/v2/case/{CASE_ID}"),
    ("backslash", "GET", "/api/v2/case/abc\\..\\update"),
    ("trailing slash", "GET", f"/api/v2/case/{CASE_ID}/"),
    ("matrix parameter", "GET", f"/api/v2/case/{CASE_ID};action=delete"),
    ("extra query parameter on case by id", "GET", f"/api/v2/case/{CASE_ID}?action=delete"),
    ("extra query parameter on case by number", "GET", "/api/v2/case/case-numbers?case-number=48213&delete=true"),
    ("query name in another case", "GET", "/api/v2/case/case-numbers?Case-Number=48213"),
    ("extra query parameter on search", "POST", "/api/v2/search/CASE?method=DELETE"),
    ("extra query parameter on token", "POST", "/oauth/token?grant_type=password"),
    ("lower-case search entity", "POST", "/api/v2/search/case"),
    ("reserved word as case id", "GET", "/api/v2/case/update"),
    ("v1 case search (not on the list)", "POST", "/api/v1/case/search"),
]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[AppContext]:
    """The app's shared objects against the sandbox; its `http` is the one client every tool goes through."""
    async with open_app(settings) as context:
        yield context


async def assert_refused_and_unsent(
    app: AppContext, sandbox: SandboxAdmin, method: str, url: str, **kwargs: Any
) -> ReadOnlyViolation:
    """The request raises ReadOnlyViolation, and the sandbox received nothing at all."""
    with pytest.raises(ReadOnlyViolation) as refused:
        await app.http.request(method, url, **kwargs)
    stats = sandbox.stats()
    assert stats["requests"] == 0
    assert stats["writes"] == []
    return refused.value


async def let_through(app: AppContext, requests: list[tuple[str, str, str]]) -> list[str]:
    """Send each (label, method, url) through the app's client; return the labels the guard did NOT refuse."""
    missed: list[str] = []
    for label, method, url in requests:
        try:
            await app.http.request(method, url, json={"subject": label})
        except ReadOnlyViolation as refused:
            if "nothing was sent" not in str(refused).lower():
                missed.append(f"{label}: refused without saying nothing was sent")
        except Exception as exc:  # anything else means the request went further than the guard
            missed.append(f"{label}: {type(exc).__name__}")
        else:
            missed.append(f"{label}: sent")
    return missed


def assert_nothing_reached(sandbox: SandboxAdmin) -> None:
    """The sandbox received no request at all, and so no write."""
    stats = sandbox.stats()
    assert stats["writes"] == []
    assert stats["requests"] == 0


# -- (a) the guard, through the real HTTP client, against the live sandbox ------------------------------------------


async def test_the_sandbox_records_a_write_sent_to_it_so_zero_writes_means_none_was_sent(
    running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    # A control: a write sent with a plain HTTP client (not ours) does reach the sandbox and is recorded.
    async with httpx.AsyncClient() as plain:
        response = await plain.post(f"{running.base_url}/api/v2/case", json={"subject": "x"})
    assert response.status_code == 405
    stats = sandbox.stats()
    assert stats["writes"] == [{"method": "POST", "path": "/prod2/api/v2/case"}]
    assert stats["requests"] == 1


async def test_an_allowed_read_goes_through_the_same_client(app: AppContext, sandbox: SandboxAdmin) -> None:
    # The other control: the client under test does reach the sandbox when the request is a read.
    response = await app.http.get("/api/v2/case/case-numbers", params={"case-number": "48213"})
    assert response.status_code == 200
    assert sandbox.requests() == 1


async def test_every_sprinklr_write_action_is_refused_unsent(app: AppContext, sandbox: SandboxAdmin) -> None:
    assert await let_through(app, WRITE_ACTIONS) == []
    assert_nothing_reached(sandbox)


async def test_put_patch_and_delete_on_allowed_paths_are_refused_unsent(app: AppContext, sandbox: SandboxAdmin) -> None:
    requests = [(f"{method} {path}", method, path) for path in ALLOWED_PATHS for method in ("PUT", "PATCH", "DELETE")]
    assert len(ALLOWED_PATHS) == len({rule.pattern.pattern for rule in ALLOW_LIST})  # a path for every rule
    assert await let_through(app, requests) == []
    assert_nothing_reached(sandbox)


async def test_a_method_an_allowed_path_does_not_take_is_refused_unsent(app: AppContext, sandbox: SandboxAdmin) -> None:
    requests = [
        (f"{method} {path}", method, path)
        for method, path in (
            ("POST", f"/api/v2/case/{CASE_ID}"),
            ("POST", "/api/v2/case/case-numbers?case-number=48213"),
            ("POST", f"/api/v2/case/associated-messages?id={CASE_ID}"),
            ("POST", f"/api/v2/profile/{PROFILE_ID}"),
            ("POST", f"/api/v2/message/byMessageId?messageId={MESSAGE_ID}"),
            ("GET", "/oauth/token"),
            ("HEAD", f"/api/v2/case/{CASE_ID}"),
            ("OPTIONS", "/api/v2/search/CASE"),
        )
    ]
    assert await let_through(app, requests) == []
    assert_nothing_reached(sandbox)


async def test_paths_and_queries_that_bend_an_allowed_read_are_refused_unsent(
    app: AppContext, settings: Settings, sandbox: SandboxAdmin
) -> None:
    # Absolute URLs, so each path reaches the guard exactly as written here.
    requests = [(trick, method, settings.api_root + path) for trick, method, path in TRICKS]
    assert await let_through(app, requests) == []
    assert_nothing_reached(sandbox)


async def test_another_host_scheme_port_or_environment_is_refused_unsent_even_when_it_reaches_the_same_server(
    app: AppContext, running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    read = "/api/v2/case/case-numbers?case-number=48213"
    port = running.port
    requests = [
        ("localhost", "GET", running.base_url.replace("127.0.0.1", "localhost") + read),
        ("another loopback address", "GET", running.base_url.replace("127.0.0.1", "127.0.0.2") + read),
        ("IPv6 loopback", "GET", running.base_url.replace("127.0.0.1", "[::1]") + read),
        ("https", "GET", f"https://127.0.0.1:{port}/prod2{read}"),
        ("another port", "GET", f"http://127.0.0.1:{port + 1}/prod2{read}"),
        ("another environment", "GET", running.base_url.replace("/prod2", "/prod3") + read),
        ("no environment", "GET", f"http://127.0.0.1:{port}{read}"),
        ("the sandbox admin API", "POST", f"http://127.0.0.1:{port}/__sandbox__/reset"),
    ]
    assert await let_through(app, requests) == []
    assert_nothing_reached(sandbox)


async def test_a_refusal_names_neither_a_token_nor_the_query_string(
    app: AppContext, running: RunningSandbox, sandbox: SandboxAdmin
) -> None:
    refused = await assert_refused_and_unsent(
        app, sandbox, "DELETE", f"/api/v2/case/{CASE_ID}?token={running.config.access_token}"
    )
    message = str(refused)
    assert "DELETE" in message
    for secret in (running.config.access_token, running.config.api_key):
        assert secret not in message
    assert "?" not in message


def test_the_allow_list_holds_only_gets_and_the_three_documented_read_posts() -> None:
    posts = {rule.pattern.pattern for rule in ALLOW_LIST if rule.method == "POST"}
    assert {rule.method for rule in ALLOW_LIST} == {"GET", "POST"}
    assert posts == {
        "^/api/v2/message/bulk-fetch$",
        "^/api/v2/search/(?:CASE|MESSAGE|PROFILE|USER|CUSTOM_FIELD)$",
        "^/oauth/token$",
    }


# -- (b) the client has no way to write -----------------------------------------------------------------------------

WRITE_WORDS = re.compile(
    r"create|update|delete|remove|publish|post|put|patch|upload|write|insert|modify|save|upsert|assign|comment|"
    r"send|reply|trigger|deflect|generate|add|set_|edit|close|archive|merge|import"
)


def test_the_sprinklr_client_has_no_method_whose_name_suggests_writing() -> None:
    names = [name for name, _ in inspect.getmembers(SprinklrClient, callable) if not name.startswith("__")]
    assert "case_by_number" in names  # the introspection sees the client's own methods
    writers = [name for name in names if WRITE_WORDS.search(name.lower())]
    assert writers == []


def test_the_one_request_method_of_the_client_can_only_get_or_post() -> None:
    hints = typing.get_type_hints(SprinklrClient._call)
    assert typing.get_args(hints["method"]) == ("GET", "POST")
    # And the only POSTs it makes are the documented read POSTs.
    source = inspect.getsource(SprinklrClient)
    posted = set(re.findall(r'"POST",\s*f?"([^"]+)"', source))
    # The two CASE searches are the page-numbering check of _detect_page_start: searches too.
    assert posted == {"/api/v2/message/bulk-fetch", "/api/v2/search/{entity}", "/api/v2/search/CASE"}


# -- (c) no tool call, good or bad, makes a write ---------------------------------------------------------------

EVERY_CALL: list[tuple[str, dict[str, Any]]] = [
    ("search_cases", {"status": ["Open"], "page_size": 5}),
    ("search_cases", {"brand": ["Acme Mobile"], "sort": "modified", "page_size": 3}),
    ("search_cases", {"page_size": 0}),
    ("search_cases", {"count_by": "status", "last_days": 30}),
    ("search_cases", {"offset": -1}),
    ("list_values", {}),
    ("list_values", {"field": "country"}),
    ("get_case", {"case_number": 48213, "detail": "full", "fresh": True}),
    ("get_case", {"case_number": 47999}),
    ("get_case", {"case_number": -1}),
    ("get_case", {"case_id": CASE_ID}),
    ("get_case", {"case_id": "../../case/update"}),
    ("get_case", {"case_id": "ffffffffffffffffffffffff"}),
    ("get_case_messages", {"case_number": 48213, "order": "newest_first"}),
    ("get_case_messages", {"case_id": CASE_ID, "offset": 2, "limit": 2}),
    ("get_case_messages", {}),
    ("get_message", {"message_id": MESSAGE_ID}),
    ("get_message", {"message_id": "ACCOUNT_1_1_TWITTER_1_1"}),
    ("get_message", {"message_id": "../publish"}),
    ("search_messages", {"since": "2025-05-01", "until": "2025-05-31", "text": "refund"}),
    ("search_messages", {"since": "2025-05-01"}),
    ("lookup_profile", {"email": "lucas.walker0@mail.example", "cases": 5}),
    ("lookup_profile", {"profile_id": PROFILE_ID}),
    ("lookup_profile", {"phone": "+10000000000"}),
    ("lookup_profile", {"email": "a@b.example", "phone": "+10000000000"}),
    ("quota_status", {}),
    ("delete_case", {"case_number": 48213}),
    ("update_case", {"case_number": 48213, "status": "Closed"}),
]


async def test_no_tool_call_good_or_bad_makes_the_sandbox_record_a_write(client: Client, sandbox: SandboxAdmin) -> None:
    outcomes = []
    for name, arguments in EVERY_CALL:
        result = await client.call_tool(name, arguments)
        outcomes.append(result.is_error)
        assert "Traceback" not in text_of(result)
    listing = await client.list_tools()
    assert {name for name, _ in EVERY_CALL} >= {tool.name for tool in listing.tools}
    stats = sandbox.stats()
    assert stats["writes"] == []
    assert stats["requests"] > 0  # the good calls did reach the sandbox
    assert {entry["method"] for entry in stats["log"]} <= {"GET", "POST"}
    assert "WRITE" not in stats["by_route"]
    assert any(outcomes)  # some calls were refused ...
    assert not all(outcomes)  # ... and some answered
