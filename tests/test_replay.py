"""Recordings of real exchanges replayed through the client: what a user with a real account attaches to an issue.

The fixtures were made by `python -m tests.recordings.make` from two sandbox profiles (SPRINKLR_MCP_RECORD_DIR);
here the same calls are answered from the files alone, with no sandbox running.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from mcp import Client

from server.app import build_server
from server.record import ReplayTransport
from server.sandbox import SandboxConfig
from server.sandbox.data import QUEUES, cached_dataset
from server.settings import load_settings
from tests.conftest import text_of
from tests.recordings.make import ANCHOR, PROFILES, session

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent / "recordings"
ROOT = "http://sprinklr-replay.invalid/prod2"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_recorded_session_replays_through_the_client_with_the_same_answers(profile: str) -> None:
    replay = ReplayTransport.from_file(HERE / f"{profile}.jsonl", ROOT)
    settings = load_settings(
        env="prod2", api_key="any-key", access_token="any-token", base_url=ROOT, ledger_path=":memory:",
        queue_names=QUEUES,
    )  # fmt: skip
    data = cached_dataset(anchor=dt.date.fromisoformat(ANCHOR))
    calls = session(data)
    texts = []
    async with Client(build_server(settings, replay)) as client:
        for tool, arguments in calls:
            outcome = await client.call_tool(tool, arguments)
            assert not outcome.is_error, text_of(outcome)
            texts.append(text_of(outcome))
    assert replay.missed == []
    case = data.case_by_number[calls[0][1]["case_number"]]
    pages = [text for (tool, _), text in zip(calls, texts, strict=True) if tool == "get_case_messages"]
    # The whole conversation, page after page, and the last page says there is no more.
    total = len(data.case_message_ids[case["id"]])
    assert f"of {total} (oldest first)" in pages[0]
    assert "Next page:" not in pages[-1]
    assert f"Case {case['caseNumber']}" in texts[0]


@pytest.mark.parametrize("profile", PROFILES)
def test_recordings_hold_no_credential_and_no_email_address(profile: str) -> None:
    text = (HERE / f"{profile}.jsonl").read_text(encoding="utf-8")
    config = SandboxConfig()
    for secret in (config.api_key, config.access_token, config.refresh_token, config.api_secret):
        assert secret not in text
    assert EMAIL.findall(text) == []
    for line in text.splitlines():
        record = json.loads(line)
        assert set(record) == {"method", "path", "query", "body", "status", "headers", "response"}
        assert "authorization" not in {name.lower() for name in record["headers"]}
