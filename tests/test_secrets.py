"""No credential leaves the server: not in logs at DEBUG, tool results, notifications, errors, reprs or CLI output.

A second sandbox accepts recognisable credentials (SECRETKEY-..., SECRETTOKEN-..., ...), and wrong ones are just as
recognisable; every output channel is then scanned for any of them, including the tokens a refresh derives from them.
The one place tokens must be kept, the ledger file, is checked for being readable by its owner only.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from pydantic import SecretStr

from server.app import build_server
from server.ledger import TokenRecord
from server.runtime import open_app
from server.sandbox import SandboxConfig, running_sandbox
from server.sandbox.runner import RunningSandbox
from server.settings import ConfigError, Settings, load_settings
from tests.conftest import SandboxAdmin, server_env, text_of

pytestmark = pytest.mark.anyio

API_KEY = "SECRETKEY-0123456789abcdef"
ACCESS_TOKEN = "SECRETTOKEN-abcdef0123456789"
REFRESH_TOKEN = "SECRETREFRESH-fedcba9876543210"
API_SECRET = "SECRETCLIENT-00112233445566"
WRONG_KEY = "SECRETWRONGKEY-778899"
WRONG_TOKEN = "SECRETWRONGTOKEN-aabbcc"
WRONG_REFRESH = "SECRETWRONGREFRESH-ddeeff"
HTTP_TOKEN = "SECRETHTTP-99887766"
SECRETS = [API_KEY, ACCESS_TOKEN, REFRESH_TOKEN, API_SECRET, WRONG_KEY, WRONG_TOKEN, WRONG_REFRESH, HTTP_TOKEN]
# Refreshed tokens are derived from the originals (SECRETTOKEN-...-2), so one pattern finds every generation.
SECRET_PATTERN = re.compile(r"SECRET(?:KEY|TOKEN|REFRESH|CLIENT|WRONGKEY|WRONGTOKEN|WRONGREFRESH|HTTP)-")


def leaks(text: str) -> list[str]:
    """The credential-like strings in a text (empty when it is clean)."""
    return [secret for secret in SECRETS if secret in text] + SECRET_PATTERN.findall(text)


def assert_clean(text: str, where: str) -> None:
    """No credential and no traceback in one output channel."""
    found = leaks(text)
    assert not found, f"{where} holds a credential: {found}"
    assert "Traceback" not in text, f"{where} holds a traceback"


@pytest.fixture(scope="module")
def secret_sandbox() -> Iterator[RunningSandbox]:
    """A sandbox that accepts only the recognisable credentials."""
    config = SandboxConfig(
        api_key=API_KEY,
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        api_secret=API_SECRET,
        rate_per_second=100_000,
        rate_per_hour=10_000_000,
    )
    with running_sandbox(config) as sandbox:
        yield sandbox


@pytest.fixture
def admin(secret_sandbox: RunningSandbox) -> Iterator[SandboxAdmin]:
    """That sandbox's admin API, reset."""
    with httpx.Client(timeout=10) as http:
        sandbox = SandboxAdmin(secret_sandbox.admin_url, http)
        sandbox.reset()
        sandbox.configure(latency_ms=0, faults=[], cursor_ttl_seconds=300, rate_per_second=100_000)
        yield sandbox


def secret_settings(sandbox: RunningSandbox, **overrides: Any) -> Settings:
    """Settings with the recognisable credentials, logging at DEBUG, pointed at the secret sandbox."""
    values: dict[str, Any] = {
        "env": sandbox.config.env,
        "api_key": API_KEY,
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "api_secret": API_SECRET,
        "base_url": sandbox.base_url,
        "ledger_path": ":memory:",
        "rate_per_second": 1000,
        "rate_per_hour": 1_000_000,
        "log_level": "DEBUG",
        "http_token": HTTP_TOKEN,
    }
    values.update(overrides)
    return load_settings(**values)


class Transcript:
    """Everything the server sent a client: results (text and structured), notifications and log messages."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.errors = 0
        self.answers = 0
        self.error_texts: list[str] = []

    async def on_message(self, message: Any) -> None:
        """Record any message the server sends outside a response (notifications, requests)."""
        self.parts.append(repr(message))

    async def on_log(self, params: Any) -> None:
        """Record an MCP log notification."""
        self.parts.append(repr(params))

    async def call(self, client: Client, name: str, **arguments: Any) -> None:
        """Call a tool and record its whole result."""
        with anyio.fail_after(30):
            result = await client.call_tool(name, arguments)
        self.parts.append(text_of(result))
        self.parts.append(repr(result.structured_content))
        self.parts.append(repr(result))
        if result.is_error:
            self.errors += 1
            self.error_texts.append(f"{name}: {text_of(result)}")
        else:
            self.answers += 1

    def client(self, settings: Settings) -> Client:
        """A client session that records what the server sends besides results."""
        return Client(
            build_server(settings), message_handler=self.on_message, logging_callback=self.on_log, log_level="debug"
        )


async def exercise(sandbox: RunningSandbox, admin: SandboxAdmin) -> Transcript:
    """Every tool, the resource and the prompts, then every kind of failure: 401 (refreshed, unrefreshable and a
    refused refresh), 403, 404, 400, 421, 5xx, a token-route outage and a rate limit."""
    seen = Transcript()
    async with seen.client(secret_settings(sandbox)) as client:
        await seen.call(client, "search_cases", status=["Open"], page_size=3)
        await seen.call(client, "get_case", case_number=48213, detail="full")
        await seen.call(client, "get_case_messages", case_number=48808, limit=100)
        await seen.call(client, "search_messages", since="2025-05-01", until="2025-05-31", page_size=3)
        await seen.call(client, "lookup_profile", email="lucas.walker0@mail.example", cases=5)
        await seen.call(client, "quota_status")
        seen.parts.append(repr(await client.read_resource("sprinklr://case/48213")))
        seen.parts.append(repr(await client.get_prompt("summarize_case", {"case_number": "48213"})))
        admin.expire_token()  # 401 -> refresh -> retry
        await seen.call(client, "get_case", case_number=48001)
        admin.configure(faults=[{"kind": "401", "count": 1}])  # a stray 401 -> another refresh
        await seen.call(client, "get_case", case_number=48002)
        await seen.call(client, "get_case", case_number=47999)  # 404
        await seen.call(client, "get_message", message_id="ACCOUNT_1_1700000000000_TWITTER_1_999")  # 404
        admin.configure(search_page_max=5)
        await seen.call(client, "search_cases", page_size=20)  # 400
        admin.configure(search_page_max=100, faults=[{"kind": "500", "count": 1000}])
        await seen.call(client, "get_case", case_number=48003)  # 500 after retries
        admin.configure(faults=[{"kind": "reset", "count": 1000}])
        await seen.call(client, "lookup_profile", profile_id="5de6812f9b2bd6c0816bee06")  # broken connection
        admin.configure(faults=[{"kind": "503", "count": 1000, "path_contains": "oauth"}])
        admin.expire_token()
        await seen.call(client, "get_case", case_number=48004)  # the refresh meets an outage
        admin.configure(faults=[], rate_per_second=1)
        await seen.call(client, "get_case", case_number=48005)
        await seen.call(client, "get_case", case_number=48006)  # Developer Over Rate
    admin.reset()
    async with seen.client(secret_settings(sandbox, refresh_token=None, api_secret=None)) as client:
        admin.expire_token()
        await seen.call(client, "get_case", case_number=48007)  # 401 and no refresh configured
    admin.reset()
    async with seen.client(secret_settings(sandbox, access_token=WRONG_TOKEN, refresh_token=WRONG_REFRESH)) as client:
        await seen.call(client, "get_case", case_number=48008)  # 401, then the refresh is refused
    async with seen.client(secret_settings(sandbox, api_key=WRONG_KEY)) as client:
        await seen.call(client, "get_case", case_id="682d5be15bf2061ee105e55e")  # 403 Developer Inactive
    base = sandbox.base_url.removesuffix("/prod2") + "/prod3"
    async with seen.client(secret_settings(sandbox, env="prod3", base_url=base)) as client:
        await seen.call(client, "get_case", case_number=48009)  # 421
    admin.reset()
    return seen


async def test_no_tool_result_notification_or_resource_from_any_outcome_holds_a_credential(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin
) -> None:
    seen = await exercise(secret_sandbox, admin)
    # Both outcomes were really produced: answers and every kind of error.
    assert seen.answers >= 8, seen.error_texts
    assert seen.errors >= 12, seen.error_texts
    for index, part in enumerate(seen.parts):
        assert_clean(part, f"output #{index}")


async def test_no_log_record_of_any_logger_at_debug_holds_a_credential(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await exercise(secret_sandbox, admin)
    names = {record.name for record in caplog.records}
    # DEBUG records from the HTTP stack and our own refresh were captured: the channel was really open.
    assert any(name.startswith("httpcore") for name in names), names
    assert any("access token refreshed" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        rendered = f"{record.name} {record.getMessage()} {record.args!r} {record.exc_text or ''}"
        if record.exc_info:
            rendered += "".join(traceback.format_exception(*record.exc_info))
        assert not leaks(rendered), f"log record from {record.name} holds a credential: {rendered[:300]}"
    assert not leaks(caplog.text)


# -- a real server process over stdio, logging at DEBUG to stderr --------------------------------------------------


def process_env(sandbox: RunningSandbox, **extra: str) -> dict[str, str]:
    """A server process's environment with the recognisable credentials and DEBUG logging."""
    defaults = {
        "SPRINKLR_REFRESH_TOKEN": REFRESH_TOKEN,
        "SPRINKLR_API_SECRET": API_SECRET,
        "SPRINKLR_MCP_LOG_LEVEL": "DEBUG",
        "SPRINKLR_MCP_HTTP_TOKEN": HTTP_TOKEN,
    }
    return server_env(sandbox, **{**defaults, **extra})


@pytest.mark.slow
async def test_a_stdio_server_logging_at_debug_writes_no_credential_to_stderr_or_stdout(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, tmp_path: Path
) -> None:
    stderr = tmp_path / "stderr.log"
    seen = Transcript()
    runs: list[tuple[dict[str, str], list[tuple[str, dict[str, Any]]]]] = [
        (
            {},
            [
                ("get_case", {"case_number": 48213}),
                ("expire", {}),
                ("get_case_messages", {"case_number": 48213}),
            ],
        ),
        ({"SPRINKLR_REFRESH_TOKEN": WRONG_REFRESH}, [("expire", {}), ("get_case", {"case_number": 48001})]),
        ({"SPRINKLR_API_KEY": WRONG_KEY}, [("get_case", {"case_number": 48002})]),
    ]
    with stderr.open("w") as errlog:
        for extra, steps in runs:
            admin.reset()
            params = StdioServerParameters(
                command=sys.executable, args=["-m", "server", "serve"], env=process_env(secret_sandbox, **extra)
            )
            async with Client(stdio_client(params, errlog=errlog), message_handler=seen.on_message) as client:
                for tool, arguments in steps:
                    if tool == "expire":
                        admin.expire_token()
                    else:
                        await seen.call(client, tool, **arguments)
    admin.reset()
    logged = stderr.read_text()
    # The server really logged at DEBUG, including the refresh and the HTTP exchanges.
    assert "DEBUG:" in logged
    assert "access token refreshed" in logged
    assert "HTTP Request" in logged
    assert_clean(logged, "the server's stderr")
    assert seen.answers >= 2
    assert seen.errors >= 2
    for index, part in enumerate(seen.parts):
        assert_clean(part, f"stdout message #{index}")


# -- reprs, str and configuration errors ---------------------------------------------------------------------------


async def test_settings_secret_values_auth_and_token_records_print_without_credentials(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin
) -> None:
    settings = secret_settings(secret_sandbox)
    shown = [
        repr(settings),
        str(settings),
        repr(settings.model_dump()),
        settings.model_dump_json(),
        repr(settings.api_key),
        str(settings.access_token),
        f"{settings.refresh_token}",
        repr(SecretStr(API_SECRET)),
        repr(TokenRecord(access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN, version=3, saved_at=1.0)),
        str(TokenRecord(access_token=ACCESS_TOKEN, refresh_token=None, version=1, saved_at=1.0)),
    ]
    async with open_app(settings) as app:
        await app.client.case_by_number(48213)
        shown += [repr(app), repr(app.http.auth), str(app.http.auth), repr(app.http.headers), repr(app.client)]
    for index, text in enumerate(shown):
        assert_clean(text, f"repr #{index}")
    # The values themselves are still there for the code that needs them.
    assert settings.api_key.get_secret_value() == API_KEY


BAD_CONFIGS: list[tuple[str, dict[str, str], str]] = [
    ("bad environment", {"SPRINKLR_ENV": "prod 2!"}, "SPRINKLR_ENV"),
    ("refresh without secret", {"SPRINKLR_API_SECRET": ""}, "SPRINKLR_API_SECRET"),
    ("blank key", {"SPRINKLR_API_KEY": "   "}, "SPRINKLR_API_KEY"),
    ("secret as timeout", {"SPRINKLR_TIMEOUT_SECONDS": ACCESS_TOKEN}, "SPRINKLR_TIMEOUT_SECONDS"),
    ("secret as rate", {"SPRINKLR_RATE_PER_SECOND": API_KEY}, "SPRINKLR_RATE_PER_SECOND"),
    ("secret as base url", {"SPRINKLR_BASE_URL": f"not a url {REFRESH_TOKEN}"}, "SPRINKLR_BASE_URL"),
    ("secret in custom fields", {"SPRINKLR_MCP_CUSTOM_FIELDS": f'{{"Brand": "{API_SECRET}"}}'}, "custom"),
    ("custom fields not json", {"SPRINKLR_MCP_CUSTOM_FIELDS": f"{{{API_SECRET}"}, "custom"),
    ("secret as log level", {"SPRINKLR_MCP_LOG_LEVEL": WRONG_TOKEN}, "LOG_LEVEL"),
]


@pytest.mark.parametrize(("case", "changes", "names"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_a_configuration_error_names_the_variable_and_never_a_credential(
    monkeypatch: pytest.MonkeyPatch, case: str, changes: dict[str, str], names: str
) -> None:
    for name in list(os.environ):
        if name.startswith("SPRINKLR_"):
            monkeypatch.delenv(name)
    good = {
        "SPRINKLR_ENV": "prod2",
        "SPRINKLR_API_KEY": API_KEY,
        "SPRINKLR_ACCESS_TOKEN": ACCESS_TOKEN,
        "SPRINKLR_REFRESH_TOKEN": REFRESH_TOKEN,
        "SPRINKLR_API_SECRET": API_SECRET,
    }
    for name, value in {**good, **changes}.items():
        if value:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert names.lower() in message.lower()
    assert_clean(message, "the configuration error")
    assert_clean(repr(caught.value), "the configuration error's repr")
    # A traceback, if one were printed, shows no credential either (the validation error is not chained in).
    assert not leaks("".join(traceback.format_exception(caught.value)))


# -- the check command ---------------------------------------------------------------------------------------------


CHECKS: list[tuple[str, dict[str, str], int, str]] = [
    ("working credentials", {}, 0, "OK: credentials work"),
    ("wrong key", {"SPRINKLR_API_KEY": WRONG_KEY}, 1, "Developer Inactive"),
    (
        "wrong token without refresh",
        {"SPRINKLR_ACCESS_TOKEN": WRONG_TOKEN, "SPRINKLR_REFRESH_TOKEN": "", "SPRINKLR_API_SECRET": ""},
        1,
        "401",
    ),
    (
        "wrong token and wrong refresh",
        {"SPRINKLR_ACCESS_TOKEN": WRONG_TOKEN, "SPRINKLR_REFRESH_TOKEN": WRONG_REFRESH},
        1,
        "refused the token refresh",
    ),
    ("refresh without secret", {"SPRINKLR_API_SECRET": ""}, 2, "configuration error"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "changes", "code", "says"), CHECKS, ids=[c[0] for c in CHECKS])
def test_the_check_command_says_what_is_wrong_without_printing_a_credential(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, case: str, changes: dict[str, str], code: int, says: str
) -> None:
    env = {name: value for name, value in process_env(secret_sandbox, **changes).items() if value}
    done = subprocess.run(
        [sys.executable, "-m", "server", "check"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert says in output
    assert_clean(output, f"check output ({case})")


# -- the ledger file keeps tokens, so only its owner may read it ----------------------------------------------------


async def test_the_ledger_file_that_stores_refreshed_tokens_is_readable_by_its_owner_only(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, tmp_path: Path
) -> None:
    ledger = tmp_path / "state" / "ledger.sqlite"
    seen = Transcript()
    async with seen.client(secret_settings(secret_sandbox, ledger_path=str(ledger))) as client:
        await seen.call(client, "get_case", case_number=48213)
        admin.expire_token()
        await seen.call(client, "get_case", case_number=48001)
    assert seen.answers == 2
    assert admin.stats()["by_route"].get("POST oauth/token") == 1
    files = [path for path in ledger.parent.iterdir() if path.name.startswith(ledger.name)]
    assert ledger in files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(ledger.parent.stat().st_mode) & 0o077 == 0
    stored = b"".join(path.read_bytes() for path in files)
    # Tokens are stored (that is the ledger's job) but the API key and secret never are: records are keyed by a hash.
    assert API_KEY.encode() not in stored
    assert API_SECRET.encode() not in stored


# -- an upstream that echoes the request back (a misconfigured gateway or proxy) ----------------------------------

ECHO_STATUSES = (400, 403, 422)
ECHO_SHAPES = ("json", "text", "html")
ECHOES = [(status, shape) for status in ECHO_STATUSES for shape in ECHO_SHAPES]
ECHO_IDS = [f"{status}-{shape}" for status, shape in ECHOES]


def echo(admin: SandboxAdmin, status: int, shape: str, path: str = "api/v2", count: int = 1000) -> None:
    """Make the sandbox answer requests on `path` with `status` and the request's headers in a `shape` body."""
    admin.configure(
        faults=[{"kind": "echo_headers", "status": status, "shape": shape, "path_contains": path, "count": count}]
    )


@pytest.mark.parametrize(("status", "shape"), ECHOES, ids=ECHO_IDS)
async def test_an_upstream_echoing_the_request_headers_shows_no_credential_in_any_tool_result(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, status: int, shape: str
) -> None:
    seen = Transcript()
    async with seen.client(secret_settings(secret_sandbox)) as client:
        echo(admin, status, shape)
        await seen.call(client, "get_case", case_number=48213)
        await seen.call(client, "search_cases", status=["Open"], page_size=3)
        await seen.call(client, "get_case_messages", case_number=48808)
        await seen.call(client, "lookup_profile", email="lucas.walker0@mail.example")
    assert seen.answers == 0, seen.error_texts
    assert seen.errors == 4, seen.error_texts
    assert admin.requests() >= 4
    for text in seen.error_texts:
        assert f"({status}" in text or f" {status} " in text, text
        # The echo really reached the message, and what it held was taken out.
        assert "[redacted]" in text, text
    for index, part in enumerate(seen.parts):
        assert_clean(part, f"output #{index} ({status}, {shape})")


async def test_a_token_refresh_answered_with_an_echo_of_the_form_shows_no_credential(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin
) -> None:
    seen = Transcript()
    async with seen.client(secret_settings(secret_sandbox)) as client:
        for status, shape in ECHOES:
            admin.reset()
            admin.configure(rate_per_second=100_000)
            admin.expire_token()
            echo(admin, status, shape, path="oauth")
            await seen.call(client, "get_case", case_number=48213)
    assert seen.errors == len(ECHOES), seen.error_texts
    assert admin.stats()["by_route"].get("POST oauth/token") == 1
    for index, part in enumerate(seen.parts):
        assert_clean(part, f"output #{index}")


async def test_tokens_obtained_by_refresh_are_registered_with_the_scrubber(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin
) -> None:
    async with open_app(secret_settings(secret_sandbox)) as app:
        await app.client.case_by_number(48213)
        admin.expire_token()
        await app.client.case_by_number(48001)
        # The sandbox derives new tokens from the old ones ("<old>-2"): only a registered token is removed whole.
        assert app.scrub(f"got {ACCESS_TOKEN}-2 and {REFRESH_TOKEN}-2.") == "got [redacted] and [redacted]."
        assert app.scrub(f"got {ACCESS_TOKEN}-3") == "got [redacted]-3"


async def test_log_records_of_any_logger_are_scrubbed_message_arguments_traceback_and_stack(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    build_server(secret_settings(secret_sandbox, redis_url="redis://user:SECRETREDIS-445566@127.0.0.1:1/0"))
    other = logging.getLogger("some.library")
    other.debug("sent headers %r", {"Key": API_KEY, "Authorization": f"Bearer {ACCESS_TOKEN}"})
    other.info("redis at redis://user:SECRETREDIS-445566@127.0.0.1:1/0 and a stranger's Authorization: Bearer zz99yy88")
    try:
        raise ValueError(f"refresh failed for refresh_token={REFRESH_TOKEN}&client_secret={API_SECRET}")
    except ValueError:
        other.exception("the refresh broke", stack_info=True)
    other.warning(f"http token {HTTP_TOKEN}")
    records = [record for record in caplog.records if record.name == "some.library"]
    assert len(records) == 4
    for record in records:
        rendered = caplog.handler.format(record)
        assert not leaks(rendered), rendered
        assert "SECRETREDIS" not in rendered, rendered
        assert "zz99yy88" not in rendered, rendered
        assert "[redacted]" in rendered, rendered
    assert "ValueError" in caplog.handler.format(records[2])
    assert not leaks(caplog.text)
    assert "SECRETREDIS" not in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize(("status", "shape"), ECHOES, ids=ECHO_IDS)
def test_check_prints_no_credential_when_the_upstream_echoes_the_request(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, status: int, shape: str
) -> None:
    echo(admin, status, shape)
    env = process_env(secret_sandbox, SPRINKLR_MCP_REDIS_URL="")
    done = subprocess.run(
        [sys.executable, "-m", "server", "check"],
        env={name: value for name, value in env.items() if value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "check failed" in output, output
    assert str(status) in output, output
    assert "[redacted]" in output, output
    # The process logged at DEBUG too (the echo's response headers are in httpcore's trace): all of it is clean.
    assert "DEBUG:" in output, output
    assert "x-echo-" in output, output
    assert_clean(output, f"check output ({status}, {shape})")


@pytest.mark.slow
async def test_a_server_process_logging_at_debug_writes_no_echoed_credential(
    secret_sandbox: RunningSandbox, admin: SandboxAdmin, tmp_path: Path
) -> None:
    stderr = tmp_path / "stderr.log"
    seen = Transcript()
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "server", "serve"], env=process_env(secret_sandbox)
    )
    with stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), message_handler=seen.on_message) as client:
            for status, shape in ECHOES:
                echo(admin, status, shape)
                await seen.call(client, "get_case", case_number=48213)
                admin.reset()
                admin.configure(rate_per_second=100_000)
                admin.expire_token()
                echo(admin, status, shape, path="oauth")
                await seen.call(client, "get_case", case_number=48001)
                admin.reset()
                admin.configure(rate_per_second=100_000)
    logged = stderr.read_text()
    # The echoed headers really reached the DEBUG log (httpcore traces response headers), and were scrubbed there.
    assert "DEBUG:" in logged
    assert "x-echo-key" in logged
    assert "x-echo-refresh_token" in logged
    assert "[redacted]" in logged
    assert_clean(logged, "the server's stderr")
    assert seen.errors == 2 * len(ECHOES), seen.error_texts
    for index, part in enumerate(seen.parts):
        assert_clean(part, f"stdout message #{index}")
