"""Make the recording fixtures: `python -m tests.recordings.make` runs SESSION against each profile's sandbox with
SPRINKLR_MCP_RECORD_DIR set and keeps one file per profile here. The session avoids arguments relative to today
(last_days), so that the same calls made on replay, any day later, are the requests that were recorded.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from server.app import build_server
from server.sandbox import SandboxConfig, running_sandbox
from server.sandbox.data import QUEUES, Dataset
from server.settings import load_settings

HERE = Path(__file__).resolve().parent
PROFILES = ("default", "strict")
# The sandbox of every recording: a fixed anchor, so each regeneration records the same data.
ANCHOR = "2026-11-30"


def session(data: Dataset) -> list[tuple[str, dict[str, Any]]]:
    """The calls recorded, and replayed: a case and its whole conversation, a search, a customer."""
    case = next(c for c in data.cases if 60 <= len(data.case_message_ids[c["id"]]) <= 120 and not c["deleted"])
    email = next(p["contact"]["email"] for p in data.profiles if "email" in p["contact"])
    calls: list[tuple[str, dict[str, Any]]] = [("get_case", {"case_number": case["caseNumber"], "activity": True})]
    total = len(data.case_message_ids[case["id"]])
    calls += [
        ("get_case_messages", {"case_number": case["caseNumber"], "offset": start, "limit": 40})
        for start in range(0, total, 40)
    ]
    calls += [("search_cases", {"status": ["Open"], "page_size": 5}), ("lookup_profile", {"email": email})]
    return calls


async def record(profile: str) -> Path:
    """Run the session against one profile's sandbox, recording, and keep the recording as <profile>.jsonl."""
    config = SandboxConfig(profile=profile, anchor=ANCHOR, rate_per_second=100_000, rate_per_hour=10_000_000)
    folder = Path(tempfile.mkdtemp(prefix="sprinklr-recording-"))
    with running_sandbox(config) as sandbox:
        settings = load_settings(
            env=config.env,
            api_key=config.api_key,
            access_token=config.access_token,
            base_url=sandbox.base_url,
            ledger_path=":memory:",
            queue_names=QUEUES,
            record_dir=str(folder),
        )
        async with Client(build_server(settings)) as client:
            for tool, arguments in session(sandbox.app_state.dataset):
                outcome = await client.call_tool(tool, arguments)
                assert not outcome.is_error, (tool, arguments, outcome.content)
    return keep(folder, profile)


def keep(folder: Path, profile: str) -> Path:
    """Move the one recording a session made into place as <profile>.jsonl."""
    (made,) = folder.glob("*.jsonl")
    target = HERE / f"{profile}.jsonl"
    shutil.move(made, target)
    shutil.rmtree(folder)
    return target


if __name__ == "__main__":
    for name in PROFILES:
        print(anyio.run(record, name))
