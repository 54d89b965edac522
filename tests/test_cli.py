"""The command line as a user runs it: `python -m server ...` in a child process with a clean environment, and
the server over stdio driven by a real MCP client, both against the session's sandbox or one of their own."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from server.sandbox.data import cached_dataset
from server.sandbox.runner import RunningSandbox
from tests.conftest import ALL_TOOLS, SandboxAdmin, clean_env, server_env, text_of

TIMEOUT = 60


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m server ARGS` to completion, as a user would from a shell."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env={**clean_env(), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def assert_one_clean_line(stderr: str, *secrets: str) -> str:
    """stderr is one line, with no traceback and none of the given secrets; return it."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for secret in secrets:
        assert secret not in stderr
    return lines[0]


def test_tools_with_sandbox_lists_all_the_tools(tmp_path: Path) -> None:
    done = run("tools", "--sandbox", env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    # The sandbox ships a Sparkcentral archive, so its three tools are listed too.
    assert listed == ALL_TOOLS | {"search_sparkcentral", "get_sparkcentral_conversation", "get_sparkcentral_report"}


def test_call_get_case_with_sandbox_prints_the_case(tmp_path: Path) -> None:
    done = run("call", "get_case", "--arg", "case_number=48213", "--sandbox", env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # The sandbox's data ends on today's UTC date, read when it started (yesterday's, if midnight passed since).
    today = datetime.now(UTC).date()
    cases = [cached_dataset(anchor=day).case_by_number[48213] for day in (today, today - timedelta(days=1))]
    assert any(
        done.stdout.startswith(f"Case 48213 · {case['status']}") and f"id: {case['id']}" in done.stdout
        for case in cases
    ), done.stdout[:200]
    assert "Brand:" in done.stdout


def test_call_of_an_unknown_case_exits_1_with_the_tool_error(tmp_path: Path) -> None:
    done = run("call", "get_case", "--arg", "case_number=47999", "--sandbox", env={}, cwd=tmp_path)
    assert done.returncode == 1
    assert "47999" in done.stdout
    assert "search_cases" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_serve_without_configuration_exits_2_with_one_line_naming_sprinklr_env(tmp_path: Path) -> None:
    done = run("serve", env={}, cwd=tmp_path)
    assert done.returncode == 2
    line = assert_one_clean_line(done.stderr)
    assert "SPRINKLR_ENV" in line
    assert done.stdout == ""


@pytest.mark.parametrize("value", ["soon", "-5", "0"])
def test_serve_with_a_malformed_timeout_names_that_variable(tmp_path: Path, value: str) -> None:
    env = {
        "SPRINKLR_ENV": "prod2",
        "SPRINKLR_API_KEY": "a-key-kept-secret",
        "SPRINKLR_ACCESS_TOKEN": "a-token-kept-secret",
        "SPRINKLR_TIMEOUT_SECONDS": value,
    }
    done = run("serve", env=env, cwd=tmp_path)
    assert done.returncode == 2
    line = assert_one_clean_line(done.stderr, "a-key-kept-secret", "a-token-kept-secret")
    assert "SPRINKLR_TIMEOUT_SECONDS" in line


def test_check_against_the_sandbox_prints_ok(running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path) -> None:
    done = run("check", env=server_env(running), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK")
    assert running.config.env in done.stdout
    assert sandbox.stats()["writes"] == []
    assert sandbox.requests() == 1  # one cheap read, as promised


def test_check_with_a_wrong_access_token_fails_with_one_clear_line_and_no_secret(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    env = server_env(running, SPRINKLR_ACCESS_TOKEN="a-stale-token-kept-secret")
    done = run("check", env=env, cwd=tmp_path)
    assert done.returncode == 1
    config = running.config
    line = assert_one_clean_line(done.stderr, "a-stale-token-kept-secret", config.api_key, config.api_secret)
    assert "401" in line
    assert "SPRINKLR_ACCESS_TOKEN" in line
    assert done.stdout == ""


def test_check_with_a_wrong_environment_names_it(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    base_url = running.base_url.removesuffix("/prod2") + "/prod3"
    done = run("check", env=server_env(running, SPRINKLR_ENV="prod3", SPRINKLR_BASE_URL=base_url), cwd=tmp_path)
    assert done.returncode == 1
    line = assert_one_clean_line(done.stderr, running.config.api_key, running.config.access_token)
    assert "prod3" in line


@pytest.mark.anyio
async def test_serve_over_stdio_lists_the_tools_and_reads_a_case_from_the_sandbox(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "server", "serve"], env=server_env(running), cwd=tmp_path
    )
    async with Client(params) as session:
        listing = await session.list_tools()
        assert {tool.name for tool in listing.tools} == ALL_TOOLS
        result = await session.call_tool("get_case", {"case_number": 48213})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["case_number"] == 48213
    assert result.structured_content["status"] == running.app_state.dataset.case_by_number[48213]["status"]
    stats = sandbox.stats()
    # The case, and the names it shows (users, custom fields), read once each.
    assert stats["by_route"] == {"GET case-numbers": 1, "POST search/USER": 1, "POST search/CUSTOM_FIELD": 1}
    assert stats["writes"] == []
