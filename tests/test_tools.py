"""Every tool through a real MCP client session against the sandbox on loopback, checked against the dataset.

The sandbox's dataset is the oracle: expected answers are computed from it, never written down. Listings are
walked to their end by the `Next page:` line parsed from the text alone (a model may see nothing else), every
structured result is validated against the outputSchema the server published, and bad input is refused before
anything reaches Sprinklr.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from mcp import Client

from server.app import build_server
from server.sandbox import data as sandbox_data
from server.sandbox.corpus import COUNTRY_NAMES
from server.sandbox.data import BRAND_FIELD, COUNTRY_FIELD, LANGUAGE_FIELD, QUEUES, Dataset
from server.sandbox.runner import RunningSandbox
from tests.conftest import OPEN_LIMITS, SandboxAdmin, sandbox_settings
from tests.toolkit import (
    JSON,
    Answer,
    Tools,
    assignee_shown,
    duration_seconds,
    live,
    minute,
    newest_first,
    prop,
    side,
    unfenced,
    users,
)

pytestmark = pytest.mark.anyio

QUEUE_NAMES = {queue_id: name for name, queue_id in QUEUES.items()}
# The reference's message type table ("Common Message Type Codes"), written out here, not imported from the views.
DOCUMENTED_TYPES = {
    "TWITTER": {"1": "Timeline", "2": "Update", "3": "Sent DM", "5": "Received DM", "7": "Reply", "8": "Retweet"},
    "FACEBOOK": {"14": "Comment", "15": "Post", "38": "Private Message", "97": "Reply"},
    "INSTAGRAM": {"36": "Post", "37": "Comment", "306": "Reply", "320": "Direct Message"},
    "LINKEDIN": {"16": "Post", "69": "Company Post", "70": "Company Comment"},
}
# Language codes and names as the sandbox spells them (older sandboxes hold codes only).
LANGUAGE_NAMES: dict[str, str] = getattr(sandbox_data, "LANGUAGE_NAMES", {})
PLAIN = re.compile(r"^[\w .,;:!?'’()/@#&%$€£+*=-]*$")


@pytest.fixture
async def tools(running: RunningSandbox, sandbox: SandboxAdmin) -> AsyncIterator[Tools]:
    """A session with queue names configured, after the first call that reads the account's names and values;
    the sandbox's log is then cleared, so tests count only what their own calls send."""
    async with Client(build_server(sandbox_settings(running, queue_names=QUEUES))) as client:
        session = await Tools.open(client)
        await session.ok("list_values")
        sandbox.reset()
        sandbox.configure(latency_ms=0, faults=[], cursor_ttl_seconds=300, **OPEN_LIMITS)
        yield session


@pytest.fixture
def data(running: RunningSandbox) -> Dataset:
    """The dataset the sandbox serves."""
    return running.app_state.dataset


def plain(text: str | None) -> bool:
    """Whether upstream text is ordinary (no markup, controls, line breaks): then it is shown exactly as stored."""
    return bool(text) and PLAIN.match(text or "") is not None


def conversation(data: Dataset, case: JSON) -> list[JSON]:
    """A case's messages, oldest first."""
    return [data.message_by_id[i] for i in data.case_message_ids[case["id"]]]


def typical_case(data: Dataset, *, min_messages: int = 4, max_messages: int = 20) -> JSON:
    """A live case with ordinary text, both sides in its conversation and an assignee, queue and customer."""
    for case in live(data):
        messages = conversation(data, case)
        if (
            min_messages <= len(messages) <= max_messages
            and plain(case.get("subject"))
            and plain(case.get("description"))
            and {side(m) for m in messages} == {"brand", "customer"}
            and case["workflow"].get("assignment")
            and case["workflow"].get("queues")
            and all(plain(m.get("content", {}).get("text")) for m in messages)
        ):
            return case
    raise AssertionError("the dataset has no typical case")


# -- get_case ----------------------------------------------------------------------------------------------------------


async def test_get_case_by_number_shows_the_case_as_stored_with_names_for_assignee_and_queues(
    tools: Tools, data: Dataset
) -> None:
    raw = typical_case(data)
    case = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).plain
    assert case["case_number"] == raw["caseNumber"]
    assert case["id"] == raw["id"]
    assert (case["status"], case["priority"], case["type"]) == (raw["status"], raw["priority"], raw["caseType"])
    assert unfenced(case["subject"]) == raw["subject"]
    assert unfenced(case["description"]) == raw["description"]
    assert case["created"] == minute(raw["createdTime"])
    assert case["modified"] == minute(raw["modifiedTime"])
    assert case["due"] == minute(raw["dueDate"])
    assert case["last_activity"] == minute(raw["latestMessageAssociatedTime"])
    assert case["assignee"] == assignee_shown(raw, data)
    assert case["queues"] == [QUEUE_NAMES[q["queueId"]] for q in raw["workflow"]["queues"]]
    contact = raw["contact"]
    assert case["customer"] == {
        "name": contact["name"],
        "channel": contact["channelType"],
        "channel_id": contact["channelId"],
        "profile_id": contact["id"],
    }
    assert case["fields"]["Brand"] == prop(raw, BRAND_FIELD)
    assert case["fields"]["Language"] == prop(raw, LANGUAGE_FIELD)
    assert case["fields"]["Country"] == prop(raw, COUNTRY_FIELD)
    # Status, priority and type are shown once, on their own; raw field ids never stand for a known name.
    assert not {"Status", "Priority", "Type", BRAND_FIELD, LANGUAGE_FIELD, COUNTRY_FIELD} & set(case["fields"])
    assert "assignee_id" not in case
    assert "first_message_id" not in case


async def test_get_case_text_leads_with_number_status_priority_and_type_and_offers_the_conversation(
    tools: Tools, data: Dataset
) -> None:
    raw = typical_case(data)
    answer = await tools.ok("get_case", {"case_number": raw["caseNumber"]})
    first = answer.text.splitlines()[0]
    assert first == f"Case {raw['caseNumber']} · {raw['status']} · {raw['priority']} · {raw['caseType']}"
    assert answer.next_call == ("get_case_messages", {"case_number": raw["caseNumber"], "order": "newest_first"})
    assert f"assignee: {assignee_shown(raw, data)}" in unfenced(answer.text).splitlines()


async def test_get_case_by_id_is_the_same_case_as_by_number(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    by_number = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).plain
    by_id = (await tools.ok("get_case", {"case_id": raw["id"]})).plain
    assert unfenced_all(by_id) == unfenced_all(by_number)


def unfenced_all(view: JSON) -> JSON:
    """A view without the fence marks (each result has its own fence id) and the time it was read."""
    out: JSON = {}
    for key, value in view.items():
        if key == "read_at":
            continue
        if isinstance(value, str):
            out[key] = unfenced(value)
        elif isinstance(value, dict):
            out[key] = unfenced_all(value)
        else:
            out[key] = value
    return out


async def test_full_detail_adds_ids_links_and_status_fields_that_summary_leaves_out(
    tools: Tools, data: Dataset
) -> None:
    raw = next(
        c
        for c in live(data)
        if c.get("externalCase", {}).get("permalink") and c["workflow"].get("assignment") and c.get("firstMessageId")
    )
    summary = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).plain
    full = (await tools.ok("get_case", {"case_number": raw["caseNumber"], "detail": "full"})).plain
    assignment = raw["workflow"]["assignment"]
    assert full["assignee_id"] == str(assignment["assigneeId"])
    assert full["first_message_id"] == raw["firstMessageId"]
    external = raw["externalCase"]
    assert full["external"]["link"] == external["permalink"]
    assert full["external"]["system"] == external["channelType"]
    assert summary["external"]["system"] == external["channelType"]
    assert "link" not in summary["external"]
    assert "assignee_id" not in summary
    assert "first_message_id" not in summary


async def test_a_long_description_is_cut_with_a_marker_in_summary_and_whole_in_full_detail(
    tools: Tools, data: Dataset
) -> None:
    raw = max(live(data), key=lambda c: len(c.get("description") or ""))
    stored = raw["description"]
    assert len(stored) > 4000
    summary = unfenced((await tools.ok("get_case", {"case_number": raw["caseNumber"]})).plain["description"])
    full = unfenced(
        (await tools.ok("get_case", {"case_number": raw["caseNumber"], "detail": "full"})).plain["description"]
    )
    assert summary.endswith(" […]")
    assert len(summary) < len(full)
    assert len(full) >= min(len(stored), 12_000) * 0.9


async def test_a_deleted_case_read_by_number_says_it_is_deleted(tools: Tools, data: Dataset) -> None:
    raw = next(c for c in data.cases if c.get("deleted"))
    case = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).plain
    assert case["case_number"] == raw["caseNumber"]
    assert case["deleted"] is True


async def test_an_unknown_case_number_is_one_line_that_names_it_and_suggests_search_cases(
    tools: Tools, sandbox: SandboxAdmin, data: Dataset
) -> None:
    missing = min(data.case_by_number) - 1
    text = await tools.error("get_case", {"case_number": missing})
    assert str(missing) in text
    assert "search_cases" in text
    assert sandbox.requests() == 1


async def test_an_unknown_case_id_is_one_line_that_names_it(tools: Tools) -> None:
    text = await tools.error("get_case", {"case_id": "ffffffffffffffffffffffff"})
    assert "ffffffffffffffffffffffff" in text
    assert "search_cases" in text


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({}, "exactly one of case_number, case_id"),
        ({"case_number": 48213, "case_id": "abc"}, "exactly one of case_number, case_id"),
        ({"case_number": 0}, "case_number"),
        ({"case_number": "forty"}, "case_number"),
        ({"case_id": "../../etc/passwd"}, "case_id"),
        ({"case_number": 48213, "detail": "everything"}, "detail"),
        ({"case_number": 48213, "close": True}, "close"),
    ],
)
async def test_get_case_refuses_bad_arguments_in_one_line_before_anything_is_sent(
    tools: Tools, sandbox: SandboxAdmin, arguments: JSON, says: str
) -> None:
    text = await tools.error("get_case", arguments)
    assert says in text
    assert sandbox.requests() == 0


# -- activity: who is waiting on whom --------------------------------------------------------------------------------


def expected_activity(messages: list[JSON]) -> JSON:
    """Counts by side, time to the first reply and who spoke last, computed from the stored conversation."""
    timed = sorted(messages, key=lambda m: m["channelCreatedTime"])
    customer = [m for m in timed if m.get("brandPost") is False]
    brand = [m for m in timed if m.get("brandPost") is True]
    replies = [m for m in brand if customer and m["channelCreatedTime"] >= customer[0]["channelCreatedTime"]]
    return {
        "customer_messages": len(customer),
        "brand_messages": len(brand),
        "first_response_seconds": (replies[0]["channelCreatedTime"] - customer[0]["channelCreatedTime"]) / 1000
        if replies
        else None,
        "last_customer_message": minute(customer[-1]["channelCreatedTime"]) if customer else None,
        "last_brand_message": minute(brand[-1]["channelCreatedTime"]) if brand else None,
        "waiting_on_brand": timed[-1].get("brandPost") is False,
        "last_time": timed[-1]["channelCreatedTime"] / 1000,
    }


def assert_activity(shown: JSON, expected: JSON, *, before: float, after: float) -> None:
    """An activity summary agrees with the one computed from the conversation."""
    assert shown["customer_messages"] == expected["customer_messages"]
    assert shown["brand_messages"] == expected["brand_messages"]
    assert shown.get("last_customer_message") == expected["last_customer_message"]
    assert shown.get("last_brand_message") == expected["last_brand_message"]
    if expected["first_response_seconds"] is None:
        assert "first_response" not in shown
    else:
        low, high = duration_seconds(shown["first_response"])
        assert low <= expected["first_response_seconds"] < high
    assert shown["waiting_on_brand"] is expected["waiting_on_brand"]
    if expected["waiting_on_brand"]:
        low, high = duration_seconds(shown["waiting_for"])
        assert low < after - expected["last_time"] + 1
        assert high > before - expected["last_time"] - 1
    else:
        assert "waiting_for" not in shown


async def test_activity_true_counts_both_sides_and_says_who_is_waiting_from_the_whole_conversation(
    tools: Tools, data: Dataset
) -> None:
    waiting = [
        c for c in live(data) if len(conversation(data, c)) >= 3 and conversation(data, c)[-1]["brandPost"] is False
    ]
    answered = [c for c in live(data) if len(conversation(data, c)) >= 3 and conversation(data, c)[-1]["brandPost"]]
    assert waiting
    assert answered
    for raw in (
        waiting[0],
        answered[0],
        data.case_by_number[max(data.case_by_number, key=lambda n: len(conversation(data, data.case_by_number[n])))],
    ):
        before = time.time()
        case = (await tools.ok("get_case", {"case_number": raw["caseNumber"], "activity": True})).plain
        after = time.time()
        assert_activity(case["activity"], expected_activity(conversation(data, raw)), before=before, after=after)


async def test_activity_is_shown_at_no_cost_once_the_conversation_is_cached_and_not_read_for_without_it(
    tools: Tools, sandbox: SandboxAdmin, data: Dataset
) -> None:
    raw = typical_case(data)
    number = raw["caseNumber"]
    first = (await tools.ok("get_case", {"case_number": number})).plain
    assert "activity" not in first  # the conversation was neither cached nor asked for
    assert sandbox.requests() == 1
    await tools.ok("get_case_messages", {"case_number": number, "limit": 100})
    sent = sandbox.requests()
    before = time.time()
    again = (await tools.ok("get_case", {"case_number": number})).plain
    after = time.time()
    assert sandbox.requests() == sent  # case, ids and messages all came from the cache
    assert_activity(again["activity"], expected_activity(conversation(data, raw)), before=before, after=after)


# -- get_case_messages -------------------------------------------------------------------------------------------------


def ids_in_text(answer: Answer) -> list[str]:
    """The message ids a text lists, in the order it lists them."""
    return [line[len("- id: ") :] for line in answer.text.splitlines() if line.startswith("- id: ")]


def sender(message: JSON) -> Any:
    return (message.get("senderProfile") or {}).get("name")


def handle(message: JSON) -> Any:
    return (message.get("senderProfile") or {}).get("username")


REPEATABLE = {
    "sender": sender,
    "handle": handle,
    "channel": lambda m: m.get("channelType"),
    "language": lambda m: m.get("language"),
}


def assert_repeats_dropped(shown: list[JSON], stored: list[JSON]) -> None:
    """Sender, handle, channel and language are shown on a message only where they differ from the previous one's."""
    for index, (view, raw) in enumerate(zip(shown, stored, strict=True)):
        for name, value_of in REPEATABLE.items():
            value = value_of(raw)
            repeated = index > 0 and value_of(stored[index - 1]) == value
            assert (name in view) == (value is not None and not repeated), (index, name, view, value)


@pytest.mark.parametrize("order", ["oldest_first", "newest_first"])
async def test_the_biggest_conversation_is_walked_whole_by_the_next_page_line_in_either_order(
    tools: Tools, data: Dataset, order: str
) -> None:
    raw = max(data.cases, key=lambda c: len(data.case_message_ids[c["id"]]))
    expected = list(data.case_message_ids[raw["id"]])
    assert len(expected) >= 300
    if order == "newest_first":
        expected.reverse()
    arguments: JSON = {"case_number": raw["caseNumber"], "limit": 100}
    if order == "newest_first":
        arguments["order"] = order
    pages = await tools.walk("get_case_messages", arguments)
    seen: list[str] = []
    for page in pages:
        assert page.plain["offset"] == len(seen)
        assert page.plain["total_messages"] == len(expected)
        assert page.plain["order"] == order
        ids = [m["id"] for m in page.plain["messages"]]
        assert ids_in_text(page) == ids
        first = page.text.splitlines()[0]
        assert first == (
            f"Case {raw['caseNumber']}: messages {len(seen) + 1}-{len(seen) + len(ids)} of {len(expected)} "
            f"({order.replace('_', ' ')})."
        )
        stored = [data.message_by_id[i] for i in ids]
        assert [m["side"] for m in page.plain["messages"]] == [side(m) for m in stored]
        assert_repeats_dropped(page.plain["messages"], stored)
        seen += ids
    assert seen == expected
    assert len(pages) >= 4  # 100 messages never fit the default budget: the budget, not the limit, cut the pages


async def test_a_conversation_page_shows_each_message_as_stored(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    page = (await tools.ok("get_case_messages", {"case_number": raw["caseNumber"], "limit": 100})).plain
    stored = conversation(data, raw)
    assert [m["id"] for m in page["messages"]] == [m["messageId"] for m in stored]
    for view, message in zip(page["messages"], stored, strict=True):
        assert view["time"] == minute(message["channelCreatedTime"])
        assert unfenced(view["text"]) == message["content"]["text"]
        channel, code = message["channelType"], message["messageId"].split("_")[4]
        assert view.get("type", "") == DOCUMENTED_TYPES.get(channel, {}).get(code, f"code {code}")
        assert view.get("sentiment") == message.get("enrichments", {}).get("sentiment")


async def test_message_types_are_named_for_documented_channels_and_shown_as_codes_elsewhere(
    tools: Tools, data: Dataset
) -> None:
    wanted = {"TWITTER", "FACEBOOK", "INSTAGRAM", "TIKTOK"}
    found: dict[str, JSON] = {}
    for case in live(data):
        channel = case["contact"]["channelType"]
        if channel in wanted and channel not in found and 2 <= len(data.case_message_ids[case["id"]]) <= 20:
            found[channel] = case
    assert set(found) == wanted
    for channel, case in found.items():
        page = (await tools.ok("get_case_messages", {"case_number": case["caseNumber"], "limit": 100})).plain
        for view in page["messages"]:
            code = view["id"].split("_")[4]
            documented = DOCUMENTED_TYPES.get(channel, {}).get(code)
            assert view["type"] == (documented or f"code {code}")


async def test_case_messages_by_id_are_those_by_number(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    by_number = (await tools.ok("get_case_messages", {"case_number": raw["caseNumber"]})).plain
    by_id = (await tools.ok("get_case_messages", {"case_id": raw["id"]})).plain
    assert [m["id"] for m in by_id["messages"]] == [m["id"] for m in by_number["messages"]]
    assert by_id["case_number"] == raw["caseNumber"]


async def test_an_offset_past_the_end_says_how_many_messages_there_are_and_offers_no_next_page(
    tools: Tools, data: Dataset
) -> None:
    raw = typical_case(data)
    total = len(data.case_message_ids[raw["id"]])
    answer = await tools.ok("get_case_messages", {"case_number": raw["caseNumber"], "offset": total + 5})
    assert answer.plain["messages"] == []
    assert f"the conversation has {total}" in answer.text
    assert answer.next_call is None


async def test_the_last_page_of_a_conversation_has_no_next_page_line(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    total = len(data.case_message_ids[raw["id"]])
    answer = await tools.ok("get_case_messages", {"case_number": raw["caseNumber"], "offset": total - 1})
    assert [m["id"] for m in answer.plain["messages"]] == data.case_message_ids[raw["id"]][-1:]
    assert answer.next_call is None


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({}, "exactly one of case_number, case_id"),
        ({"case_number": 48213, "order": "random"}, "order"),
        ({"case_number": 48213, "limit": 0}, "limit"),
        ({"case_number": 48213, "limit": 101}, "limit"),
        ({"case_number": 48213, "offset": -1}, "offset"),
        ({"case_number": 48213, "cursor": "abc"}, "cursor"),
    ],
)
async def test_get_case_messages_refuses_bad_arguments_before_anything_is_sent(
    tools: Tools, sandbox: SandboxAdmin, arguments: JSON, says: str
) -> None:
    text = await tools.error("get_case_messages", arguments)
    assert says in text
    assert sandbox.requests() == 0


async def test_messages_of_an_unknown_case_is_one_line_naming_it(tools: Tools, data: Dataset) -> None:
    missing = max(data.case_by_number) + 1
    text = await tools.error("get_case_messages", {"case_number": missing})
    assert str(missing) in text
    assert "search_cases" in text


# -- get_message -------------------------------------------------------------------------------------------------------


async def test_get_message_shows_every_field_of_the_message_with_its_whole_text(tools: Tools, data: Dataset) -> None:
    message = next(
        m
        for m in data.messages
        if m.get("parentMessageId") and m.get("content", {}).get("attachment") and plain(m["content"].get("text"))
    )
    answer = await tools.ok("get_message", {"message_id": message["messageId"]})
    view = answer.plain["message"]
    assert answer.text.splitlines()[0] == "One message:"
    assert view["id"] == message["messageId"]
    assert view["time"] == minute(message["channelCreatedTime"])
    assert view["side"] == side(message)
    assert view["sender"] == sender(message)
    assert view["handle"] == handle(message)
    assert view["channel"] == message["channelType"]
    assert view["language"] == message["language"]
    assert view["parent_id"] == message["parentMessageId"]
    assert unfenced(view["text"]) == message["content"]["text"]
    attachment = message["content"]["attachment"]
    attachments = attachment if isinstance(attachment, list) else [attachment]
    assert [a.get("url") for a in view["attachments"]] == [a.get("url") for a in attachments][:10]
    assert [a.get("type") for a in view["attachments"]] == [a.get("type") for a in attachments][:10]


async def test_get_message_gives_the_longest_plain_text_exactly_as_stored(tools: Tools, data: Dataset) -> None:
    message = max(
        (m for m in data.messages if plain(m.get("content", {}).get("text"))),
        key=lambda m: len(m["content"]["text"]),
    )
    view = (await tools.ok("get_message", {"message_id": message["messageId"]})).plain["message"]
    assert unfenced(view["text"]) == message["content"]["text"]


async def test_an_unknown_message_id_is_one_line_that_names_it(tools: Tools, data: Dataset) -> None:
    real = data.messages[0]["messageId"]
    missing = real[:-3] + ("000" if not real.endswith("000") else "111")
    text = await tools.error("get_message", {"message_id": missing})
    assert missing in text


@pytest.mark.parametrize("message_id", ["a b", "x", "../../case/1", "id\nwith newline", "<script>"])
async def test_a_malformed_message_id_is_refused_before_anything_is_sent(
    tools: Tools, sandbox: SandboxAdmin, message_id: str
) -> None:
    text = await tools.error("get_message", {"message_id": message_id})
    assert "message_id" in text
    assert sandbox.requests() == 0


# -- search_cases ------------------------------------------------------------------------------------------------------


def country_code(value: str) -> str:
    """A country as the sandbox's code, whether the case spells it as code or name."""
    return {name: code for code, name in COUNTRY_NAMES.items()}.get(value, value)


def language_code(value: str) -> str:
    """A language as the sandbox's code, whether the case holds the code or the name."""
    return {name: code for code, name in LANGUAGE_NAMES.items()}.get(value, value)


def queue_ids(case: JSON) -> list[str]:
    return [q["queueId"] for q in case["workflow"].get("queues", [])]


# (argument, value given as a person would type it, the cases it must find).
CASE_FILTERS: list[tuple[str, list[str], Any]] = [
    ("status", ["open", "PENDING"], lambda c: c["status"] in ("Open", "Pending")),
    ("priority", ["urgent"], lambda c: c["priority"] == "Urgent"),
    ("type", ["incident", "Task"], lambda c: c["caseType"] in ("Incident", "Task")),
    ("brand", ["fabrikam home"], lambda c: "Fabrikam Home" in prop(c, BRAND_FIELD)),
    ("language", ["German"], lambda c: [language_code(v) for v in prop(c, LANGUAGE_FIELD)] == ["de"]),
    ("language", ["pt", "chinese"], lambda c: language_code(prop(c, LANGUAGE_FIELD)[0]) in ("pt", "zh")),
    ("country", ["Austria"], lambda c: country_code(prop(c, COUNTRY_FIELD)[0]) == "AT"),
    ("country", ["ie"], lambda c: country_code(prop(c, COUNTRY_FIELD)[0]) == "IE"),
    ("queue", ["billing"], lambda c: QUEUES["Billing"] in queue_ids(c)),
    (
        "queue",
        ["Tech Support", "escalations"],
        lambda c: bool({QUEUES["Tech Support"], QUEUES["Escalations"]} & set(queue_ids(c))),
    ),
]


def row_of(case: JSON, data: Dataset) -> JSON:
    """The row a search shows for a case, computed from the stored case."""
    queues = queue_ids(case)
    expected = {
        "case_number": case["caseNumber"],
        "status": case["status"],
        "priority": case["priority"],
        "type": case["caseType"],
        "brand": prop(case, BRAND_FIELD)[0],
        "assignee": assignee_shown(case, data),
        "queue": QUEUE_NAMES[queues[-1]] if queues else None,
        "customer": case["contact"]["name"],
        "created": minute(case["createdTime"]),
        "last_activity": minute(case.get("latestMessageAssociatedTime") or case["modifiedTime"]),
    }
    return {key: value for key, value in expected.items() if value is not None}


@pytest.mark.parametrize(("name", "given", "matches"), CASE_FILTERS, ids=[f"{f[0]}={f[1]}" for f in CASE_FILTERS])
async def test_search_cases_filters_match_values_case_insensitively_in_any_spelling(
    tools: Tools, data: Dataset, name: str, given: list[str], matches: Any
) -> None:
    expected = newest_first(c for c in live(data) if matches(c))
    assert expected, "the oracle must find cases for the filter to mean anything"
    answer = await tools.ok("search_cases", {name: given, "page_size": 10})
    rows = answer.plain["results"]
    assert answer.plain["total"] == len(expected)
    assert [row["case_number"] for row in rows] == [c["caseNumber"] for c in expected[: len(rows)]]
    assert len(rows) == min(10, len(expected))
    for row, case in zip(rows, expected, strict=False):
        assert {k: v for k, v in row.items() if k != "subject"} == row_of(case, data)
    described = "/".join(given)
    assert answer.text.splitlines()[0] == f"Cases 1-{len(rows)} of {len(expected)} matching {name}={described}."


async def test_the_rows_of_a_search_are_the_text_a_model_reads(tools: Tools, data: Dataset) -> None:
    answer = await tools.ok("search_cases", {"priority": ["urgent"], "page_size": 5})
    numbers = [
        int(line.removeprefix("- case_number: "))
        for line in answer.text.splitlines()
        if line.startswith("- case_number: ")
    ]
    assert numbers == [row["case_number"] for row in answer.plain["results"]]
    lines = unfenced(answer.text).splitlines()
    for row in answer.plain["results"]:
        for key in ("brand", "assignee", "queue", "created"):
            if key in row:
                assert f"  {key}: {row[key]}" in lines


async def test_several_filters_together_find_only_the_cases_matching_all_of_them(tools: Tools, data: Dataset) -> None:
    expected = newest_first(
        c
        for c in live(data)
        if c["status"] in ("Open", "New")
        and c["priority"] in ("Urgent", "High")
        and "Fabrikam Home" in prop(c, BRAND_FIELD)
    )
    assert expected
    pages = await tools.walk(
        "search_cases", {"status": ["open", "new"], "priority": ["urgent", "high"], "brand": ["FABRIKAM HOME"]}
    )
    assert [row["case_number"] for page in pages for row in page.plain["results"]] == [
        c["caseNumber"] for c in expected
    ]


async def test_search_cases_by_customer_channel_id_finds_every_case_of_that_customer(
    tools: Tools, data: Dataset
) -> None:
    counts = Counter(c["contact"]["channelId"] for c in live(data))
    channel_id, how_many = counts.most_common(1)[0]
    assert how_many >= 5
    pages = await tools.walk("search_cases", {"customer_id": channel_id})
    found = [row["case_number"] for page in pages for row in page.plain["results"]]
    assert found == [
        c["caseNumber"] for c in newest_first(c for c in live(data) if c["contact"]["channelId"] == channel_id)
    ]


async def test_a_created_window_of_dates_includes_the_whole_last_day(tools: Tools, data: Dataset) -> None:
    middle = newest_first(live(data))[len(live(data)) // 2]
    day = datetime.fromtimestamp(middle["createdTime"] / 1000, UTC).date()
    low = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000) - 2 * 86_400_000
    high = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000) + 86_400_000 - 1
    expected = newest_first(c for c in live(data) if low <= c["createdTime"] <= high)
    pages = await tools.walk(
        "search_cases", {"created_after": str(day - timedelta(days=2)), "created_before": str(day), "page_size": 100}
    )
    assert [row["case_number"] for page in pages for row in page.plain["results"]] == [
        c["caseNumber"] for c in expected
    ]
    assert middle["caseNumber"] in [c["caseNumber"] for c in expected]


async def test_last_days_finds_the_cases_created_in_that_many_days_up_to_now(tools: Tools, data: Dataset) -> None:
    newest = max(c["createdTime"] for c in live(data))
    days = int((time.time() * 1000 - newest) // 86_400_000) + 8
    before = time.time() * 1000
    pages = await tools.walk("search_cases", {"last_days": days, "page_size": 100})
    after = time.time() * 1000
    found = [row["case_number"] for page in pages for row in page.plain["results"]]
    surely = [c["caseNumber"] for c in newest_first(live(data)) if c["createdTime"] >= after - days * 86_400_000]
    maybe = [c["caseNumber"] for c in newest_first(live(data)) if c["createdTime"] >= before - days * 86_400_000]
    assert surely
    assert found[: len(surely)] == surely
    assert found == maybe[: len(found)]
    assert pages[0].text.splitlines()[0].endswith(f"matching last_days={days}.")


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [("newest", "createdTime", True), ("oldest", "createdTime", False), ("modified", "modifiedTime", True)],
)
async def test_search_cases_sorts_as_asked(tools: Tools, data: Dataset, sort: str, key: str, descending: bool) -> None:
    expected = sorted(
        (c for c in live(data) if "Contoso Cloud" in prop(c, BRAND_FIELD)), key=lambda c: c[key], reverse=descending
    )
    answer = await tools.ok("search_cases", {"brand": ["Contoso Cloud"], "sort": sort, "page_size": 15})
    assert [row["case_number"] for row in answer.plain["results"]] == [c["caseNumber"] for c in expected[:15]]
    follow = answer.next_call
    assert follow is not None
    assert follow[1].get("sort") == (None if sort == "newest" else sort)


async def test_walking_a_search_by_the_next_page_line_covers_every_match_once_in_order(
    tools: Tools, data: Dataset
) -> None:
    expected = newest_first(c for c in live(data) if "Northwind Outfitters" in prop(c, BRAND_FIELD))
    assert len(expected) > 150
    pages = await tools.walk("search_cases", {"brand": ["northwind outfitters"], "page_size": 100})
    numbers = [row["case_number"] for page in pages for row in page.plain["results"]]
    assert numbers == [c["caseNumber"] for c in expected]
    assert len(pages) > 2
    offsets = [page.plain["offset"] for page in pages]
    assert offsets == [sum(len(p.plain["results"]) for p in pages[:i]) for i in range(len(pages))]
    assert {page.plain["total"] for page in pages} == {len(expected)}
    for page, following in itertools.pairwise(pages):
        follow = page.next_call
        assert follow is not None
        assert follow == (
            "search_cases",
            {"brand": ["northwind outfitters"], "offset": following.plain["offset"], "page_size": 100},
        )
    assert pages[-1].next_call is None


async def test_a_search_never_lists_a_deleted_case(tools: Tools, data: Dataset) -> None:
    deleted = {c["caseNumber"] for c in data.cases if c.get("deleted")}
    assert deleted
    pages = await tools.walk("search_cases", {"status": ["Closed"], "page_size": 100})
    found = {row["case_number"] for page in pages for row in page.plain["results"]}
    assert found == {c["caseNumber"] for c in live(data) if c["status"] == "Closed"}
    assert not found & deleted


async def test_values_matching_nothing_are_named_with_the_known_values_and_read_naturally(
    tools: Tools, data: Dataset
) -> None:
    answer = await tools.ok("search_cases", {"status": ["Resolved"], "brand": ["fabrikam home"]})
    first = answer.text.splitlines()[0]
    assert first.startswith("No cases match status=Resolved, brand=fabrikam home.")
    assert "status 'Resolved' matches no known value (known: " in first
    for status in {c["status"] for c in data.cases}:
        assert status in first
    assert "brand 'fabrikam home'" not in first  # a known value, only in other letters
    assert answer.plain["total"] == 0
    assert "results" not in answer.plain or answer.plain["results"] == []
    assert answer.next_call is None


async def test_a_queue_name_matching_no_configured_queue_is_named_with_the_known_queues(tools: Tools) -> None:
    answer = await tools.ok("search_cases", {"queue": ["Complaints Desk"]})
    first = answer.text.splitlines()[0]
    assert first.startswith("No cases match queue=Complaints Desk.")
    assert "queue 'Complaints Desk' matches no known value" in first
    assert "Billing" in first


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"status": "Open"}, "status"),
        ({"status": []}, "status"),
        ({"status": ['Open"}']}, "status"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"offset": -1}, "offset"),
        ({"sort": "priority"}, "sort"),
        ({"count_by": "subject"}, "count_by"),
        ({"last_days": 0}, "last_days"),
        ({"last_days": 7, "created_after": "2026-01-01"}, "last_days or dates, not both"),
        ({"created_after": "2026-02-01", "created_before": "2026-01-01"}, "start is after the end"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"customer_id": "a b"}, "customer_id"),
        ({"cursor": "abc"}, "cursor"),
        ({"case_type": ["Task"]}, "case_type"),
    ],
)
async def test_search_cases_refuses_bad_arguments_before_anything_is_sent(
    tools: Tools, sandbox: SandboxAdmin, arguments: JSON, says: str
) -> None:
    text = await tools.error("search_cases", arguments)
    assert says in text
    assert sandbox.requests() == 0


# -- count_by --------------------------------------------------------------------------------------------------------


COUNT_KEYS: dict[str, Any] = {
    "status": lambda c: c["status"],
    "priority": lambda c: c["priority"],
    "type": lambda c: c["caseType"],
    "brand": lambda c: prop(c, BRAND_FIELD)[0],
    "language": lambda c: language_code(prop(c, LANGUAGE_FIELD)[0]),
    "country": lambda c: country_code(prop(c, COUNTRY_FIELD)[0]),
}
# A case may sit in several queues (escalated from Social Care, say): it counts once in each.
MULTI_VALUED = {"queue": lambda c: [QUEUE_NAMES[q] for q in dict.fromkeys(queue_ids(c))]}


def canonical(by: str, value: str) -> str:
    """A count's group label as the oracle's key."""
    if by == "language":
        return language_code(value)
    if by == "country":
        return country_code(value)
    return value


@pytest.mark.parametrize("by", [*COUNT_KEYS, *MULTI_VALUED])
async def test_count_by_counts_each_value_once_as_the_dataset_does(
    tools: Tools, sandbox: SandboxAdmin, data: Dataset, by: str
) -> None:
    if by in MULTI_VALUED:
        oracle = Counter(value for c in live(data) for value in MULTI_VALUED[by](c))
    else:
        oracle = Counter(COUNT_KEYS[by](c) for c in live(data))
    answer = await tools.ok("search_cases", {"count_by": by})
    counts = answer.plain["counts"]
    keys = [canonical(by, label) for label in counts]
    assert len(keys) == len(set(keys)), f"one value counted under two spellings: {counts}"
    for label, count in counts.items():
        assert count == oracle[canonical(by, label)], label
    assert answer.plain["total"] == sum(counts.values())
    assert sandbox.requests() == len(counts)  # one search per value, values and names from the cache
    first = answer.text.splitlines()[0]
    assert first.startswith(f"Cases by {by} matching all cases ({len(counts)} values, {len(counts)} Sprinklr calls).")
    if by in MULTI_VALUED:
        assert set(oracle) <= set(counts)
    elif len({k for k in oracle if k}) <= len(counts):
        assert answer.plain["total"] == len(live(data))
    else:
        assert "rarer values not counted" in first


async def test_count_by_applies_the_other_filters_to_every_count(tools: Tools, data: Dataset) -> None:
    oracle = Counter(
        c["status"] for c in live(data) if c["priority"] == "Urgent" and "Acme Mobile" in prop(c, BRAND_FIELD)
    )
    answer = await tools.ok("search_cases", {"count_by": "status", "priority": ["urgent"], "brand": ["acme mobile"]})
    assert answer.plain["counts"] == {status: oracle[status] for status in answer.plain["counts"]}
    assert set(answer.plain["counts"]) == {c["status"] for c in data.cases}
    assert answer.plain["total"] == sum(oracle.values())


def assignee_id(case: JSON) -> str | None:
    assignment = case["workflow"].get("assignment") or {}
    return str(assignment["assigneeId"]) if assignment.get("assigneeId") is not None else None


async def test_search_by_assignee_id_finds_every_case_of_that_agent_even_where_sprinklr_cannot_filter_by_it(
    tools: Tools, data: Dataset
) -> None:
    agent = Counter(assignee_id(c) for c in live(data) if assignee_id(c)).most_common(1)[0][0]
    expected = [c["caseNumber"] for c in newest_first(c for c in live(data) if assignee_id(c) == agent)]
    pages = await tools.walk("search_cases", {"assignee": [agent], "page_size": 20})
    assert [row["case_number"] for page in pages for row in page.plain["results"]] == expected
    # The reference's CASE filter table has no assignee key: the sandbox refuses it, and the server says so.
    assert "does not filter by assignee" in pages[0].text


async def test_search_by_assignee_name_finds_the_cases_of_that_agent(tools: Tools, data: Dataset) -> None:
    names = users(data)
    assert names, "the sandbox serves a USER directory"
    agent = Counter(assignee_id(c) for c in live(data) if assignee_id(c) in names).most_common(1)[0][0]
    expected = [c["caseNumber"] for c in newest_first(c for c in live(data) if assignee_id(c) == agent)]
    pages = await tools.walk("search_cases", {"assignee": [names[agent].upper()], "page_size": 50})
    assert [row["case_number"] for page in pages for row in page.plain["results"]] == expected
    assert {row["assignee"] for page in pages for row in page.plain["results"]} == {names[agent]}


async def test_count_by_assignee_counts_the_newest_cases_here_when_sprinklr_cannot_filter_by_assignee(
    tools: Tools, data: Dataset
) -> None:
    answer = await tools.ok("search_cases", {"count_by": "assignee"})
    newest_cases = newest_first(live(data))[:500]
    oracle = Counter(assignee_shown(c, data) or "(none)" for c in newest_cases)
    assert answer.plain["counts"] == dict(oracle)
    assert answer.plain["total"] == len(newest_cases)
    first = answer.text.splitlines()[0]
    assert "counted here (this account's case search does not filter by assignee)" in first
    assert first.endswith("among the newest 500 matching cases.")
    again = await tools.ok("search_cases", {"count_by": "assignee"})
    assert again.plain["counts"] == dict(oracle)


# -- search_messages ---------------------------------------------------------------------------------------------------


def day_bounds(first: date, last: date) -> tuple[int, int]:
    """The epoch-ms range from the start of one UTC day to the end of another."""
    low = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000)
    high = int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp() * 1000) + 86_400_000 - 1
    return low, high


def busy_days(data: Dataset, days: int) -> tuple[date, date]:
    """A window of whole days in the middle of the data."""
    middle = data.messages[len(data.messages) // 2]["channelCreatedTime"]
    last = datetime.fromtimestamp(middle / 1000, UTC).date()
    return last - timedelta(days=days - 1), last


def newest(messages: list[JSON]) -> list[str]:
    """Message ids newest first, as a message search lists them."""
    return [m["messageId"] for m in sorted(messages, key=lambda m: -m["channelCreatedTime"])]


def text(message: JSON) -> str:
    return str((message.get("content") or {}).get("text") or "")


async def test_a_window_of_days_is_walked_to_its_end_newest_first_by_the_next_page_line(
    tools: Tools, data: Dataset
) -> None:
    first, last = busy_days(data, 20)
    expected = newest(data.messages_between(*day_bounds(first, last)))
    assert len(expected) > 100
    pages = await tools.walk("search_messages", {"since": str(first), "until": str(last), "page_size": 100})
    found = [hit["id"] for page in pages for hit in page.plain["results"]]
    assert found == expected
    assert len(pages) > 1
    for page in pages:
        assert page.plain["offset"] == found.index(page.plain["results"][0]["id"])
        assert page.text.splitlines()[0].startswith(f"Messages {page.plain['offset'] + 1}-")
    assert pages[-1].next_call is None


async def test_without_a_window_the_search_covers_the_last_30_days(tools: Tools, data: Dataset) -> None:
    before = time.time() * 1000
    pages = await tools.walk("search_messages", {"page_size": 100})
    after = time.time() * 1000
    found = [hit["id"] for page in pages for hit in page.plain["results"]]
    surely = newest([m for m in data.messages if after - 30 * 86_400_000 <= m["channelCreatedTime"] <= before])
    maybe = newest([m for m in data.messages if before - 30 * 86_400_000 <= m["channelCreatedTime"] <= after])
    assert surely, "the sandbox must have messages in the last 30 days for this test to mean anything"
    assert set(surely) <= set(found) <= set(maybe)
    assert found == [i for i in maybe if i in set(found)]


@pytest.mark.parametrize(
    ("arguments", "matches"),
    [
        ({"text": "REFUND"}, lambda m: "refund" in text(m).casefold()),
        ({"channel": ["TWITTER", "INSTAGRAM"]}, lambda m: m["channelType"] in ("TWITTER", "INSTAGRAM")),
        ({"sentiment": ["negative"]}, lambda m: m.get("enrichments", {}).get("sentiment") == -1),
        ({"side": "brand"}, lambda m: m.get("brandPost") is True),
        (
            {"side": "customer", "sentiment": ["positive", "neutral"]},
            lambda m: m.get("brandPost") is False and m.get("enrichments", {}).get("sentiment") in (0, 1),
        ),
    ],
    ids=["text", "channel", "sentiment", "side", "side+sentiment"],
)
async def test_message_search_filters_find_exactly_the_matching_messages_in_the_window(
    tools: Tools, data: Dataset, arguments: JSON, matches: Any
) -> None:
    first, last = busy_days(data, 60)
    expected = newest([m for m in data.messages_between(*day_bounds(first, last)) if matches(m)])
    assert expected
    pages = await tools.walk(
        "search_messages", {**arguments, "since": str(first), "until": str(last), "page_size": 100}
    )
    assert [hit["id"] for page in pages for hit in page.plain["results"]] == expected
    for page in pages[:-1]:
        follow = page.next_call
        assert follow is not None
        assert {k: v for k, v in follow[1].items() if k not in ("offset", "page_size")} == {
            **arguments,
            "since": str(first),
            "until": str(last),
        }


async def test_a_hit_shows_the_case_number_of_its_conversation_once_the_case_is_known(
    tools: Tools, data: Dataset
) -> None:
    raw = typical_case(data)
    ids = data.case_message_ids[raw["id"]]
    times = [data.message_by_id[i]["channelCreatedTime"] for i in ids]
    first = datetime.fromtimestamp(min(times) / 1000, UTC).date()
    last = datetime.fromtimestamp(max(times) / 1000, UTC).date()
    await tools.ok("get_case", {"case_number": raw["caseNumber"]})
    channel = raw["contact"]["channelType"]
    pages = await tools.walk(
        "search_messages", {"since": str(first), "until": str(last), "channel": [channel], "page_size": 100}
    )
    hits = {hit["id"]: hit for page in pages for hit in page.plain["results"]}
    assert set(ids) <= set(hits)
    for message_id in ids:
        assert hits[message_id]["case_number"] == raw["caseNumber"]
    lines = pages[0].text.splitlines()
    assert f"  case_number: {raw['caseNumber']}" in lines or len(pages) > 1


async def test_a_search_matching_nothing_says_so_and_names_what_was_searched_for(tools: Tools, data: Dataset) -> None:
    first, last = busy_days(data, 5)
    answer = await tools.ok(
        "search_messages", {"text": "zyxwvut", "channel": ["LINKEDIN"], "since": str(first), "until": str(last)}
    )
    head = answer.text.splitlines()[0]
    assert head.startswith("No messages match")
    assert "zyxwvut" in head
    assert "LINKEDIN" in head
    assert str(first) in head
    assert answer.plain["results"] == []
    assert answer.next_call is None


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"since": "2026-01-01", "until": "2026-06-30"}, "at most 92 days"),
        ({"since": "2026-03-01", "until": "2026-02-01"}, "start is after the end"),
        ({"since": "9999-12-30", "until": "9999-12-31"}, "out of range"),
        ({"last_days": 7, "since": "2026-01-01"}, "last_days or dates, not both"),
        ({"text": "x"}, "text"),
        ({"channel": ["MYSPACE"]}, "channel"),
        ({"sentiment": ["angry"]}, "sentiment"),
        ({"side": "agent"}, "side"),
        ({"page_size": 500}, "page_size"),
    ],
)
async def test_search_messages_refuses_bad_arguments_before_anything_is_sent(
    tools: Tools, sandbox: SandboxAdmin, arguments: JSON, says: str
) -> None:
    text = await tools.error("search_messages", arguments)
    assert says in text
    assert sandbox.requests() == 0


# -- lookup_profile ----------------------------------------------------------------------------------------------------


def customer_with_cases(data: Dataset, at_least: int) -> JSON:
    """A customer profile with an email, a phone and at least this many live cases."""
    counts = Counter(c["contact"]["id"] for c in live(data))
    for profile in data.profiles:
        contact = profile.get("contact") or {}
        if counts[profile["id"]] >= at_least and contact.get("email") and contact.get("phoneNo"):
            return profile
    raise AssertionError(f"no customer with {at_least} cases, an email and a phone")


def assert_profile(view: JSON, profile: JSON) -> None:
    """A profile view shows the stored profile."""
    contact = profile.get("contact") or {}
    assert view["id"] == profile["id"]
    assert view["name"] == profile["name"]
    assert view["username"] == profile["username"]
    assert view["channel"] == profile["channelType"]
    assert view["channel_id"] == profile["channelId"]
    assert view.get("email") == contact.get("email")
    assert view.get("phone") == contact.get("phoneNo")
    assert view["link"] == profile["permalink"]
    assert view["followers"] == profile["followers"]
    assert view["verified"] is profile["verified"]
    assert view["created"] == minute(profile["createdTime"])


def spaced(phone: str) -> list[str]:
    """A stored phone (+ and digits) as people write it."""
    digits = phone.lstrip("+")
    code, rest = digits[:2], digits[2:]
    return [
        f"+{code} {rest[:3]} {rest[3:6]} {rest[6:]}",
        f"+{code}-{rest[:3]}-{rest[3:6]}-{rest[6:]}",
        f"+{code} ({rest[:3]}) {rest[3:6]}-{rest[6:]}",
        digits,
        phone,
    ]


async def test_a_customer_is_found_by_email_in_any_letter_case(tools: Tools, data: Dataset) -> None:
    profile = customer_with_cases(data, 1)
    email = profile["contact"]["email"]
    for given in (email, email.upper(), email.title()):
        answer = await tools.ok("lookup_profile", {"email": given})
        assert [p["id"] for p in answer.plain["profiles"]] == [profile["id"]]
        assert_profile(answer.plain["profiles"][0], profile)
        assert answer.text.splitlines()[0] == "1 Sprinklr profile(s) found by email."


async def test_a_customer_is_found_by_phone_written_in_any_common_format(tools: Tools, data: Dataset) -> None:
    profile = customer_with_cases(data, 1)
    for given in spaced(profile["contact"]["phoneNo"]):
        answer = await tools.ok("lookup_profile", {"phone": given})
        assert [p["id"] for p in answer.plain["profiles"]] == [profile["id"]], given


async def test_a_customer_is_found_by_channel_id_with_or_without_the_channel(tools: Tools, data: Dataset) -> None:
    profile = customer_with_cases(data, 1)
    plain_lookup = await tools.ok("lookup_profile", {"channel_id": profile["channelId"]})
    narrowed = await tools.ok("lookup_profile", {"channel_id": profile["channelId"], "channel": profile["channelType"]})
    assert [p["id"] for p in plain_lookup.plain["profiles"]] == [profile["id"]]
    assert [p["id"] for p in narrowed.plain["profiles"]] == [profile["id"]]
    other = next(c for c in ("TWITTER", "FACEBOOK") if c != profile["channelType"])
    text = await tools.error("lookup_profile", {"channel_id": profile["channelId"], "channel": other})
    assert "No customer profile matches that channel_id" in text


async def test_a_customer_is_found_by_profile_id(tools: Tools, data: Dataset) -> None:
    profile = customer_with_cases(data, 1)
    answer = await tools.ok("lookup_profile", {"profile_id": profile["id"]})
    assert_profile(answer.plain["profiles"][0], profile)
    assert "cases" not in answer.plain
    assert answer.next_call is None


async def test_cases_n_lists_the_latest_cases_and_the_next_page_line_leads_to_all_the_rest(
    tools: Tools, data: Dataset
) -> None:
    profile = customer_with_cases(data, 8)
    expected = [c["caseNumber"] for c in newest_first(c for c in live(data) if c["contact"]["id"] == profile["id"])]
    answer = await tools.ok("lookup_profile", {"email": profile["contact"]["email"], "cases": 3})
    assert [row["case_number"] for row in answer.plain["cases"]] == expected[:3]
    assert answer.plain["total_cases"] == len(expected)
    assert f"Cases: 3 of {len(expected)} shown." in answer.text.splitlines()[0]
    follow = answer.next_call
    assert follow == ("search_cases", {"customer_id": profile["channelId"], "offset": 3})
    rest = await tools.walk(*follow)
    assert [row["case_number"] for page in rest for row in page.plain["results"]] == expected[3:]


async def test_a_customer_with_fewer_cases_than_asked_for_gets_all_of_them_and_no_next_page(
    tools: Tools, data: Dataset
) -> None:
    profile = customer_with_cases(data, 1)
    expected = [c["caseNumber"] for c in newest_first(c for c in live(data) if c["contact"]["id"] == profile["id"])]
    answer = await tools.ok("lookup_profile", {"profile_id": profile["id"], "cases": 20})
    assert [row["case_number"] for row in answer.plain["cases"]] == expected[:20]
    if len(expected) <= 20:
        assert answer.next_call is None


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"email": "nobody.at.all@nowhere.example"}, "No customer profile matches that email"),
        ({"phone": "+1 555 000 0000"}, "No customer profile matches that phone"),
        ({"profile_id": "ffffffffffffffffffffffff"}, "ffffffffffffffffffffffff"),
    ],
)
async def test_a_customer_not_found_is_one_line_naming_what_was_looked_up(
    tools: Tools, arguments: JSON, says: str
) -> None:
    text = await tools.error("lookup_profile", arguments)
    assert says in text


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({}, "exactly one of email, phone, channel_id, profile_id"),
        ({"email": "a@b.example", "phone": "+15550100"}, "exactly one of"),
        ({"email": "not an email"}, "email"),
        ({"phone": "call me maybe"}, "phone"),
        ({"profile_id": "a/b"}, "profile_id"),
        ({"email": "a@b.example", "cases": 21}, "cases"),
        ({"channel_id": "x", "channel": "MYSPACE"}, "channel"),
    ],
)
async def test_lookup_profile_refuses_bad_arguments_before_anything_is_sent(
    tools: Tools, sandbox: SandboxAdmin, arguments: JSON, says: str
) -> None:
    text = await tools.error("lookup_profile", arguments)
    assert says in text
    assert sandbox.requests() == 0


# -- list_values and quota_status --------------------------------------------------------------------------------------


def sample(data: Dataset) -> list[JSON]:
    """The latest 100 live cases: what list_values learns values from."""
    return newest_first(live(data))[:100]


async def test_list_values_lists_the_values_the_latest_cases_carry_and_the_configured_queues(
    tools: Tools, data: Dataset
) -> None:
    answer = await tools.ok("list_values")
    values = answer.plain["values"]
    assert answer.plain["sample"] == 100
    assert set(values) == {"status", "priority", "type", "brand", "language", "country", "queue", "assignee"}
    latest = sample(data)
    assert {c["status"] for c in latest} <= set(values["status"])
    assert {c["priority"] for c in latest} <= set(values["priority"])
    assert {c["caseType"] for c in latest} <= set(values["type"])
    assert {prop(c, BRAND_FIELD)[0] for c in latest} <= set(values["brand"])
    assert values["queue"] == list(QUEUES)
    assert len(values["assignee"]) <= 13
    for line in answer.text.splitlines()[2:10]:
        assert re.match(r"^  [a-z]+: .+$", line), line


async def test_list_values_of_one_field_lists_every_value_seen_most_common_first(tools: Tools, data: Dataset) -> None:
    answer = await tools.ok("list_values", {"field": "country"})
    shown = answer.plain["values"]["country"]
    assert set(answer.plain["values"]) == {"country"}
    seen = Counter(prop(c, COUNTRY_FIELD)[0] for c in sample(data))
    assert set(shown) == set(seen)
    assert [seen[v] for v in shown] == sorted((seen[v] for v in shown), reverse=True)


async def test_list_values_is_read_once_and_then_costs_no_call(running: RunningSandbox, sandbox: SandboxAdmin) -> None:
    async with Client(build_server(sandbox_settings(running, queue_names=QUEUES))) as client:
        cold = await Tools.open(client)
        await cold.ok("list_values")
        assert 1 <= sandbox.requests() <= 3  # a case sample, and the USER and CUSTOM_FIELD directories
        sent = sandbox.requests()
        await cold.ok("list_values", {"field": "status"})
        await cold.ok("list_values")
        assert sandbox.requests() == sent


async def test_quota_status_reports_the_limits_and_the_calls_made_at_no_cost(
    tools: Tools, sandbox: SandboxAdmin, data: Dataset
) -> None:
    before = (await tools.ok("quota_status")).plain
    assert sandbox.requests() == 0
    assert before["quota"]["per_second_limit"] == 1000
    assert before["quota"]["per_hour_limit"] == 1_000_000
    assert before["quota"]["ledger"] == "memory"
    await tools.ok("get_case", {"case_number": typical_case(data)["caseNumber"]})
    after = await tools.ok("quota_status")
    assert sandbox.requests() == 1
    assert after.plain["quota"]["used_this_hour"] == before["quota"]["used_this_hour"] + 1
    assert after.plain["upstream_calls"] == before["upstream_calls"] + 1
    assert after.plain["quota"]["left_this_hour"] == 1_000_000 - after.plain["quota"]["used_this_hour"]
    assert after.plain["cache"]["entries"] > 0
    assert after.text.splitlines()[0] == "Sprinklr API budget and cache (no API call)."
    assert "untrusted" not in after.text


# -- this week ---------------------------------------------------------------------------------------------------------


def this_week(data: Dataset, before: float, after: float) -> tuple[list[JSON], list[JSON]]:
    """Live cases created in the last 7 days: those surely inside the window, and those perhaps inside it (the
    window moves with the clock while the call runs)."""
    week = 7 * 86_400_000
    surely = [c for c in live(data) if c["createdTime"] >= after * 1000 - week]
    maybe = [c for c in live(data) if c["createdTime"] >= before * 1000 - week]
    return surely, maybe


async def test_open_urgent_cases_of_a_brand_this_week_take_one_call(
    tools: Tools, sandbox: SandboxAdmin, data: Dataset
) -> None:
    brand = "Fabrikam Home"
    before = time.time()
    answer = await tools.ok(
        "search_cases", {"status": ["new", "open"], "priority": ["urgent"], "brand": [brand], "last_days": 7}
    )
    after = time.time()
    surely, maybe = this_week(data, before, after)

    def wanted(cases: list[JSON]) -> list[int]:
        return [
            c["caseNumber"]
            for c in newest_first(cases)
            if c["status"] in ("New", "Open") and c["priority"] == "Urgent" and brand in prop(c, BRAND_FIELD)
        ]

    found = [row["case_number"] for row in answer.plain["results"]]
    assert wanted(surely), "the sandbox plans urgent open cases of every brand this week"
    assert set(wanted(surely)) <= set(found) <= set(wanted(maybe))
    assert answer.next_call is None
    assert sandbox.requests() == 1


async def test_cases_per_status_this_week_take_one_call_and_match_the_dataset(tools: Tools, data: Dataset) -> None:
    before = time.time()
    answer = await tools.ok("search_cases", {"count_by": "status", "last_days": 7})
    after = time.time()
    surely, maybe = this_week(data, before, after)
    low, high = Counter(c["status"] for c in surely), Counter(c["status"] for c in maybe)
    counts = answer.plain["counts"]
    assert set(counts) == set(high)
    for status, count in counts.items():
        assert low[status] <= count <= high[status]
    assert sum(low.values()) > 20


@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("list_values", {"field": "subject"}, "field"),
        ("list_values", {"fields": ["status"]}, "fields"),
        ("quota_status", {"reset": True}, "reset"),
    ],
)
async def test_list_values_and_quota_status_refuse_what_they_do_not_take_before_anything_is_sent(
    tools: Tools, sandbox: SandboxAdmin, tool: str, arguments: JSON, says: str
) -> None:
    text = await tools.error(tool, arguments)
    assert says in text
    assert sandbox.requests() == 0
