"""Every tool through a real MCP client session against the sandbox on loopback, checked against the dataset.

The sandbox's dataset is the oracle: expected answers are computed from it, never written down. Listings are
walked to their end by the `Next page:` line parsed from the text alone (a model may see nothing else), every
structured result is validated against the outputSchema the server published, and bad input is refused before
anything reaches Sprinklr.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from server.app import build_server
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
    prop,
    side,
    unfenced,
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
    case = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).data
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
    assert f"assignee: {assignee_shown(raw, data)}" in answer.text.splitlines()


async def test_get_case_by_id_is_the_same_case_as_by_number(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    by_number = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).data
    by_id = (await tools.ok("get_case", {"case_id": raw["id"]})).data
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
    summary = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).data
    full = (await tools.ok("get_case", {"case_number": raw["caseNumber"], "detail": "full"})).data
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
    summary = unfenced((await tools.ok("get_case", {"case_number": raw["caseNumber"]})).data["description"])
    full = unfenced(
        (await tools.ok("get_case", {"case_number": raw["caseNumber"], "detail": "full"})).data["description"]
    )
    assert summary.endswith(" […]")
    assert len(summary) < len(full)
    assert len(full) >= min(len(stored), 12_000) * 0.9


async def test_a_deleted_case_read_by_number_says_it_is_deleted(tools: Tools, data: Dataset) -> None:
    raw = next(c for c in data.cases if c.get("deleted"))
    case = (await tools.ok("get_case", {"case_number": raw["caseNumber"]})).data
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
        case = (await tools.ok("get_case", {"case_number": raw["caseNumber"], "activity": True})).data
        after = time.time()
        assert_activity(case["activity"], expected_activity(conversation(data, raw)), before=before, after=after)


async def test_activity_is_shown_at_no_cost_once_the_conversation_is_cached_and_not_read_for_without_it(
    tools: Tools, sandbox: SandboxAdmin, data: Dataset
) -> None:
    raw = typical_case(data)
    number = raw["caseNumber"]
    first = (await tools.ok("get_case", {"case_number": number})).data
    assert "activity" not in first  # the conversation was neither cached nor asked for
    assert sandbox.requests() == 1
    await tools.ok("get_case_messages", {"case_number": number, "limit": 100})
    sent = sandbox.requests()
    before = time.time()
    again = (await tools.ok("get_case", {"case_number": number})).data
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
        assert page.data["offset"] == len(seen)
        assert page.data["total_messages"] == len(expected)
        assert page.data["order"] == order
        ids = [m["id"] for m in page.data["messages"]]
        assert ids_in_text(page) == ids
        first = page.text.splitlines()[0]
        assert first == (
            f"Case {raw['caseNumber']}: messages {len(seen) + 1}-{len(seen) + len(ids)} of {len(expected)} "
            f"({order.replace('_', ' ')})."
        )
        stored = [data.message_by_id[i] for i in ids]
        assert [m["side"] for m in page.data["messages"]] == [side(m) for m in stored]
        assert_repeats_dropped(page.data["messages"], stored)
        seen += ids
    assert seen == expected
    assert len(pages) >= 4  # 100 messages never fit the default budget: the budget, not the limit, cut the pages


async def test_a_conversation_page_shows_each_message_as_stored(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    page = (await tools.ok("get_case_messages", {"case_number": raw["caseNumber"], "limit": 100})).data
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
        page = (await tools.ok("get_case_messages", {"case_number": case["caseNumber"], "limit": 100})).data
        for view in page["messages"]:
            code = view["id"].split("_")[4]
            documented = DOCUMENTED_TYPES.get(channel, {}).get(code)
            assert view["type"] == (documented or f"code {code}")


async def test_case_messages_by_id_are_those_by_number(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    by_number = (await tools.ok("get_case_messages", {"case_number": raw["caseNumber"]})).data
    by_id = (await tools.ok("get_case_messages", {"case_id": raw["id"]})).data
    assert [m["id"] for m in by_id["messages"]] == [m["id"] for m in by_number["messages"]]
    assert by_id["case_number"] == raw["caseNumber"]


async def test_an_offset_past_the_end_says_how_many_messages_there_are_and_offers_no_next_page(
    tools: Tools, data: Dataset
) -> None:
    raw = typical_case(data)
    total = len(data.case_message_ids[raw["id"]])
    answer = await tools.ok("get_case_messages", {"case_number": raw["caseNumber"], "offset": total + 5})
    assert answer.data["messages"] == []
    assert f"the conversation has {total}" in answer.text
    assert answer.next_call is None


async def test_the_last_page_of_a_conversation_has_no_next_page_line(tools: Tools, data: Dataset) -> None:
    raw = typical_case(data)
    total = len(data.case_message_ids[raw["id"]])
    answer = await tools.ok("get_case_messages", {"case_number": raw["caseNumber"], "offset": total - 1})
    assert [m["id"] for m in answer.data["messages"]] == data.case_message_ids[raw["id"]][-1:]
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
    view = answer.data["message"]
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
    view = (await tools.ok("get_message", {"message_id": message["messageId"]})).data["message"]
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
