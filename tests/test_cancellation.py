"""A cancelled tool call stops fetching: no further Sprinklr request after the one in flight."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import SandboxAdmin

pytestmark = pytest.mark.anyio


async def test_a_cancelled_conversation_read_sends_no_more_requests_and_the_session_goes_on(
    client: Client, sandbox: SandboxAdmin, samples: dict[str, Any]
) -> None:
    # Slow Sprinklr down so the 480-message conversation takes several sequential requests.
    sandbox.configure(latency_ms=250)
    number = samples["biggestCase"]["caseNumber"]
    with anyio.move_on_after(0.4) as scope:
        await client.call_tool("get_case_messages", {"case_number": number, "limit": 100})
    assert scope.cancelled_caught
    sent = sandbox.requests()
    # Long enough for two more sequential requests to have arrived had the server kept going.
    await anyio.sleep(0.8)
    assert sandbox.requests() <= sent + 1  # at most the one already on the wire
    assert sandbox.requests() < 5  # the whole read needs 1 case + 3 id pages + 1 bulk fetch
    sandbox.configure(latency_ms=0)
    after = await client.call_tool("get_case", {"case_number": 48213})
    assert not after.is_error
