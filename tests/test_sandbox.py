"""The local Sprinklr sandbox, exercised over real HTTP on loopback as a client would meet it."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest

from server.sandbox import RunningSandbox, Sandbox, SandboxConfig, create_app, generate, running_sandbox
from server.sandbox.data import BRAND_FIELD, Dataset

# Generous limits so that only the rate-limit tests ever meet them; /reset restores these.
CONFIG = SandboxConfig(rate_per_second=10_000, rate_per_hour=1_000_000)
AUTH = {"Key": CONFIG.api_key, "Authorization": f"Bearer {CONFIG.access_token}"}
DOCUMENTED_TYPES = {"TWITTER": {1, 2, 3, 5, 7, 8}, "FACEBOOK": {14, 15, 38, 97}, "INSTAGRAM": {36, 37, 306, 320}}
DOCUMENTED_TYPES["LINKEDIN"] = {16, 69, 70}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """One sandbox for the module; each test starts from its reset state."""
    with running_sandbox(CONFIG) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sandbox: RunningSandbox) -> None:
    """Reset logs, limits, faults and tokens before every test."""
    httpx2.post(f"{sandbox.admin_url}/reset").raise_for_status()


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx2.Client]:
    """A client with valid credentials, rooted at the environment's base URL."""
    with httpx2.Client(base_url=sandbox.base_url, headers=AUTH, timeout=10) as client:
        yield client


@pytest.fixture
def data(sandbox: RunningSandbox) -> Dataset:
    """The dataset the sandbox serves, to check answers against."""
    return sandbox.app_state.dataset


def admin(sandbox: RunningSandbox, path: str, body: Any = None) -> Any:
    """Call the admin API and return its JSON."""
    url = f"{sandbox.admin_url}/{path}"
    response = httpx2.get(url) if body is None else httpx2.post(url, json=body)
    response.raise_for_status()
    return response.json()


def search(api: httpx2.Client, entity: str, body: dict[str, Any]) -> httpx2.Response:
    """POST a search."""
    return api.post(f"/api/v2/search/{entity}", json=body)


def leaf(kind: str, key: str, *values: Any) -> dict[str, Any]:
    """A leaf filter."""
    return {"type": kind, "key": key, "values": list(values)}


def case_numbers(response: httpx2.Response) -> list[int]:
    """Case numbers in a search response."""
    assert response.status_code == 200, response.text
    return [c["caseNumber"] for c in response.json()["data"]["results"]]


# -- gateway: key, token, environment -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "someone-elses-key"])
def test_missing_or_wrong_key_is_developer_inactive(sandbox: RunningSandbox, key: str | None) -> None:
    headers = {"Authorization": AUTH["Authorization"]} | ({"Key": key} if key else {})
    response = httpx2.get(f"{sandbox.base_url}/api/v2/case/case-numbers?case-number=48213", headers=headers)
    assert response.status_code == 403
    assert response.text == "<h1>Developer Inactive</h1>"
    assert response.headers["X-Mashery-Error-Code"] == "ERR_403_DEVELOPER_INACTIVE"


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token", "sandbox-access-token"])
def test_missing_or_wrong_bearer_token_is_401(sandbox: RunningSandbox, authorization: str | None) -> None:
    headers = {"Key": CONFIG.api_key} | ({"Authorization": authorization} if authorization else {})
    response = httpx2.get(f"{sandbox.base_url}/api/v2/case/48213", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"code": 401, "message": "Unauthorized: invalid or expired token"}]}


def test_another_environment_answers_421(sandbox: RunningSandbox) -> None:
    url = sandbox.base_url.replace("/prod2", "/prod3") + "/api/v2/case/case-numbers?case-number=48213"
    response = httpx2.get(url, headers=AUTH)
    assert response.status_code == 421
    assert response.json()["errors"][0]["message"] == "API key is not valid for environment prod3"


# -- cases ----------------------------------------------------------------------------------------------------------


def test_case_by_number_returns_a_one_element_list(api: httpx2.Client) -> None:
    response = api.get("/api/v2/case/case-numbers", params={"case-number": 48213})
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] == []
    [case] = body["data"]
    assert case["caseNumber"] == 48213
    assert {"id", "subject", "description", "status", "priority", "caseType", "workflow", "contact"} <= set(case)
    assert len(case["id"]) == 24
    assert case["workflow"]["customProperties"]["spr_uc_status"] == [case["status"]]


def test_case_numbers_may_repeat_or_be_comma_separated(api: httpx2.Client) -> None:
    repeated = api.get("/api/v2/case/case-numbers", params=[("case-number", "48001"), ("case-number", "48002")])
    listed = api.get("/api/v2/case/case-numbers?case-number=48001,48002")
    assert [c["caseNumber"] for c in repeated.json()["data"]] == [48001, 48002]
    assert listed.json() == repeated.json()


def test_unknown_case_number_is_404_and_a_non_integer_is_400(api: httpx2.Client) -> None:
    missing = api.get("/api/v2/case/case-numbers", params={"case-number": 1})
    assert missing.status_code == 404
    assert missing.json() == {"data": None, "errors": [{"code": 404, "message": "Case not found"}]}
    bad = api.get("/api/v2/case/case-numbers", params={"case-number": "abc"})
    assert bad.status_code == 400
    assert "case-number" in bad.json()["errors"][0]["message"]


def test_case_by_id(api: httpx2.Client, data: Dataset) -> None:
    case = data.case_by_number[48213]
    response = api.get(f"/api/v2/case/{case['id']}")
    assert response.status_code == 200
    assert response.json()["data"] == case
    assert api.get("/api/v2/case/000000000000000000000000").status_code == 404


def test_associated_messages_page_by_time_cursor(api: httpx2.Client, data: Dataset, sandbox: RunningSandbox) -> None:
    biggest = admin(sandbox, "dataset")["biggestCase"]
    collected: list[str] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"id": biggest["id"]} | ({"cursor": cursor} if cursor is not None else {})
        response = api.get("/api/v2/case/associated-messages", params=params)
        assert response.status_code == 200
        page = response.json()
        assert isinstance(page, list)  # a bare array, no envelope
        assert len(page) <= CONFIG.associated_page_size
        if not page:
            break
        collected.extend(page)
        cursor = int(page[-1].split("_")[2])  # channelCreatedTime is the id's third part
    assert len(collected) == biggest["messages"] >= 450
    assert len(set(collected)) == len(collected)
    times = [data.message_by_id[i]["channelCreatedTime"] for i in collected]
    assert times == sorted(times)


def test_associated_messages_of_an_unknown_case_is_404(api: httpx2.Client) -> None:
    assert api.get("/api/v2/case/associated-messages", params={"id": "nope"}).status_code == 404


# -- messages and profiles ------------------------------------------------------------------------------------------


def test_bulk_fetch_keeps_request_order_and_lists_unknown_ids(api: httpx2.Client, data: Dataset) -> None:
    ids = data.case_message_ids[data.case_by_number[48213]["id"]][:3]
    response = api.post("/api/v2/message/bulk-fetch", json=[ids[2], "ACCOUNT_1_2_TWITTER_5_3", ids[0]])
    assert response.status_code == 200
    body = response.json()
    assert [m["messageId"] for m in body["data"]] == [ids[2], ids[0]]
    assert body["errors"] == [{"code": 404, "message": "Message not found", "id": "ACCOUNT_1_2_TWITTER_5_3"}]
    assert "caseId" not in body["data"][0]


def test_bulk_fetch_over_the_limit_is_400_naming_it(api: httpx2.Client) -> None:
    response = api.post("/api/v2/message/bulk-fetch", json=[f"id{i}" for i in range(101)])
    assert response.status_code == 400
    assert "100" in response.json()["errors"][0]["message"]


def test_message_by_id_and_profile_by_id(api: httpx2.Client, data: Dataset) -> None:
    message = data.messages[0]
    got = api.get("/api/v2/message/byMessageId", params={"messageId": message["messageId"]})
    assert got.json()["data"] == message
    assert api.get("/api/v2/message/byMessageId", params={"messageId": "x"}).status_code == 404
    profile = data.profiles[0]
    assert api.get(f"/api/v2/profile/{profile['id']}").json()["data"] == profile
    assert api.get("/api/v2/profile/unknown").status_code == 404


# -- search ---------------------------------------------------------------------------------------------------------


def test_case_search_by_date_range_with_count_and_sort(api: httpx2.Client, data: Dataset) -> None:
    since, until = 1740787200000, 1743465600000  # March 2025
    body = {
        "filter": {
            "type": "AND",
            "filters": [
                leaf("EQUALS", "deleted", False),
                leaf("GTE", "createdTime", since),
                leaf("LTE", "createdTime", until),
            ],
        },
        "sorts": [{"key": "createdTime", "order": "DESC"}],
        "page": {"start": 1, "size": 100},
        "includeCount": True,
    }
    response = search(api, "CASE", body)
    expected = [c for c in data.cases if not c["deleted"] and since <= c["createdTime"] <= until]
    assert response.json()["data"]["totalCount"] == len(expected) > 0
    times = [c["createdTime"] for c in response.json()["data"]["results"]]
    assert times == sorted(times, reverse=True)


def test_case_search_on_custom_fields_with_or_not_and_nin(api: httpx2.Client, data: Dataset) -> None:
    brand_key = f"workflow.customProperties.{BRAND_FIELD}"
    status_key = "workflow.customProperties.spr_uc_status"
    body = {
        "filter": {
            "type": "AND",
            "filters": [
                {
                    "type": "OR",
                    "filters": [leaf("EQUALS", brand_key, "Acme Mobile"), leaf("IN", brand_key, "Contoso Cloud")],
                },
                {"type": "NOT", "filters": [leaf("EQUALS", status_key, "Closed")]},
                leaf("NIN", "workflow.customProperties.spr_uc_priority", "Low"),
            ],
        },
        "page": {"size": 100},
        "includeCount": True,
    }
    expected = {
        c["caseNumber"]
        for c in data.cases
        if c["workflow"]["customProperties"][BRAND_FIELD][0] in ("Acme Mobile", "Contoso Cloud")
        and c["status"] != "Closed"
        and c["priority"] != "Low"
    }
    response = search(api, "CASE", body)
    assert response.json()["data"]["totalCount"] == len(expected)
    assert set(case_numbers(response)) <= expected


def test_other_cases_by_the_same_customer_via_contact_channel_id(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    regular = admin(sandbox, "dataset")["profiles"]["repeatCustomers"][0]
    body = {"filter": leaf("EQUALS", "contact.channelId", regular["channelId"]), "includeCount": True}
    response = search(api, "CASE", body)
    assert response.json()["data"]["totalCount"] == regular["cases"] >= 5


def test_case_search_comparisons_on_numbers(api: httpx2.Client) -> None:
    body = {
        "filter": {"type": "AND", "filters": [leaf("GT", "caseNumber", 48010), leaf("LT", "caseNumber", "48015")]},
        "sorts": [{"key": "caseNumber", "order": "ASC"}],
    }
    assert case_numbers(search(api, "CASE", body)) == [48011, 48012, 48013, 48014]
    not_equal = search(api, "CASE", {"filter": leaf("NOT_EQUALS", "caseNumber", 48000), "includeCount": True})
    assert not_equal.json()["data"]["totalCount"] == 999


@pytest.mark.parametrize(
    ("entity", "filter_", "message"),
    [
        ("CASE", leaf("EQUALS", "x", 1), "Unsupported filter key 'x' for CASE"),
        ("CASE", leaf("GT", "deleted", True), "Operator GT not supported for key deleted"),
        ("PROFILE", leaf("EQUALS", "channelType", "TWITTER"), "Operator EQUALS not supported for key channelType"),
        ("CASE", {"type": "XOR", "filters": []}, "Unsupported filter type 'XOR'"),
    ],
)
def test_invalid_filters_are_400(api: httpx2.Client, entity: str, filter_: dict[str, Any], message: str) -> None:
    body: dict[str, Any] = {"filter": filter_}
    if entity == "MESSAGE":
        body["timeFilter"] = {"key": "channelCreatedTime", "since": "2025-01", "until": "2026-11"}
    response = search(api, entity, body)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"code": 400, "message": message}]}


@pytest.mark.parametrize("size", [0, 101, "10"])
def test_page_size_outside_1_to_100_is_400(api: httpx2.Client, size: Any) -> None:
    assert search(api, "CASE", {"page": {"size": size}}).status_code == 400


def test_message_search_requires_a_time_filter(api: httpx2.Client) -> None:
    response = search(api, "MESSAGE", {"filter": leaf("EQUALS", "brandPost", False)})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "timeFilter is required for MESSAGE search"


def test_message_search_finds_injection_text_case_insensitively(api: httpx2.Client, data: Dataset) -> None:
    body = {
        "filter": {
            "type": "AND",
            "filters": [
                leaf("SEARCH", "content.text", "IGNORE PREVIOUS INSTRUCTIONS"),
                leaf("EQUALS", "brandPost", "false"),
            ],
        },
        "timeFilter": {"key": "channelCreatedTime", "since": "2025-01", "until": "2026-12"},
        "page": {"size": 100},
        "includeCount": True,
    }
    response = search(api, "MESSAGE", body)
    expected = [m for m in data.messages if "ignore previous instructions" in m["content"].get("text", "").lower()]
    assert response.json()["data"]["totalCount"] == len(expected) > 0


def test_message_time_filter_months_are_inclusive(api: httpx2.Client, data: Dataset) -> None:
    body = {"timeFilter": {"key": "channelCreatedTime", "since": "2025-03", "until": "2025-03"}, "includeCount": True}
    march = [m for m in data.messages if 1740787200000 <= m["channelCreatedTime"] < 1743465600000]
    assert search(api, "MESSAGE", body).json()["data"]["totalCount"] == len(march) > 0
    by_day = {"timeFilter": {"since": "2025-03-01", "until": 1743465599999}, "includeCount": True}
    assert search(api, "MESSAGE", by_day).json()["data"]["totalCount"] == len(march)


def test_profile_search_by_email(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    email = admin(sandbox, "dataset")["profiles"]["sampleEmails"][0]
    response = search(api, "PROFILE", {"filter": leaf("IN", "contact.email", email)})
    [profile] = response.json()["data"]["results"]
    assert profile["contact"]["email"] == email


def test_other_documented_entity_types_are_empty_and_unknown_ones_are_400(api: httpx2.Client) -> None:
    empty = search(api, "USER", {"includeCount": True})
    assert empty.json()["data"] == {"results": [], "cursor": None, "totalCount": 0}
    assert search(api, "WIDGET", {}).status_code == 400


def test_search_pages_through_every_result_with_cursors(api: httpx2.Client, data: Dataset) -> None:
    first = search(api, "CASE", {"page": {"size": 100}, "includeCount": True}).json()["data"]
    seen = [c["caseNumber"] for c in first["results"]]
    cursor = first["cursor"]
    while cursor:
        page = api.get("/api/v2/search/CASE", params={"id": cursor}).json()["data"]
        assert page["totalCount"] == first["totalCount"]
        seen.extend(c["caseNumber"] for c in page["results"])
        cursor = page["cursor"]
    assert seen == [c["caseNumber"] for c in data.cases]


def test_cursors_expire(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"cursor_ttl_seconds": 0.5})
    cursor = search(api, "CASE", {"page": {"size": 10}}).json()["data"]["cursor"]
    assert api.get("/api/v2/search/CASE", params={"id": cursor}).status_code == 200
    time.sleep(0.6)
    expired = api.get("/api/v2/search/CASE", params={"id": cursor})
    assert expired.status_code == 400
    assert expired.json() == {"errors": [{"code": 400, "message": "Cursor expired or invalid"}]}


# -- rate limits ----------------------------------------------------------------------------------------------------


def test_fourth_request_in_a_second_is_over_rate(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"rate_per_second": 3})
    statuses = [api.get("/api/v2/case/case-numbers?case-number=48213").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 403]
    refused = api.get("/api/v2/case/case-numbers?case-number=48213")
    assert refused.text == "<h1>Developer Over Rate</h1>"
    assert refused.headers["X-Mashery-Error-Code"] == "ERR_403_DEVELOPER_OVER_RATE"
    assert refused.headers["Retry-After"] == "1"
    stats = admin(sandbox, "stats")
    assert stats["rate_limited"] == 2
    assert stats["requests"] == 5  # refused requests are still logged
    assert [e["status"] for e in stats["log"]] == [200, 200, 200, 403, 403]


def test_hourly_limit_can_answer_429_with_retry_after(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"rate_per_hour": 2, "rate_limit_status": 429})
    for _ in range(2):
        assert api.get("/api/v2/case/48213").status_code in (200, 404)
    refused = api.get("/api/v2/case/48213")
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600


# -- tokens ---------------------------------------------------------------------------------------------------------


def refresh(sandbox: RunningSandbox, refresh_token: str, secret: str = CONFIG.api_secret) -> httpx2.Response:
    """Ask the OAuth endpoint for new tokens."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CONFIG.api_key,
        "client_secret": secret,
    }
    return httpx2.post(f"{sandbox.base_url}/oauth/token", data=form)


def test_a_refresh_token_works_once(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    assert refresh(sandbox, CONFIG.refresh_token, secret="wrong").json() == {"error": "invalid_grant"}
    tokens = refresh(sandbox, CONFIG.refresh_token).json()
    assert tokens == {
        "access_token": "sandbox-access-token-2",
        "refresh_token": "sandbox-refresh-token-2",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    again = refresh(sandbox, CONFIG.refresh_token)
    assert again.status_code == 401
    assert again.json() == {"error": "invalid_grant"}
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 401
    fresh = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert api.get("/api/v2/case/case-numbers?case-number=48213", headers=fresh).status_code == 200
    stats = admin(sandbox, "stats")
    assert stats["by_route"]["POST oauth/token"] == 3
    assert stats["writes"] == []


def test_an_expired_token_is_401_until_refreshed(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "expire-token", {})
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 401
    token = refresh(sandbox, CONFIG.refresh_token).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v2/case/case-numbers?case-number=48213", headers=headers).status_code == 200


# -- writes ---------------------------------------------------------------------------------------------------------

WRITES = [
    ("POST", "/api/v2/case"),
    ("POST", "/api/v2/case/update"),
    ("PUT", "/api/v2/case/6a368db6a0d9666d4ed703e8"),
    ("PATCH", "/api/v2/case/6a368db6a0d9666d4ed703e8"),
    ("DELETE", "/api/v2/case/6a368db6a0d9666d4ed703e8"),
    ("DELETE", "/api/v2/case/case-numbers"),
    ("POST", "/api/v2/profile"),
    ("PUT", "/api/v2/profile/647e23650fcf31ca8e752fdf"),
    ("POST", "/api/v2/publishing/message"),
    ("POST", "/api/v2/comment"),
    ("POST", "/api/v2/media/upload"),
    ("POST", "/api/v2/case/associated-messages"),
    ("POST", "/api/v2/message/byMessageId"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_every_write_attempt_is_refused_and_recorded(sandbox: RunningSandbox, method: str, path: str) -> None:
    for headers in (AUTH, {}):
        response = httpx2.request(method, sandbox.base_url + path, headers=headers, json={"subject": "x"})
        assert response.status_code == 405
        assert response.json()["errors"][0]["message"] == "write operations are not available in the sandbox"
    writes = admin(sandbox, "stats")["writes"]
    assert writes == [{"method": method, "path": "/prod2" + path}] * 2


def test_an_unknown_read_is_404_and_not_a_write(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    assert api.get("/api/v2/nothing/here").status_code == 404
    assert api.post("/api/v1/case/search", json={}).status_code == 404
    assert admin(sandbox, "stats")["writes"] == []


# -- faults ---------------------------------------------------------------------------------------------------------


def test_a_500_fault_fails_once_then_recovers(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"faults": [{"kind": "500"}]})
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 500
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 200


def test_faults_count_and_match_paths(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"faults": [{"kind": "503", "count": 2, "path_contains": "bulk-fetch"}]})
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 200
    statuses = [api.post("/api/v2/message/bulk-fetch", json=[]).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_a_reset_fault_is_a_transport_error(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"faults": [{"kind": "reset"}]})
    with pytest.raises(httpx2.TransportError):
        api.get("/api/v2/case/case-numbers?case-number=48213")
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 200
    assert admin(sandbox, "stats")["log"][0]["status"] == 0


def test_a_truncated_body_is_a_transport_error(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"faults": [{"kind": "truncated"}]})
    with pytest.raises(httpx2.RemoteProtocolError):
        api.get("/api/v2/case/case-numbers?case-number=48213")


def test_malformed_json_is_200_that_does_not_parse(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"faults": [{"kind": "malformed_json"}]})
    response = api.get("/api/v2/case/case-numbers?case-number=48213")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_missing_and_unknown_fields_faults_change_entities_only_in_the_answer(
    api: httpx2.Client, sandbox: RunningSandbox, data: Dataset
) -> None:
    admin(sandbox, "config", {"faults": [{"kind": "missing_fields"}, {"kind": "unknown_fields"}]})
    [stripped] = api.get("/api/v2/case/case-numbers?case-number=48213").json()["data"]
    assert "subject" not in stripped
    assert "createdTime" not in stripped
    assert stripped["caseNumber"] == 48213
    extended = api.get("/api/v2/case/case-numbers?case-number=48213").json()
    assert "sprSandboxFutureField" in extended["data"][0]
    assert "subject" in data.case_by_number[48213]  # the dataset itself is untouched


def test_slow_and_401_faults(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    admin(sandbox, "config", {"faults": [{"kind": "slow", "delay_ms": 300}, {"kind": "401"}]})
    started = time.monotonic()
    assert api.get("/api/v2/case/48213").status_code in (200, 404)
    assert time.monotonic() - started >= 0.3
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 401
    assert api.get("/api/v2/case/case-numbers?case-number=48213").status_code == 200


def test_bad_admin_config_is_400(sandbox: RunningSandbox) -> None:
    for body in ({"rate_per_second": 0}, {"rate_limit_status": 500}, {"faults": [{"kind": "boom"}]}, {"api_key": "x"}):
        assert httpx2.post(f"{sandbox.admin_url}/config", json=body).status_code == 400


# -- admin and state ------------------------------------------------------------------------------------------------


def test_stats_log_paths_without_query_and_ignore_admin_calls(api: httpx2.Client, sandbox: RunningSandbox) -> None:
    api.get("/api/v2/case/case-numbers", params={"case-number": 48213})
    api.post("/api/v2/search/CASE", json={"page": {"size": 1}})
    admin(sandbox, "dataset")
    stats = admin(sandbox, "stats")
    assert stats["requests"] == 2
    assert stats["by_route"] == {"GET case-numbers": 1, "POST search/CASE": 1}
    entry = stats["log"][0]
    assert entry["path"] == "/prod2/api/v2/case/case-numbers"
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert isinstance(entry["t"], float)


def test_two_sandboxes_in_one_process_keep_separate_state(sandbox: RunningSandbox) -> None:
    started = time.monotonic()
    with running_sandbox(CONFIG) as other:
        assert time.monotonic() - started < 2
        assert other.port != sandbox.port
        httpx2.delete(f"{other.base_url}/api/v2/case/1")
        assert len(admin(other, "stats")["writes"]) == 1
        assert admin(sandbox, "stats")["writes"] == []
        assert isinstance(other.app_state, Sandbox)


def test_the_app_also_serves_in_process() -> None:
    async def fetch() -> httpx2.Response:
        transport = httpx2.ASGITransport(app=create_app(CONFIG))
        async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox/prod2", headers=AUTH) as client:
            return await client.get("/api/v2/case/case-numbers", params={"case-number": 48213})

    assert anyio.run(fetch).json()["data"][0]["caseNumber"] == 48213


def test_config_from_environment_variables() -> None:
    env = {"SPRINKLR_SANDBOX_ENV": "prod4", "SPRINKLR_SANDBOX_RATE_PER_SECOND": "3", "SPRINKLR_SANDBOX_LATENCY_MS": "5"}
    config = SandboxConfig.from_env(env)
    assert (config.env, config.rate_per_second, config.latency_ms, config.api_key) == (
        "prod4",
        3,
        5.0,
        "sandbox-api-key",
    )
    with pytest.raises(ValueError, match="RATE_PER_HOUR"):
        SandboxConfig.from_env({"SPRINKLR_SANDBOX_RATE_PER_HOUR": "lots"})


# -- the dataset ----------------------------------------------------------------------------------------------------


def test_generation_is_fast_and_deterministic(data: Dataset) -> None:
    started = time.perf_counter()
    again = generate(seed=7)
    assert time.perf_counter() - started < 1.5
    assert again.cases == data.cases
    assert again.messages == data.messages
    assert again.profiles == data.profiles
    assert generate(seed=8, cases=50, profiles=20, target_messages=400).cases[0] != data.cases[0]


def test_dataset_sizes_and_long_conversations(data: Dataset) -> None:
    assert (len(data.cases), len(data.messages), len(data.profiles)) == (1000, 10000, 500)
    assert data.cases[0]["caseNumber"] == 48000
    assert 48213 in data.case_by_number
    sizes = sorted((len(ids) for ids in data.case_message_ids.values()), reverse=True)
    assert sizes[2] >= 300
    assert sizes[0] >= 450
    assert sum(1 for c in data.cases if len(c["description"]) > 5000) >= 3
    assert 0.005 < sum(c["deleted"] for c in data.cases) / len(data.cases) < 0.05


def test_messages_follow_the_documented_shape(data: Dataset) -> None:
    for message in data.messages:
        # The source type PERSISTENT_SEARCH and Facebook's native ids both contain "_" themselves.
        source_type = message["sourceType"]
        assert source_type in ("ACCOUNT", "PERSISTENT_SEARCH", "LISTENING")
        assert message["messageId"].startswith(source_type + "_")
        source_id, created, channel, kind, native = message["messageId"][len(source_type) + 1 :].split("_", 4)
        assert (source_id, int(created), channel) == (
            message["sourceId"],
            message["channelCreatedTime"],
            message["channelType"],
        )
        assert int(kind) in DOCUMENTED_TYPES.get(channel, {int(kind)})
        assert native
        assert "caseId" not in message
    assert {m["channelType"] for m in data.messages} >= {
        "FACEBOOK",
        "TWITTER",
        "INSTAGRAM",
        "LINKEDIN",
        "YOUTUBE",
        "TIKTOK",
        "WORKFLOW",
    }
    assert {m["language"] for m in data.messages} == {"en", "es", "fr", "de", "pt", "zh", "ar"}


def test_conversations_alternate_and_thread(data: Dataset) -> None:
    for case in data.cases[:200]:
        messages = [data.message_by_id[i] for i in data.case_message_ids[case["id"]]]
        assert messages[0]["messageId"] == case["firstMessageId"]
        assert messages[0]["brandPost"] is False
        assert all(m["conversationMessageId"] == case["firstMessageId"] for m in messages)
        assert all(b["parentMessageId"] == a["messageId"] for a, b in itertools.pairwise(messages))
    brand_share = sum(m["brandPost"] for m in data.messages) / len(data.messages)
    assert 0.3 < brand_share < 0.6


def test_every_case_contact_is_a_profile_and_some_customers_return(data: Dataset) -> None:
    for case in data.cases:
        profile = data.profile_by_id[case["contact"]["id"]]
        assert case["contact"]["channelId"] == profile["channelId"]
    per_customer = Counter(c["contact"]["channelId"] for c in data.cases)
    assert sum(1 for n in per_customer.values() if n >= 5) >= 5


def test_hostile_and_unusual_text_is_present(data: Dataset, sandbox: RunningSandbox) -> None:
    customer_texts = [m["content"].get("text", "") for m in data.messages if not m["brandPost"]]
    markers = ("Ignore previous instructions", "</untrusted>", "<<<END>>>", "```", "SYSTEM")
    injections = [t for t in customer_texts if any(marker in t for marker in markers)]
    assert 0.005 < len(injections) / len(customer_texts) < 0.03
    everything = "".join(customer_texts)
    for needle in ("\u200b", "\u202e", "<p>", "你好", "مرحباً", "שלום", "🙏"):
        assert needle in everything, needle
    summary = admin(sandbox, "dataset")
    injected_case = data.case_by_number[summary["caseNumbers"]["injection"][0]]
    texts = [data.message_by_id[i]["content"].get("text", "") for i in data.case_message_ids[injected_case["id"]]]
    assert any(any(marker in t for marker in markers) for t in texts)
    biggest = [
        data.message_by_id[i]["content"].get("text", "") for i in data.case_message_ids[summary["biggestCase"]["id"]]
    ]
    assert any(any(marker in t for marker in markers) for t in biggest)
    assert summary["caseNumbers"]["rtl"]
    assert summary["counts"] == {
        "cases": 1000,
        "messages": 10000,
        "profiles": 500,
        "deletedCases": summary["counts"]["deletedCases"],
    }
