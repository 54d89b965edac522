"""The command line as a user runs it: `python -m server ...` in a child process with a clean environment, and
the server over stdio driven by a real MCP client, both against the session's sandbox or one of their own."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from server.app import build_server
from server.cli import _parser
from server.sandbox import SandboxConfig
from server.sandbox.data import cached_dataset
from server.sandbox.runner import RunningSandbox
from server.settings import Settings
from tests.conftest import ALL_TOOLS, SandboxAdmin, clean_env, server_env, text_of

TIMEOUT = 60
STARTUP_DEADLINE = 60.0


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


def assert_config_error(done: subprocess.CompletedProcess[str], variable: str, *secrets: str) -> str:
    """Exit 2 with one clean line that names `variable` as 'VARIABLE: problem'; return the line."""
    assert done.returncode == 2, done.stderr
    line = assert_one_clean_line(done.stderr, *secrets)
    assert f"{variable}:" in line
    assert "SPRINKLR_SPRINKLR" not in line
    assert done.stdout == ""
    return line


@contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port that something is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield taken.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `python -m server ARGS` in the background, stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "server", *args],
        env={**clean_env(), **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stderr_until(process: subprocess.Popen[str], marker: str) -> str:
    """stderr read line by line until a line holds `marker` (the process must print it before the deadline)."""
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} on stderr: {''.join(seen)}")


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C the process; its exit code and the rest of its stderr."""
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=TIMEOUT)
    return process.returncode, rest


def listing_settings() -> Settings:
    """Settings enough to list the tools in-process, the archive's too (nothing reaches Sprinklr or the archive)."""
    return Settings(
        env="prod2",
        api_key="unused",
        access_token="unused",
        ledger_path=":memory:",
        sparkcentral_export_dir="sandbox-archive",
    )


async def tool_descriptions() -> dict[str, str]:
    """Each tool's description, as a client session lists them."""
    async with Client(build_server(listing_settings())) as session:
        return {tool.name: tool.description or "" for tool in (await session.list_tools()).tools}


# -- tools, describe, call ----------------------------------------------------------------------------------------


def entries(listing: str) -> dict[str, str]:
    """`tools` output as name -> first sentence (wrapped lines joined)."""
    found: dict[str, str] = {}
    name = ""
    for line in listing.splitlines():
        if line and not line[0].isspace():
            name, _, text = line.partition(" ")
            found[name] = text.strip()
        elif line.strip():
            found[name] += " " + line.strip()
    return found


ARCHIVE_TOOLS = frozenset({"search_sparkcentral", "get_sparkcentral_conversation", "get_sparkcentral_report"})


def test_tools_with_sandbox_lists_all_the_tools(tmp_path: Path) -> None:
    done = run("tools", "--sandbox", env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # The sandbox ships a Sparkcentral archive, so its three tools are listed too.
    assert set(entries(done.stdout)) == ALL_TOOLS | ARCHIVE_TOOLS


@pytest.mark.anyio
async def test_tools_prints_each_description_up_to_the_end_of_its_first_whole_sentence(tmp_path: Path) -> None:
    done = run("tools", "--sandbox", env={"COLUMNS": "70"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    descriptions = await tool_descriptions()
    for name, sentence in entries(done.stdout).items():
        whole = " ".join(descriptions[name].split())
        assert whole.startswith(sentence), (name, sentence)
        assert sentence.endswith("."), sentence
        # The sentence ends where the description's sentence does: the next character starts a new one.
        rest = whole[len(sentence) :]
        assert rest == "" or rest.startswith(" "), rest
    assert all(len(line) <= 70 for line in done.stdout.splitlines() if " " in line.strip())


def joined(text: str) -> str:
    """Text with every run of whitespace made one space (wrapped lines joined)."""
    return " ".join(text.split())


def argument_entries(described: str, schema: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """`tools NAME` output's arguments: name -> (type, 'required', 'optional' or 'default X'), no description."""
    section = described.split("\nArguments:\n", 1)[1].split("\n\n", 1)[0]
    found: dict[str, tuple[str, str]] = {}
    for entry in re.split(r"\n(?=  \S)", section):
        text = joined(entry)
        name = text.split(": ", 1)[0]
        description = joined(schema["properties"][name].get("description", ""))
        assert text.endswith(description), (text, description)
        head = text.removesuffix(description).strip().removeprefix(f"{name}: ")
        kind, _, status = head.rpartition("; ")
        found[name] = (kind, status)
    return found


@pytest.mark.anyio
@pytest.mark.parametrize("command", ["tools", "describe"])
async def test_tools_name_prints_the_whole_description_and_every_argument_with_its_values_and_default(
    command: str, running: RunningSandbox, tmp_path: Path
) -> None:
    async with Client(build_server(listing_settings())) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    for name in ("get_case", "search_messages"):
        done = run(command, name, env=server_env(running, COLUMNS="100"), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        tool = tools[name]
        assert done.stdout.startswith(f"{name}: {tool.title}\n")
        assert joined(tool.description or "") in joined(done.stdout)  # the whole description, every paragraph
        assert all(len(line) <= 100 for line in done.stdout.splitlines() if " " in line.strip())
        schema = tool.input_schema
        shown = argument_entries(done.stdout, schema)
        assert list(shown) == list(schema["properties"])
        for argument, spec in schema["properties"].items():
            kind, status = shown[argument]
            if argument in schema.get("required", []):
                assert status == "required"
            elif spec.get("default") is not None:
                assert status == f"default {json.dumps(spec['default'])}"
            else:
                assert status == "optional"
            enum = spec.get("enum") or next((alt["enum"] for alt in spec.get("anyOf", []) if "enum" in alt), None)
            for value in enum or []:
                assert json.dumps(value) in kind, (argument, value)


def test_a_range_and_a_list_of_allowed_values_read_as_words(running: RunningSandbox, tmp_path: Path) -> None:
    done = run("describe", "search_messages", env=server_env(running), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = joined(done.stdout)
    assert "page_size: integer 1-100; default 20" in shown
    assert 'sentiment: list of one of "negative", "neutral", "positive"' in shown
    assert "Call it: sprinklr-mcp call search_messages" in shown


@pytest.mark.parametrize("command", ["tools", "describe", "call"])
def test_an_unknown_tool_name_is_one_line_that_suggests_the_closest(command: str, tmp_path: Path) -> None:
    done = run(command, "get_cas", "--sandbox", env={}, cwd=tmp_path)
    assert done.returncode == 2
    line = assert_one_clean_line(done.stderr)
    assert "unknown tool 'get_cas'; did you mean get_case" in line
    assert done.stdout == ""


def test_call_help_lists_the_tool_names_the_server_offers_without_any_configuration(tmp_path: Path) -> None:
    done = run("call", "--help", env={}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    paragraph = done.stdout.split("\ntools: ", 1)[1].split("\n\n", 1)[0]
    assert {name.strip(",") for name in paragraph.split()} == ALL_TOOLS | ARCHIVE_TOOLS
    assert "--json-out" in done.stdout


def test_call_with_json_that_does_not_parse_says_where_in_one_line(tmp_path: Path) -> None:
    done = run("call", "search_cases", "--json", "{status: Open}", "--sandbox", env={}, cwd=tmp_path)
    assert done.returncode == 2
    line = assert_one_clean_line(done.stderr)
    assert "--json is not valid JSON" in line
    assert "line 1, column 2" in line
    assert '{"status": ["Open"]}' in line


def test_call_json_out_prints_the_structured_content_whose_next_arguments_page_on(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    env = server_env(running)
    first = run(
        "call", "search_cases", "--arg", 'status=["open"]', "--arg", "page_size=3", "--json-out", env=env, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    page = json.loads(first.stdout)
    assert len(page["results"]) == 3
    assert page["next"]["tool"] == "search_cases"
    following_args = json.dumps(page["next"]["arguments"])
    second = run("call", "search_cases", "--json", following_args, "--json-out", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    following = json.loads(second.stdout)
    numbers = [row["case_number"] for row in page["results"]]
    more = [row["case_number"] for row in following["results"]]
    assert more
    assert not set(numbers) & set(more)
    assert {row["status"] for row in following["results"]} == {"Open"}


def test_call_json_out_of_a_tool_error_keeps_stdout_empty_and_says_why_on_stderr(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    done = run("call", "get_case", "--arg", "case_number=47999", "--json-out", env=server_env(running), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "47999" in done.stderr
    assert "Traceback" not in done.stderr


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
    assert_config_error(done, "SPRINKLR_TIMEOUT_SECONDS", "a-key-kept-secret", "a-token-kept-secret")


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


# -- configuration errors: one line, the right variable ------------------------------------------------------------


def configured(**values: str) -> dict[str, str]:
    """Valid credentials plus the given variables."""
    return {
        "SPRINKLR_ENV": "prod2",
        "SPRINKLR_API_KEY": "a-key-kept-secret",
        "SPRINKLR_ACCESS_TOKEN": "a-token-kept-secret",
        "SPRINKLR_MCP_LEDGER_PATH": ":memory:",
        **values,
    }


def test_a_malformed_redis_url_is_one_line_naming_it_even_before_credentials_are_set(tmp_path: Path) -> None:
    done = run("tools", env={"SPRINKLR_MCP_REDIS_URL": "notaurl"}, cwd=tmp_path)
    line = assert_config_error(done, "SPRINKLR_MCP_REDIS_URL")
    assert "redis://" in line
    assert "--sandbox" in line  # nothing is configured: the line also says how to try without


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPRINKLR_MCP_REDIS_URL", "notaurl"),
        ("SPRINKLR_MCP_REDIS_URL", "http://:a-redis-password@127.0.0.1:6379"),
        ("SPRINKLR_MCP_CACHE_MB", "lots"),
        ("SPRINKLR_MCP_REDACT_PII", "maybe"),
        ("SPRINKLR_MCP_CUSTOM_FIELDS", "{not json"),
        ("SPRINKLR_MCP_LOG_LEVEL", "LOUD"),
        ("SPRINKLR_TIMEOUT_SECONDS", "soon"),
        ("SPRINKLR_BASE_URL", "not a url"),
    ],
)
def test_a_malformed_variable_is_one_line_that_names_it_with_a_colon(variable: str, value: str, tmp_path: Path) -> None:
    done = run("tools", env=configured(**{variable: value}), cwd=tmp_path)
    assert_config_error(done, variable, "a-key-kept-secret", "a-token-kept-secret", "a-redis-password")


@pytest.mark.parametrize("command", [("sandbox",), ("tools", "--sandbox"), ("config",)])
def test_an_unknown_log_level_stops_every_command_with_one_line(command: tuple[str, ...], tmp_path: Path) -> None:
    done = run(*command, env={"SPRINKLR_MCP_LOG_LEVEL": "LOUD"}, cwd=tmp_path)
    line = assert_config_error(done, "SPRINKLR_MCP_LOG_LEVEL")
    assert "'LOUD'" in line
    assert "DEBUG, INFO, WARNING, ERROR" in line


def test_a_lower_case_log_level_is_accepted(tmp_path: Path) -> None:
    done = run("tools", env=configured(SPRINKLR_MCP_LOG_LEVEL="info"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_malformed_sandbox_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    for value in ("many", "-1"):
        done = run("sandbox", env={"SPRINKLR_SANDBOX_CASES": value}, cwd=tmp_path)
        assert done.returncode == 2
        assert "SPRINKLR_SANDBOX_CASES" in assert_one_clean_line(done.stderr)
        assert done.stdout == ""


def test_an_upper_case_environment_is_accepted_lower_cased_without_a_warning(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    done = run("check", env=server_env(running, SPRINKLR_ENV="PROD2"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "for prod2 " in done.stdout


def test_an_environment_that_is_not_prod_or_prod_n_is_accepted_with_one_warning(
    running: RunningSandbox, tmp_path: Path
) -> None:
    done = run("tools", env=server_env(running, SPRINKLR_ENV="prd2"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = assert_one_clean_line(done.stderr)
    assert "SPRINKLR_ENV" in line
    assert "'prd2'" in line
    assert set(entries(done.stdout)) == ALL_TOOLS


# -- check: Redis, base URL, connection --------------------------------------------------------------------------


def test_check_with_an_unreachable_redis_warns_in_one_line_naming_it_without_its_password(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    # Without Redis the quota ledger keeps to the limits in this process (test_budget.py); check says so once.
    port = closed_port()
    url = f"redis://:a-redis-password@127.0.0.1:{port}/0"
    done = run("check", env=server_env(running, SPRINKLR_MCP_REDIS_URL=url), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    line = assert_one_clean_line(done.stderr, "a-redis-password", running.config.access_token)
    assert "SPRINKLR_MCP_REDIS_URL" in line
    assert f"127.0.0.1:{port}" in line
    assert done.stdout.startswith("OK")


def test_a_server_starts_with_an_unreachable_redis_and_says_at_most_one_line(tmp_path: Path) -> None:
    # Start-up does not connect; what tool calls do without Redis is the quota ledger's fallback.
    url = f"redis://127.0.0.1:{closed_port()}/0"
    done = run("tools", env=configured(SPRINKLR_MCP_REDIS_URL=url), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.strip().splitlines()) <= 1, done.stderr
    assert "Traceback" not in done.stderr
    assert set(entries(done.stdout)) == ALL_TOOLS


def test_check_with_a_reachable_redis_passes(
    running: RunningSandbox, sandbox: SandboxAdmin, redis_url: str, tmp_path: Path
) -> None:
    done = run("check", env=server_env(running, SPRINKLR_MCP_REDIS_URL=redis_url), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK")


def test_check_with_a_base_url_missing_the_environment_points_at_sprinklr_base_url(
    running: RunningSandbox, sandbox: SandboxAdmin, tmp_path: Path
) -> None:
    base_url = running.base_url.removesuffix("/prod2")
    done = run("check", env=server_env(running, SPRINKLR_BASE_URL=base_url), cwd=tmp_path)
    assert done.returncode == 1
    line = assert_one_clean_line(done.stderr, running.config.api_key, running.config.access_token)
    assert "SPRINKLR_BASE_URL" in line
    assert "/prod2" in line
    assert "Set SPRINKLR_ENV" not in line


def test_check_that_cannot_connect_names_the_host_and_sprinklr_base_url(
    running: RunningSandbox, tmp_path: Path
) -> None:
    port = closed_port()
    env = server_env(running, SPRINKLR_BASE_URL=f"http://127.0.0.1:{port}/prod2", SPRINKLR_TIMEOUT_SECONDS="5")
    done = run("check", env=env, cwd=tmp_path)
    assert done.returncode == 1
    line = assert_one_clean_line(done.stderr, running.config.access_token)
    assert "127.0.0.1" in line
    assert "SPRINKLR_BASE_URL" in line


# -- ports, banners, pipes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sandbox", "demo"])
def test_a_port_in_use_is_one_line_naming_it_and_how_to_choose_another_before_any_banner(
    command: str, tmp_path: Path
) -> None:
    with busy_port() as port:
        done = run(command, "--port", str(port), env={}, cwd=tmp_path)
    assert done.returncode == 2
    line = assert_one_clean_line(done.stderr)
    assert f"port {port}" in line
    assert "already in use" in line
    assert "--port" in line
    assert done.stdout == ""


def test_sandbox_prints_its_banner_once_and_stops_quietly_on_ctrl_c(tmp_path: Path) -> None:
    port = closed_port()
    process = start("sandbox", "--port", str(port), cwd=tmp_path)
    try:
        seen = stderr_until(process, "Sprinklr sandbox serving")
    finally:
        code, rest = interrupt(process)
    assert f"http://127.0.0.1:{port}/prod2" in seen
    assert (seen + rest).count("Sprinklr sandbox") == 1
    assert "Traceback" not in seen + rest
    # 0 once the server runs (it stops gracefully), 130 when Ctrl-C lands just before: quiet either way.
    assert code in (0, 130)


def test_demo_banner_prints_each_inspector_command_whole_on_one_line(tmp_path: Path) -> None:
    port = closed_port()
    process = start("demo", "--port", str(port), cwd=tmp_path)
    try:
        banner = stderr_until(process, "Press Ctrl-C")
    finally:
        interrupt(process)
    url = f"http://127.0.0.1:{port}/mcp"
    lines = [line.strip() for line in banner.splitlines()]
    inspector = f"npx @modelcontextprotocol/inspector --cli {url} --transport http"
    assert f"{inspector} --method tools/list" in lines
    assert f"{inspector} --method tools/call --tool-name get_case --tool-arg case_number=48213" in lines
    assert "Node >= 22.19" in banner


def test_demo_tour_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "demo", "--tour"],
        env=clean_env(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the first write, as with `| head` at its end
    _, errors = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, errors
    assert errors == ""


# -- config, help, version ---------------------------------------------------------------------------------------


def config_of(*args: str, cwd: Path) -> dict[str, Any]:
    """The JSON `sprinklr-mcp config ARGS` prints (stdout holds nothing else)."""
    done = run("config", *args, env={}, cwd=cwd)
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


@pytest.mark.anyio
async def test_config_sandbox_entry_starts_a_real_stdio_server_by_its_absolute_path(tmp_path: Path) -> None:
    entry = config_of("--sandbox", cwd=tmp_path)["mcpServers"]["sprinklr-sandbox"]
    command, args = entry["command"], entry["args"]
    assert Path(command).is_absolute()
    assert os.access(command, os.X_OK)
    # Only a bare PATH, as a desktop host gives: the absolute path must not need the virtualenv on it.
    params = StdioServerParameters(command=command, args=args, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    async with Client(params) as session:
        listing = await session.list_tools()
    assert {tool.name for tool in listing.tools} == ALL_TOOLS | ARCHIVE_TOOLS  # the sandbox ships an archive


def test_config_for_claude_and_cursor_has_the_serve_entry_with_the_variables_to_fill_in(tmp_path: Path) -> None:
    for client in ("claude", "cursor"):
        entry = config_of("--client", client, cwd=tmp_path)["mcpServers"]["sprinklr"]
        assert Path(entry["command"]).is_absolute()
        assert entry["args"][-1] == "serve"
        assert set(entry["env"]) == {"SPRINKLR_ENV", "SPRINKLR_API_KEY", "SPRINKLR_ACCESS_TOKEN"}


def test_config_for_vscode_uses_servers_and_prompts_for_the_secrets(tmp_path: Path) -> None:
    config = config_of("--client", "vscode", cwd=tmp_path)
    server = config["servers"]["sprinklr"]
    assert server["type"] == "stdio"
    assert server["env"]["SPRINKLR_API_KEY"].startswith("${input:")
    prompted = {item["description"] for item in config["inputs"]}
    assert prompted == {"SPRINKLR_API_KEY", "SPRINKLR_ACCESS_TOKEN"}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's parser, by name."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def test_every_subcommand_has_a_description_and_every_option_a_help_text() -> None:
    parsers = subcommands()
    assert {"serve", "demo", "sandbox", "tools", "describe", "call", "check", "config"} <= set(parsers)
    for name, parser in parsers.items():
        assert parser.description, name
        for action in parser._actions:
            assert action.help, (name, action.dest)


def test_help_shows_defaults_the_check_variables_and_the_sandbox_settings(tmp_path: Path) -> None:
    demo = run("demo", "--help", env={}, cwd=tmp_path).stdout
    assert "(default: streamable-http)" in demo
    assert "(default: 8000)" in demo
    assert "same as --transport stdio" in demo
    check = " ".join(run("check", "--help", env={}, cwd=tmp_path).stdout.split())
    for variable in ("SPRINKLR_ENV", "SPRINKLR_API_KEY", "SPRINKLR_ACCESS_TOKEN", "SPRINKLR_MCP_REDIS_URL"):
        assert variable in check
    sandbox = run("sandbox", "--help", env={}, cwd=tmp_path).stdout
    defaults = SandboxConfig()
    assert re.search(rf"SPRINKLR_SANDBOX_CASES .*\(default: {defaults.cases}\)", sandbox)
    assert "SPRINKLR_SANDBOX_RATE_PER_SECOND" in sandbox


def test_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    done = run("--version", env={}, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"sprinklr-mcp {version('sprinklr-mcp')}"
