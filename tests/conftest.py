"""Shared fixtures: one sandbox on loopback for the session, reset before each test, and real MCP client sessions."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
from mcp import Client

from server.app import build_server
from server.sandbox import SandboxConfig, running_sandbox
from server.sandbox.data import QUEUES
from server.sandbox.runner import RunningSandbox
from server.settings import Settings, load_settings
from tests.redis_server import redis_server

ALL_TOOLS = frozenset(
    {
        "search_cases",
        "get_case",
        "list_values",
        "get_case_messages",
        "get_message",
        "search_messages",
        "lookup_profile",
        "quota_status",
    }
)

# Raised limits for tests that are not about rate limiting; those set their own through the admin API.
OPEN_LIMITS = {"rate_per_second": 100_000, "rate_per_hour": 10_000_000}


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio."""
    return "asyncio"


@dataclass
class SandboxAdmin:
    """The sandbox's admin API: what it received, and knobs for limits and faults."""

    url: str
    http: httpx.Client

    def stats(self) -> dict[str, Any]:
        """Requests received, writes recorded, per-route counts and the request log."""
        response = self.http.get(f"{self.url}/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        """Forget requests, writes, rate windows and faults; restore the original tokens."""
        self.http.post(f"{self.url}/reset").raise_for_status()

    def configure(self, **values: Any) -> None:
        """Change limits, latency or faults, e.g. configure(faults=[{"kind": "500", "count": 1}])."""
        self.http.post(f"{self.url}/config", json=values).raise_for_status()

    def expire_token(self) -> None:
        """Make the current access token stop working until a refresh."""
        self.http.post(f"{self.url}/expire-token").raise_for_status()

    def dataset(self) -> dict[str, Any]:
        """Counts and sample values (case numbers, emails, ...) of the generated dataset."""
        result: dict[str, Any] = self.http.get(f"{self.url}/dataset").json()
        return result

    def requests(self) -> int:
        """How many Sprinklr API requests the sandbox received since the last reset."""
        return int(self.stats()["requests"])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server on loopback for the session (tests skip, saying why, when there is none to start)."""
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def running() -> Iterator[RunningSandbox]:
    """One sandbox for the whole session, on 127.0.0.1 and a free port."""
    with running_sandbox(SandboxConfig(**OPEN_LIMITS)) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def _admin_http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def sandbox(running: RunningSandbox, _admin_http: httpx.Client) -> SandboxAdmin:
    """The session's sandbox, reset, with limits out of the way."""
    admin = SandboxAdmin(running.admin_url, _admin_http)
    admin.reset()
    admin.configure(latency_ms=0, faults=[], cursor_ttl_seconds=300, rate_limit_status=403, **OPEN_LIMITS)
    return admin


@pytest.fixture
def samples(sandbox: SandboxAdmin) -> dict[str, Any]:
    """Sample values from the sandbox's dataset."""
    return sandbox.dataset()


def clean_env() -> dict[str, str]:
    """Only what a process needs to start: no SPRINKLR_* variable leaks in from the test runner's environment."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {name: os.environ[name] for name in keep if name in os.environ}


def server_env(running: RunningSandbox, **overrides: str) -> dict[str, str]:
    """A clean environment for a server process pointed at the sandbox (in-memory ledger, limits out of the way)."""
    env = clean_env()
    config = running.config
    env.update(
        {
            "SPRINKLR_ENV": config.env,
            "SPRINKLR_API_KEY": config.api_key,
            "SPRINKLR_ACCESS_TOKEN": config.access_token,
            "SPRINKLR_BASE_URL": running.base_url,
            "SPRINKLR_MCP_LEDGER_PATH": ":memory:",
            "SPRINKLR_RATE_PER_SECOND": "1000",
            "SPRINKLR_RATE_PER_HOUR": "1000000",
        }
    )
    env.update(overrides)
    return env


def sandbox_settings(running: RunningSandbox, **overrides: Any) -> Settings:
    """Settings that point the server at the sandbox, with an in-memory ledger unless overridden."""
    config = running.config
    values: dict[str, Any] = {
        "env": config.env,
        "api_key": config.api_key,
        "access_token": config.access_token,
        "refresh_token": config.refresh_token,
        "api_secret": config.api_secret,
        "base_url": running.base_url,
        "ledger_path": ":memory:",
        "rate_per_second": 1000,
        "rate_per_hour": 1_000_000,
        "queue_names": QUEUES,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(running: RunningSandbox, sandbox: SandboxAdmin) -> Settings:
    """Server settings against the (reset) sandbox."""
    return sandbox_settings(running)


@pytest.fixture
async def cold_client(settings: Settings) -> AsyncIterator[Client]:
    """A real MCP client session with the server, which talks to the sandbox over loopback HTTP."""
    async with Client(build_server(settings)) as session:
        yield session


@pytest.fixture
async def client(cold_client: Client, sandbox: SandboxAdmin) -> Client:
    """The session after one list_values call, which reads the account's names and values (users, custom fields,
    a sample of recent cases) as any first call that shows names does; the sandbox's log is then cleared, so tests
    count only the requests their own calls make."""
    warmed = await cold_client.call_tool("list_values", {})
    assert not warmed.is_error, text_of(warmed)
    sandbox.reset()
    sandbox.configure(latency_ms=0, faults=[], cursor_ttl_seconds=300, rate_limit_status=403, **OPEN_LIMITS)
    return cold_client


def text_of(result: Any) -> str:
    """All text blocks of a tool result, joined."""
    return "\n".join(getattr(block, "text", "") for block in result.content)
