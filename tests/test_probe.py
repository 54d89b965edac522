"""`check --probe` against every sandbox profile: it reports each profile's readings of what the reference leaves
open, within 20 calls, keeps them beside the ledger, and a server started afterwards uses them."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from mcp import Client

from server.app import build_server
from server.findings import FindingsStore
from server.probe import PROBE_CAP, run_probe
from server.runtime import findings_path, open_app, tenant_of
from server.sandbox import SandboxConfig, running_sandbox
from server.sandbox.runner import RunningSandbox
from tests.conftest import OPEN_LIMITS, clean_env, sandbox_settings, text_of

pytestmark = pytest.mark.anyio

PROFILES = ("default", "strict", "variant", "legacy")


@pytest.fixture(scope="module", params=PROFILES)
def profiled(request: pytest.FixtureRequest) -> Iterator[tuple[RunningSandbox, dict[str, Any]]]:
    """A sandbox of one profile, and the knobs it has in force."""
    with running_sandbox(SandboxConfig(profile=request.param, **OPEN_LIMITS)) as sandbox:
        knobs: dict[str, Any] = httpx.get(f"{sandbox.admin_url}/config").json()["knobs"]
        yield sandbox, knobs


def expected(knobs: dict[str, Any]) -> dict[str, Any]:
    """What the probe should find under these knobs."""
    return {
        "page_start": knobs["page_start"],
        "time_filter": "month" if knobs["time_filter"] == "month" else "epoch",
        "status_field": "custom" if knobs["status_location"] == "both" else "top",
        "extended_keys": knobs["filter_keys"] == "extended",
        "other_sorts": knobs["sort_keys"] == "any",
        "envelope": "bare" if knobs["envelope"] == "bare" else "enveloped",
    }


async def test_the_probe_reports_each_profiles_readings_within_twenty_calls(
    profiled: tuple[RunningSandbox, dict[str, Any]], tmp_path: Path
) -> None:
    sandbox, knobs = profiled
    httpx.post(f"{sandbox.admin_url}/reset").raise_for_status()
    settings = sandbox_settings(sandbox, ledger_path=str(tmp_path / "ledger.sqlite3"))
    async with open_app(settings) as app:
        found, report = await run_probe(app.client)
    assert report.calls <= PROBE_CAP
    assert httpx.get(f"{sandbox.admin_url}/stats").json()["requests"] == report.calls
    seen = {name: getattr(found, name) for name in expected(knobs)}
    assert seen == expected(knobs)
    assert found.associated_page is not None
    assert found.associated_page <= knobs["associated_page_size"]
    assert len(report.lines) >= 8


def test_check_probe_prints_the_report_and_keeps_the_findings_for_later_servers(
    profiled: tuple[RunningSandbox, dict[str, Any]], tmp_path: Path
) -> None:
    sandbox, knobs = profiled
    if knobs["page_start"] != "page":
        pytest.skip("one profile that disagrees with the default reading is enough for the process test")
    ledger = tmp_path / "ledger.sqlite3"
    config = sandbox.config
    env = {
        **clean_env(),
        "SPRINKLR_ENV": config.env,
        "SPRINKLR_API_KEY": config.api_key,
        "SPRINKLR_ACCESS_TOKEN": config.access_token,
        "SPRINKLR_BASE_URL": sandbox.base_url,
        "SPRINKLR_MCP_LEDGER_PATH": str(ledger),
    }
    done = subprocess.run(
        [sys.executable, "-m", "server", "check", "--probe"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"Probe: \d+ API calls\.", done.stdout)
    assert "page.start is a 1-based page number." in done.stdout
    assert "month strings accepted" in done.stdout
    assert "Traceback" not in done.stderr
    settings = sandbox_settings(sandbox, ledger_path=str(ledger))
    path = findings_path(settings, tenant_of(settings))
    assert path is not None
    assert FindingsStore(path).findings.page_start == "page"
    assert f"Saved to {path}" in done.stdout


async def test_a_server_started_after_the_probe_uses_what_it_found(
    profiled: tuple[RunningSandbox, dict[str, Any]], tmp_path: Path
) -> None:
    sandbox, _ = profiled
    ledger = str(tmp_path / "ledger.sqlite3")
    settings = sandbox_settings(sandbox, ledger_path=ledger)
    async with open_app(settings) as app:
        found, _ = await run_probe(app.client)
        app.client.findings_store.replace(found)
    httpx.post(f"{sandbox.admin_url}/reset").raise_for_status()
    # Every cursor has expired by the time it is used: the second page is a search run again from its position,
    # in the reading the probe found, with no check of its own and no refusal.
    httpx.post(f"{sandbox.admin_url}/config", json={"cursor_ttl_seconds": 0}).raise_for_status()
    async with Client(build_server(sandbox_settings(sandbox, ledger_path=ledger))) as client:
        first = await client.call_tool("search_cases", {"page_size": 5})
        assert not first.is_error, text_of(first)
        following = (first.structured_content or {})["next"]["arguments"]
        second = await client.call_tool("search_cases", following)
        assert not second.is_error, text_of(second)
        reference = await client.call_tool("search_cases", {"page_size": 10})
        words = await client.call_tool("search_messages", {"last_days": 30, "page_size": 3})
        assert not words.is_error, text_of(words)
    numbers = [row["case_number"] for row in (second.structured_content or {})["results"]]
    assert numbers == [row["case_number"] for row in (reference.structured_content or {})["results"]][5:10]
    log = httpx.get(f"{sandbox.admin_url}/stats").json()["log"]
    # The expired cursor's 400 is the only refusal: no time filter in the wrong form, no sort it does not take.
    assert [entry["status"] for entry in log if entry["status"] >= 400 and "search/CASE" not in entry["path"]] == []
    assert sum(1 for entry in log if entry["status"] == 400) <= 1
    httpx.post(f"{sandbox.admin_url}/config", json={"cursor_ttl_seconds": 300}).raise_for_status()
