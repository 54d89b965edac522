"""Every tool through a real MCP client session against the sandbox on loopback.

Answers are checked against the dataset the sandbox serves (the oracle), pages are walked to the end, every
structured result is validated against the tool's published outputSchema, and bad input is refused with a
message that says what was wrong, before anything reaches Sprinklr.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from mcp import Client

from server.sandbox.data import BRAND_FIELD, COUNTRY_FIELD, LANGUAGE_FIELD, QUEUES, Dataset
from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, text_of

pytestmark = pytest.mark.anyio

JSON = dict[str, Any]
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
FENCE = re.compile(r"<</?untrusted:[0-9a-f]+>>")
# More pages than any walk below needs; a walk that gets here is looping.
MAX_PAGES = 60


@dataclass
class Session:
    """An MCP client session plus the output schemas the server published, to validate every result against."""

    client: Client
    output_schemas: dict[str, JSON]

    async def ok(self, name: str, **arguments: Any) -> JSON:
        """Call a tool that must succeed; return its structured content, validated against its outputSchema."""
        result = await self.client.call_tool(name, arguments)
        assert not result.is_error, text_of(result)
        content = result.structured_content
        assert isinstance(content, dict)
        jsonschema.validate(content, self.output_schemas[name], cls=jsonschema.Draft202012Validator)
        return content

    async def error(self, name: str, **arguments: Any) -> str:
        """Call a tool that must fail as a tool error; return the error text."""
        result = await self.client.call_tool(name, arguments)
        assert result.is_error, f"expected a tool error from {name}, got: {text_of(result)[:300]}"
        return text_of(result)


@pytest.fixture
async def session(client: Client) -> Session:
    """The client session and the published output schemas."""
    listing = await client.list_tools()
    return Session(client, {tool.name: tool.output_schema or {} for tool in listing.tools})


@pytest.fixture
def data(running: RunningSandbox) -> Dataset:
    """The dataset the sandbox serves: the oracle answers are checked against."""
    return running.app_state.dataset


def live_cases(data: Dataset) -> list[JSON]:
    """Cases that are not deleted, the only ones a search may return."""
    return [case for case in data.cases if not case["deleted"]]


def prop(case: JSON, field_id: str) -> list[Any]:
    """A case's values of one custom field."""
    values: list[Any] = case["workflow"]["customProperties"].get(field_id, [])
    return values


def unfenced(text: str) -> str:
    """Customer text without the untrusted-data marks around it."""
    return FENCE.sub("", text)


def utc(epoch_ms: int) -> str:
    """Epoch milliseconds as the ISO UTC string the views use."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def walk(session: Session, tool: str, **arguments: Any) -> list[JSON]:
    """Every page of a search, following next_cursor to the end."""
    pages = [await session.ok(tool, **arguments)]
    while (cursor := pages[-1].get("next_cursor")) is not None:
        assert len(pages) < MAX_PAGES, "next_cursor never ran out"
        pages.append(await session.ok(tool, cursor=cursor))
    return pages


# -- search_cases ---------------------------------------------------------------------------------------------------

CASE_FILTERS: list[tuple[str, Any, Callable[[JSON], bool]]] = [
    ("status", ["Open", "Pending"], lambda c: c["status"] in ("Open", "Pending")),
    ("priority", ["Urgent"], lambda c: c["priority"] == "Urgent"),
    ("case_type", ["Incident", "Task"], lambda c: c["caseType"] in ("Incident", "Task")),
    ("brand", ["Contoso Cloud"], lambda c: "Contoso Cloud" in prop(c, BRAND_FIELD)),
    ("language", ["es", "pt"], lambda c: bool({"es", "pt"} & set(prop(c, LANGUAGE_FIELD)))),
    ("country", ["IE"], lambda c: "IE" in prop(c, COUNTRY_FIELD)),
    ("queue_id", QUEUES["Billing"], lambda c: any(q["queueId"] == QUEUES["Billing"] for q in c["workflow"]["queues"])),
    ("external_system", "zendesk", lambda c: c.get("externalCase", {}).get("channelType") == "zendesk"),
]


@pytest.mark.parametrize(("name", "value", "matches"), CASE_FILTERS, ids=[f[0] for f in CASE_FILTERS])
async def test_search_cases_filter_counts_exactly_the_live_matching_cases_newest_first(
    session: Session, data: Dataset, name: str, value: Any, matches: Callable[[JSON], bool]
) -> None:
    page = await session.ok("search_cases", **{name: value}, page_size=25)
    expected = sorted((c for c in live_cases(data) if matches(c)), key=lambda c: -c["createdTime"])
    assert expected, "the oracle must have matches for the filter to mean anything"
    assert page["total"] == len(expected)
    numbers = [row["case_number"] for row in page["results"]]
    assert numbers
    assert numbers == [c["caseNumber"] for c in expected[: len(numbers)]]
    assert page["offset"] == 0


async def test_search_cases_by_customer_channel_id_finds_all_of_that_customers_cases(
    session: Session, data: Dataset, samples: JSON
) -> None:
    customer = samples["profiles"]["repeatCustomers"][0]
    page = await session.ok("search_cases", contact_channel_id=customer["channelId"], page_size=50)
    expected = {c["caseNumber"] for c in live_cases(data) if c["contact"]["channelId"] == customer["channelId"]}
    assert len(expected) >= 5
    assert page["total"] == len(expected)
    assert {row["case_number"] for row in page["results"]} == expected


async def test_search_cases_created_window_returns_only_cases_created_inside_it(
    session: Session, data: Dataset
) -> None:
    after, before = "2025-06-01T00:00:00Z", "2025-06-30T23:59:59Z"
    page = await session.ok("search_cases", created_after=after, created_before=before, page_size=100)
    low = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
    high = int(datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)
    expected = {c["caseNumber"] for c in live_cases(data) if low <= c["createdTime"] <= high}
    assert 0 < len(expected) <= 100
    assert page["total"] == len(expected)
    assert {row["case_number"] for row in page["results"]} == expected
    assert all("2025-06-01T00:00:00Z" <= row["created"] <= "2025-06-30T23:59:59Z" for row in page["results"])


async def test_search_cases_modified_window_returns_only_cases_modified_inside_it(
    session: Session, data: Dataset
) -> None:
    page = await session.ok(
        "search_cases", modified_after="2026-03-01T00:00:00Z", modified_before="2026-03-10T00:00:00Z", page_size=100
    )
    low = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
    high = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)
    expected = {c["caseNumber"] for c in live_cases(data) if low <= c["modifiedTime"] <= high}
    assert expected
    assert page["total"] == len(expected)
    assert {row["case_number"] for row in page["results"]} == expected


async def test_search_cases_by_case_number_range_leaves_out_the_deleted_cases_inside_it(
    session: Session, samples: JSON
) -> None:
    deleted = set(samples["caseNumbers"]["deleted"])
    inside = {n for n in deleted if 48100 <= n <= 48150}
    assert inside, "the range must hold deleted cases for this test to mean anything"
    page = await session.ok("search_cases", case_number_from=48100, case_number_to=48150, page_size=100)
    numbers = {row["case_number"] for row in page["results"]}
    assert numbers == set(range(48100, 48151)) - inside
    assert page["total"] == 51 - len(inside)


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [
        ("created_desc", "createdTime", True),
        ("created_asc", "createdTime", False),
        ("modified_desc", "modifiedTime", True),
        ("modified_asc", "modifiedTime", False),
    ],
)
async def test_search_cases_sort_orders_results_as_asked(
    session: Session, data: Dataset, sort: str, key: str, descending: bool
) -> None:
    page = await session.ok("search_cases", brand=["Fabrikam Home"], sort=sort, page_size=30)
    expected = sorted(
        (c for c in live_cases(data) if "Fabrikam Home" in prop(c, BRAND_FIELD)),
        key=lambda c: c[key],
        reverse=descending,
    )
    numbers = [row["case_number"] for row in page["results"]]
    assert numbers == [c["caseNumber"] for c in expected[: len(numbers)]]
    assert len(numbers) > 1


async def test_search_cases_next_cursor_returns_the_next_distinct_page(session: Session, data: Dataset) -> None:
    first = await session.ok("search_cases", status=["Closed"], page_size=10)
    second = await session.ok("search_cases", cursor=first["next_cursor"])
    one = [row["case_number"] for row in first["results"]]
    two = [row["case_number"] for row in second["results"]]
    expected = [
        c["caseNumber"]
        for c in sorted((c for c in live_cases(data) if c["status"] == "Closed"), key=lambda c: -c["createdTime"])
    ]
    assert one == expected[: len(one)]
    assert two == expected[len(one) : len(one) + len(two)]
    assert second["offset"] == len(one)
    assert second["total"] == first["total"] == len(expected)


async def test_search_cases_pages_cover_every_match_once_and_never_a_deleted_case(
    session: Session, data: Dataset, samples: JSON
) -> None:
    deleted = samples["caseNumbers"]["deleted"]
    low, high = min(deleted), max(deleted)
    pages = await walk(session, "search_cases", case_number_from=low, case_number_to=high, page_size=100)
    numbers = [row["case_number"] for page in pages for row in page["results"]]
    expected = {c["caseNumber"] for c in live_cases(data) if low <= c["caseNumber"] <= high}
    assert len(pages) > 1
    assert len(numbers) == len(set(numbers)) == len(expected)
    assert set(numbers) == expected
    assert not set(numbers) & set(deleted)
    offsets = [page["offset"] for page in pages]
    assert offsets == [sum(len(p["results"]) for p in pages[:i]) for i in range(len(pages))]
    assert {page["total"] for page in pages} == {len(expected)}


async def test_search_cases_continues_past_an_expired_sprinklr_cursor(
    session: Session, sandbox: SandboxAdmin, data: Dataset
) -> None:
    sandbox.configure(cursor_ttl_seconds=0)  # Sprinklr forgets every cursor at once
    first = await session.ok("search_cases", priority=["Low"], page_size=7)
    second = await session.ok("search_cases", cursor=first["next_cursor"])
    expected = [
        c["caseNumber"]
        for c in sorted((c for c in live_cases(data) if c["priority"] == "Low"), key=lambda c: -c["createdTime"])
    ]
    numbers = [row["case_number"] for row in first["results"] + second["results"]]
    assert numbers == expected[:14]
    assert second["offset"] == 7
    routes = sandbox.stats()["by_route"]
    assert routes["GET search/CASE"] == 1  # the cursor was tried, refused as expired ...
    assert routes["POST search/CASE"] == 2  # ... and the search re-run from position 7


async def test_a_date_as_created_before_includes_cases_created_during_that_day(session: Session, data: Dataset) -> None:
    page = await session.ok("search_cases", created_after="2025-06-30", created_before="2025-06-30")
    expected = [c["caseNumber"] for c in live_cases(data) if utc(c["createdTime"]).startswith("2025-06-30")]
    assert expected
    assert [row["case_number"] for row in page["results"]] == expected


async def test_search_cases_with_no_match_is_an_empty_page_not_an_error(session: Session) -> None:
    page = await session.ok("search_cases", brand=["No Such Brand"])
    assert page["results"] == []
    assert page["total"] == 0
    assert "next_cursor" not in page


# -- get_case_by_number and get_case --------------------------------------------------------------------------------


async def test_get_case_by_number_shows_the_case_fields_with_iso_utc_and_epoch_times(
    session: Session, data: Dataset
) -> None:
    raw = data.case_by_number[48213]
    case = await session.ok("get_case_by_number", case_number=48213)
    assert case["case_number"] == 48213
    assert case["id"] == raw["id"]
    assert (case["status"], case["priority"], case["type"]) == (raw["status"], raw["priority"], raw["caseType"])
    for view_key, raw_key in (("created", "createdTime"), ("modified", "modifiedTime"), ("due", "dueDate")):
        assert case[view_key] == {"utc": utc(raw[raw_key]), "epoch_ms": raw[raw_key]}
        assert ISO_UTC.match(case[view_key]["utc"])
    contact = raw["contact"]
    assert case["contact"] == {
        "profile_id": contact["id"],
        "name": contact["name"],
        "channel": contact["channelType"],
        "channel_id": contact["channelId"],
    }
    assignment = raw["workflow"]["assignment"]
    assert case["assignee"] == {"id": str(assignment["assigneeId"]), "type": assignment["assigneeType"]}
    assert case["queues"] == [q["queueId"] for q in raw["workflow"]["queues"]]
    assert unfenced(case["subject"]) == raw["subject"]
    assert unfenced(case["description"]) == raw["description"]


async def test_get_case_by_number_shows_custom_fields_under_friendly_names(session: Session, data: Dataset) -> None:
    raw = data.case_by_number[48213]
    fields = (await session.ok("get_case_by_number", case_number=48213))["fields"]
    assert fields["Brand"] == prop(raw, BRAND_FIELD)
    assert fields["Language"] == prop(raw, LANGUAGE_FIELD)
    assert fields["Country"] == prop(raw, COUNTRY_FIELD)
    assert not {BRAND_FIELD, LANGUAGE_FIELD, COUNTRY_FIELD} & set(fields)


async def test_full_detail_gives_the_whole_description_and_every_field_where_summary_trims(
    session: Session, data: Dataset, samples: JSON
) -> None:
    number = samples["caseNumbers"]["longDescription"][0]
    raw = data.case_by_number[number]
    summary = await session.ok("get_case_by_number", case_number=number)
    full = await session.ok("get_case_by_number", case_number=number, detail="full")
    assert summary["description_truncated"] is True
    assert len(unfenced(summary["description"])) < len(raw["description"])
    assert "description_truncated" not in full
    assert unfenced(full["description"]) == raw["description"]
    assert full["first_message_id"] == raw["firstMessageId"]
    assert "first_message_id" not in summary
    assert full["fields"]["Status"] == [raw["status"]]
    assert "Status" not in summary["fields"]


async def test_get_case_by_number_of_a_deleted_case_says_it_is_deleted(session: Session, samples: JSON) -> None:
    number = samples["caseNumbers"]["deleted"][0]
    case = await session.ok("get_case_by_number", case_number=number)
    assert case["case_number"] == number
    assert case["deleted"] is True


async def test_unknown_case_number_is_a_tool_error_that_names_it_and_suggests_search(
    session: Session, sandbox: SandboxAdmin
) -> None:
    text = await session.error("get_case_by_number", case_number=47999)
    assert "47999" in text
    assert "search_cases" in text
    assert sandbox.requests() == 1


async def test_get_case_by_id_returns_the_same_case_as_by_number(session: Session, data: Dataset) -> None:
    raw = data.case_by_number[48213]
    by_id = await session.ok("get_case", case_id=raw["id"])
    by_number = await session.ok("get_case_by_number", case_number=48213)
    assert by_id["case_number"] == 48213
    assert {k: v for k, v in by_id.items() if k not in ("subject", "description")} == {
        k: v for k, v in by_number.items() if k not in ("subject", "description")
    }


async def test_unknown_case_id_is_a_tool_error_that_names_it(session: Session) -> None:
    text = await session.error("get_case", case_id="ffffffffffffffffffffffff")
    assert "ffffffffffffffffffffffff" in text
    assert "get_case_by_number" in text or "search_cases" in text


# -- get_case_messages ----------------------------------------------------------------------------------------------


async def test_case_messages_come_in_time_order_with_brand_and_customer_sides(session: Session, data: Dataset) -> None:
    raw = data.case_by_number[48213]
    expected = data.case_message_ids[raw["id"]]
    page = await session.ok("get_case_messages", case_number=48213)
    ids = [m["id"] for m in page["messages"]]
    assert ids == expected[: len(ids)]
    assert page["total_messages"] == len(expected)
    times = [m["time"]["epoch_ms"] for m in page["messages"]]
    assert times == sorted(times)
    sides = {m["id"]: m["side"] for m in page["messages"]}
    assert sides == {i: "brand" if data.message_by_id[i]["brandPost"] else "customer" for i in ids}
    assert set(sides.values()) == {"brand", "customer"}
    first = page["messages"][0]
    assert unfenced(first["text"]) == data.message_by_id[ids[0]]["content"]["text"]


async def test_case_messages_by_id_equal_those_by_number(session: Session, data: Dataset) -> None:
    raw = data.case_by_number[48213]
    by_number = await session.ok("get_case_messages", case_number=48213, limit=10)
    by_id = await session.ok("get_case_messages", case_id=raw["id"], limit=10)
    assert [m["id"] for m in by_id["messages"]] == [m["id"] for m in by_number["messages"]]
    assert by_id["case_number"] == 48213


async def test_case_messages_of_an_unknown_case_is_a_tool_error_naming_it(session: Session) -> None:
    text = await session.error("get_case_messages", case_number=47999)
    assert "47999" in text
    assert "search_cases" in text


async def test_pages_of_the_biggest_case_cover_every_message_once_in_order(
    session: Session, data: Dataset, samples: JSON
) -> None:
    biggest = samples["biggestCase"]
    expected = data.case_message_ids[biggest["id"]]
    assert len(expected) == biggest["messages"] > 100
    ids: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        assert pages < MAX_PAGES
        page = await session.ok("get_case_messages", case_number=biggest["caseNumber"], offset=offset, limit=100)
        assert page["offset"] == offset == len(ids)
        ids += [m["id"] for m in page["messages"]]
        offset = page.get("next_offset")
        pages += 1
    assert ids == expected


async def test_newest_first_starts_with_the_last_message(session: Session, data: Dataset, samples: JSON) -> None:
    biggest = samples["biggestCase"]
    expected = data.case_message_ids[biggest["id"]]
    page = await session.ok("get_case_messages", case_number=biggest["caseNumber"], order="newest_first", limit=20)
    ids = [m["id"] for m in page["messages"]]
    assert ids == list(reversed(expected))[: len(ids)]
    times = [m["time"]["epoch_ms"] for m in page["messages"]]
    assert times == sorted(times, reverse=True)
    assert page["order"] == "newest_first"


async def test_an_offset_past_the_end_is_an_empty_last_page(session: Session) -> None:
    page = await session.ok("get_case_messages", case_number=48213, offset=5000)
    assert page["messages"] == []
    assert "next_offset" not in page


# -- get_message ------------------------------------------------------------------------------------------------


async def test_get_message_returns_the_whole_message(session: Session, data: Dataset) -> None:
    message_id = data.case_message_ids[data.case_by_number[48213]["id"]][0]
    raw = data.message_by_id[message_id]
    message = await session.ok("get_message", message_id=message_id)
    assert message["id"] == message_id
    assert unfenced(message["text"]) == raw["content"]["text"]
    assert message["channel"] == raw["channelType"]
    assert message["side"] == ("brand" if raw["brandPost"] else "customer")
    assert message["time"] == {"utc": utc(raw["channelCreatedTime"]), "epoch_ms": raw["channelCreatedTime"]}
    assert message["sender"] == raw["senderProfile"]["name"]
    # The documented TWITTER type 1 is "Timeline"; the view names it rather than showing the code.
    assert message_id.split("_")[4] == "1"
    assert message["message_type"] == "Timeline"


async def test_unknown_message_id_is_a_tool_error_that_names_it(session: Session) -> None:
    missing = "ACCOUNT_1_1700000000000_TWITTER_1_999"
    text = await session.error("get_message", message_id=missing)
    assert missing in text


# -- search_messages ----------------------------------------------------------------------------------------------


def window_ms(since: str, until: str) -> tuple[int, int]:
    """The epoch-ms bounds of an inclusive day window."""
    low = datetime.fromisoformat(since).replace(tzinfo=UTC)
    high = datetime.fromisoformat(until).replace(tzinfo=UTC)
    return int(low.timestamp() * 1000), int(high.timestamp() * 1000) + 86_400_000 - 1


def messages_in(data: Dataset, since: str, until: str) -> list[JSON]:
    """Messages in an inclusive day window, newest first."""
    low, high = window_ms(since, until)
    found = [m for m in data.messages if low <= m["channelCreatedTime"] <= high]
    return sorted(found, key=lambda m: -m["channelCreatedTime"])


async def test_search_messages_in_a_window_counts_every_message_in_it_newest_first(
    session: Session, data: Dataset
) -> None:
    page = await session.ok("search_messages", since="2025-05-01", until="2025-05-31", page_size=20)
    expected = messages_in(data, "2025-05-01", "2025-05-31")
    assert page["total"] == len(expected)
    ids = [m["id"] for m in page["results"]]
    assert ids
    assert ids == [m["messageId"] for m in expected[: len(ids)]]


MESSAGE_FILTERS: list[tuple[JSON, Callable[[JSON], bool]]] = [
    ({"text": "refund"}, lambda m: "refund" in (m["content"].get("text") or "").casefold()),
    ({"channel": ["FACEBOOK", "INSTAGRAM"]}, lambda m: m["channelType"] in ("FACEBOOK", "INSTAGRAM")),
    ({"sentiment": ["negative"]}, lambda m: m["enrichments"].get("sentiment") == -1),
    ({"brand_post": True}, lambda m: m["brandPost"] is True),
    ({"brand_post": False}, lambda m: m["brandPost"] is False),
]


@pytest.mark.parametrize(
    ("arguments", "matches"), MESSAGE_FILTERS, ids=["text", "channel", "sentiment", "brand", "customer"]
)
async def test_search_messages_filter_counts_exactly_the_matching_messages(
    session: Session, data: Dataset, arguments: JSON, matches: Callable[[JSON], bool]
) -> None:
    since, until = "2025-07-01", "2025-08-31"
    page = await session.ok("search_messages", since=since, until=until, page_size=30, **arguments)
    expected = [m for m in messages_in(data, since, until) if matches(m)]
    assert expected
    assert page["total"] == len(expected)
    ids = [m["id"] for m in page["results"]]
    assert ids == [m["messageId"] for m in expected[: len(ids)]]
    assert ids


async def test_search_messages_next_cursor_returns_the_next_distinct_page(session: Session, data: Dataset) -> None:
    first = await session.ok("search_messages", since="2025-05-01", until="2025-05-31", channel=["TWITTER"])
    second = await session.ok("search_messages", cursor=first["next_cursor"])
    one = [m["id"] for m in first["results"]]
    two = [m["id"] for m in second["results"]]
    expected = [m["messageId"] for m in messages_in(data, "2025-05-01", "2025-05-31") if m["channelType"] == "TWITTER"]
    assert one == expected[: len(one)]
    assert two == expected[len(one) : len(one) + len(two)]
    assert two
    assert second["offset"] == len(one)


async def test_search_messages_window_is_required(session: Session, sandbox: SandboxAdmin) -> None:
    text = await session.error("search_messages", text="refund")
    assert "since" in text
    assert "until" in text
    assert sandbox.requests() == 0


# -- lookup_profile ---------------------------------------------------------------------------------------------


def profile_with(data: Dataset, key: str, value: str) -> JSON:
    """The one profile whose contact detail `key` has this value."""
    [found] = [p for p in data.profiles if p["contact"].get(key) == value]
    return found


async def test_lookup_by_email_finds_that_customer(session: Session, data: Dataset, samples: JSON) -> None:
    email = samples["profiles"]["sampleEmails"][1]
    found = await session.ok("lookup_profile", email=email)
    [profile] = found["profiles"]
    raw = profile_with(data, "email", email)
    assert profile["id"] == raw["id"]
    assert profile["email"] == email
    assert profile["channel"] == raw["channelType"]
    assert "recent_cases" not in found


async def test_lookup_by_phone_finds_that_customer(session: Session, data: Dataset, samples: JSON) -> None:
    phone = samples["profiles"]["samplePhones"][2]
    [profile] = (await session.ok("lookup_profile", phone=phone))["profiles"]
    assert profile["id"] == profile_with(data, "phoneNo", phone)["id"]
    assert profile["phone"] == phone


async def test_lookup_by_channel_and_channel_id_finds_that_customer(session: Session, samples: JSON) -> None:
    wanted = samples["profiles"]["repeatCustomers"][1]
    found = await session.ok("lookup_profile", channel=wanted["channelType"], channel_id=wanted["channelId"])
    assert [p["id"] for p in found["profiles"]] == [wanted["profileId"]]
    assert found["profiles"][0]["channel_id"] == wanted["channelId"]


async def test_lookup_by_profile_id_finds_that_customer(session: Session, data: Dataset, samples: JSON) -> None:
    profile_id = samples["profiles"]["sampleIds"][3]
    [profile] = (await session.ok("lookup_profile", profile_id=profile_id))["profiles"]
    assert profile["id"] == profile_id
    assert profile["name"] == data.profile_by_id[profile_id]["name"]


async def test_lookup_with_include_cases_lists_that_customers_newest_cases_and_counts_them(
    session: Session, data: Dataset, samples: JSON
) -> None:
    wanted = samples["profiles"]["repeatCustomers"][0]
    found = await session.ok("lookup_profile", profile_id=wanted["profileId"], include_cases=True, cases_limit=4)
    theirs = sorted(
        (c for c in live_cases(data) if c["contact"]["id"] == wanted["profileId"]), key=lambda c: -c["createdTime"]
    )
    assert found["total_cases"] == len(theirs) > 4
    assert [c["case_number"] for c in found["recent_cases"]] == [c["caseNumber"] for c in theirs[:4]]


async def test_lookup_of_an_unknown_email_is_a_tool_error_that_suggests_another_identifier(session: Session) -> None:
    text = await session.error("lookup_profile", email="nobody@nowhere.example")
    assert "email" in text
    assert "another identifier" in text or "try" in text.lower()


async def test_lookup_of_an_unknown_profile_id_is_a_tool_error_that_names_it(session: Session) -> None:
    text = await session.error("lookup_profile", profile_id="000000000000000000000000")
    assert "000000000000000000000000" in text


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "exactly one"),
        ({"email": "a@b.example", "phone": "+14155550100"}, "got email, phone"),
        ({"profile_id": "647e23650fcf31ca8e752fdf", "channel_id": "123"}, "got channel_id, profile_id"),
        ({"channel": "TWITTER"}, "exactly one"),
    ],
    ids=["none", "email-and-phone", "id-and-channel-id", "channel-alone"],
)
async def test_lookup_needs_exactly_one_identifier(
    session: Session, sandbox: SandboxAdmin, arguments: JSON, expected: str
) -> None:
    text = await session.error("lookup_profile", **arguments)
    assert expected in text
    assert sandbox.requests() == 0


# -- quota_status ---------------------------------------------------------------------------------------------------


async def test_quota_status_costs_no_sprinklr_request(session: Session, sandbox: SandboxAdmin) -> None:
    status = await session.ok("quota_status")
    assert sandbox.requests() == 0
    assert status["quota"]["used_this_hour"] == 0
    assert status["upstream_calls"] == 0


async def test_quota_status_counts_the_calls_other_tools_made(session: Session, sandbox: SandboxAdmin) -> None:
    await session.ok("get_case_by_number", case_number=48213)
    await session.ok("get_case_by_number", case_number=48214)
    status = await session.ok("quota_status")
    assert sandbox.requests() == 2
    assert status["quota"]["used_this_hour"] == 2
    assert status["upstream_calls"] == 2
    assert status["quota"]["left_this_hour"] == status["quota"]["per_hour_limit"] - 2
    assert status["quota"]["paused"] is False


# -- bad input: refused with a clear message, nothing sent ---------------------------------------------------------


def forged_cursor(payload: JSON) -> str:
    """A cursor in the server's format, but written by hand: the server must not trust what it carries."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_INPUTS: list[tuple[str, JSON, tuple[str, ...]]] = [
    # get_case_by_number
    ("get_case_by_number", {"case_number": -1}, ("case_number", "greater than 0")),
    ("get_case_by_number", {"case_number": 0}, ("case_number", "greater than 0")),
    ("get_case_by_number", {"case_number": 2**64}, ("case_number", "less than or equal")),
    ("get_case_by_number", {"case_number": "48213; DROP"}, ("case_number", "integer")),
    ("get_case_by_number", {}, ("case_number", "required")),
    ("get_case_by_number", {"case_number": 48213, "detail": "everything"}, ("detail", "'summary' or 'full'")),
    # get_case
    ("get_case", {"case_id": "../../case/update"}, ("case_id", "pattern")),
    ("get_case", {"case_id": "abc%2Fdef"}, ("case_id", "pattern")),
    ("get_case", {"case_id": "abc/def"}, ("case_id", "pattern")),
    ("get_case", {"case_id": ""}, ("case_id", "pattern")),
    ("get_case", {"case_id": "a" * 65}, ("case_id", "pattern")),
    ("get_case", {}, ("case_id", "required")),
    # get_case_messages
    ("get_case_messages", {}, ("exactly one", "case_number")),
    ("get_case_messages", {"case_number": 48213, "case_id": "682d5be15bf2061ee105e55e"}, ("exactly one",)),
    ("get_case_messages", {"case_number": 48213, "limit": 0}, ("limit", "greater than or equal to 1")),
    ("get_case_messages", {"case_number": 48213, "limit": 101}, ("limit", "less than or equal to 100")),
    ("get_case_messages", {"case_number": 48213, "offset": -1}, ("offset", "greater than or equal to 0")),
    ("get_case_messages", {"case_number": 48213, "order": "latest"}, ("order", "'oldest_first' or 'newest_first'")),
    ("get_case_messages", {"case_id": "..%2F..%2Fcase"}, ("case_id", "pattern")),
    ("get_case_messages", {"case_number": 0}, ("case_number", "greater than 0")),
    # get_message
    ("get_message", {"message_id": "../../message/publish"}, ("message_id", "pattern")),
    ("get_message", {"message_id": "a%2Fb%2Fc"}, ("message_id", "pattern")),
    ("get_message", {"message_id": "ab"}, ("message_id", "at least 3")),
    ("get_message", {"message_id": "A" * 301}, ("message_id", "at most 300")),
    ("get_message", {}, ("message_id", "required")),
    # search_messages
    ("search_messages", {"since": "2025-05-01"}, ("since and until are required",)),
    ("search_messages", {"since": "2025-05-31", "until": "2025-05-01"}, ("since must be on or before until",)),
    ("search_messages", {"since": "2025-01-01", "until": "2025-12-31"}, ("92 days",)),
    ("search_messages", {"since": "yesterday", "until": "2025-05-01"}, ("since", "date")),
    ("search_messages", {"since": "2025-05-01", "until": "2025-05-31", "channel": ["MYSPACE"]}, ("channel", "MYSPACE")),
    ("search_messages", {"since": "2025-05-01", "until": "2025-05-31", "sentiment": ["angry"]}, ("sentiment",)),
    ("search_messages", {"since": "2025-05-01", "until": "2025-05-31", "page_size": 0}, ("page_size",)),
    ("search_messages", {"since": "2025-05-01", "until": "2025-05-31", "page_size": 101}, ("page_size",)),
    ("search_messages", {"since": "2025-05-01", "until": "2025-05-31", "text": "a"}, ("text", "at least 2")),
    ("search_messages", {"cursor": "not-a-cursor"}, ("cursor", "next_cursor")),
    # search_cases
    ("search_cases", {"page_size": 0}, ("page_size", "greater than or equal to 1")),
    ("search_cases", {"page_size": 101}, ("page_size", "less than or equal to 100")),
    ("search_cases", {"sort": "newest"}, ("sort", "created_desc")),
    ("search_cases", {"case_number_from": -5}, ("case_number_from", "greater than 0")),
    ("search_cases", {"case_number_from": 48300, "case_number_to": 48200}, ("case_number_from", "case_number_to")),
    ("search_cases", {"created_after": "2026-01-01", "created_before": "2025-01-01"}, ("created_after",)),
    ("search_cases", {"created_after": "last tuesday"}, ("created_after",)),
    ("search_cases", {"status": []}, ("status", "at least 1")),
    ("search_cases", {"status": ['Open"}]}']}, ("status", "pattern")),
    ("search_cases", {"queue_id": "../billing"}, ("queue_id", "pattern")),
    ("search_cases", {"contact_channel_id": "a b"}, ("contact_channel_id", "pattern")),
    ("search_cases", {"cursor": "garbage!"}, ("cursor", "pattern")),
    ("search_cases", {"cursor": "bm90IGpzb24"}, ("cursor", "next_cursor")),
    # A well-formed cursor whose query breaks the tool's own limits: decoded, validated again, refused.
    ("search_cases", {"cursor": forged_cursor({"c": None, "o": 0, "q": {"page_size": 5000}})}, ("cursor",)),
    ("search_cases", {"cursor": forged_cursor({"c": None, "o": 0, "q": {"delete": True}})}, ("cursor",)),
    # lookup_profile
    ("lookup_profile", {"email": "not-an-email"}, ("email", "pattern")),
    ("lookup_profile", {"phone": "call me"}, ("phone", "pattern")),
    ("lookup_profile", {"profile_id": "../profile/update"}, ("profile_id", "pattern")),
    ("lookup_profile", {"channel": "MYSPACE", "channel_id": "1"}, ("channel", "MYSPACE")),
    ("lookup_profile", {"email": "a@b.example", "cases_limit": 0}, ("cases_limit", "greater than or equal to 1")),
    ("lookup_profile", {"email": "a@b.example", "cases_limit": 21}, ("cases_limit", "less than or equal to 20")),
]


@pytest.mark.parametrize("tool", sorted({tool for tool, _, _ in BAD_INPUTS}))
async def test_bad_input_is_a_tool_error_that_says_what_was_wrong_and_sends_nothing(
    session: Session, sandbox: SandboxAdmin, tool: str
) -> None:
    # Each tool's bad inputs in one session; every miss is listed, so one run shows them all.
    misses: list[str] = []
    for name, arguments, says in BAD_INPUTS:
        if name != tool:
            continue
        result = await session.client.call_tool(name, arguments)
        text = text_of(result)
        if not result.is_error:
            misses.append(f"{arguments}: accepted")
            continue
        missing = [fragment for fragment in says if fragment.lower() not in text.lower()]
        if missing or "Traceback" in text:
            misses.append(f"{arguments}: {missing} not in {text!r}")
    assert misses == []
    assert sandbox.requests() == 0


async def test_calling_an_unknown_tool_is_an_error_that_names_it(session: Session, sandbox: SandboxAdmin) -> None:
    text = await session.error("delete_case", case_number=48213)
    assert "delete_case" in text
    assert sandbox.requests() == 0


async def test_a_misspelled_search_filter_is_a_tool_error_not_an_unfiltered_search(
    session: Session, sandbox: SandboxAdmin
) -> None:
    text = await session.error("search_cases", statuses=["Open"])
    assert "statuses" in text
    assert sandbox.requests() == 0
