"""One tool call never burns the hour: a conversation whose pages never end stops at the call's request cap, says
so, keeps what it read, and the next call continues from there; a page that repeats ends the reading at once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp import Client

from server.call import DEFAULT_CAP
from server.sandbox.data import Dataset
from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, text_of

pytestmark = pytest.mark.anyio


def small_case(data: Dataset) -> dict[str, Any]:
    """A live case with a short conversation (one page under any page size)."""
    return next(c for c in data.cases if not c["deleted"] and 3 <= len(data.case_message_ids[c["id"]]) <= 10)


def read_so_far(text: str) -> int:
    """How many message ids an answer says were read so far ("messages 1-5 of at least N")."""
    found = re.search(r"of at least (\d+)", text)
    assert found, text
    return int(found.group(1))


def associated(sandbox: SandboxAdmin) -> list[dict[str, Any]]:
    """The associated-messages requests the sandbox received, in order."""
    return [entry for entry in sandbox.stats()["log"] if "associated-messages" in entry["path"]]


async def test_pages_that_never_end_stop_at_the_call_cap_and_the_next_call_continues(
    client: Client, sandbox: SandboxAdmin, running: RunningSandbox
) -> None:
    case = small_case(running.app_state.dataset)
    sandbox.configure(faults=[{"kind": "associated_endless", "count": 10_000, "path_contains": "associated"}])
    first = await client.call_tool("get_case_messages", {"case_number": case["caseNumber"], "limit": 5})
    text = text_of(first)
    assert not first.is_error, text
    spent = sandbox.requests()
    # The cap holds, everything else of the call included (the case read, the page of messages).
    assert spent <= DEFAULT_CAP
    assert len(associated(sandbox)) >= DEFAULT_CAP - 5
    assert "longer than one call may read" in text
    assert "of at least" in text
    assert "Next page: get_case_messages" in text
    # A second call continues where the first stopped (it adds to the ids read, rather than reading them again).
    sandbox.reset()
    sandbox.configure(faults=[{"kind": "associated_endless", "count": 10_000, "path_contains": "associated"}])
    second = await client.call_tool("get_case_messages", {"case_number": case["caseNumber"], "limit": 5})
    assert not second.is_error, text_of(second)
    assert associated(sandbox)
    assert sandbox.requests() <= DEFAULT_CAP
    assert read_so_far(text_of(second)) > read_so_far(text) > 0


async def test_a_page_that_repeats_ends_the_reading_with_two_requests(
    client: Client, sandbox: SandboxAdmin, running: RunningSandbox
) -> None:
    data = running.app_state.dataset
    case = small_case(data)
    sandbox.configure(faults=[{"kind": "associated_repeat", "count": 10_000, "path_contains": "associated"}])
    result = await client.call_tool("get_case_messages", {"case_number": case["caseNumber"]})
    assert not result.is_error, text_of(result)
    assert len(associated(sandbox)) == 2  # the page, and the same page again: nothing new, so the end
    ids = [message["id"] for message in (result.structured_content or {})["messages"]]
    assert ids == data.case_message_ids[case["id"]]
