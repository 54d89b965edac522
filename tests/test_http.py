"""The streamable-HTTP transport as deployed: a real server process, Host/Origin checks, bearer auth, same tools."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, server_env, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOKEN = "test-http-bearer-0123456789"
JSONRPC = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(running: RunningSandbox, *args: str, **env: str) -> Iterator[int]:
    """`sprinklr-mcp serve --transport streamable-http` as a process; yields its port once it accepts connections."""
    port = _free_port()
    command = [sys.executable, "-m", "server", "serve", "--transport", "streamable-http", "--port", str(port), *args]
    process = subprocess.Popen(command, env=server_env(running, **env), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    detail = process.stderr.read() if process.stderr else b""
                    raise RuntimeError(f"server did not start: {detail!r}") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def loopback_server(running: RunningSandbox) -> Iterator[int]:
    """The server on 127.0.0.1 with no bearer token."""
    with http_server(running) as port:
        yield port


@pytest.fixture(scope="module")
def wildcard_server(running: RunningSandbox) -> Iterator[int]:
    """The server on 0.0.0.0 (explicitly allowed) with a bearer token."""
    with http_server(running, "--host", "0.0.0.0", "--allow-remote", SPRINKLR_MCP_HTTP_TOKEN=TOKEN) as port:
        yield port


def post(port: int, headers: dict[str, str] | None = None) -> httpx.Response:
    """One raw JSON-RPC POST to the MCP endpoint."""
    return httpx.post(f"http://127.0.0.1:{port}/mcp", json=JSONRPC, headers={**HEADERS, **(headers or {})}, timeout=10)


def test_a_forged_host_is_refused_on_a_loopback_bind(loopback_server: int) -> None:
    assert post(loopback_server, {"host": "evil.example:80"}).status_code == 421
    assert post(loopback_server, {"host": f"rebind.attacker.example:{loopback_server}"}).status_code == 421


def test_a_foreign_origin_is_refused_on_a_loopback_bind(loopback_server: int) -> None:
    assert post(loopback_server, {"origin": "http://evil.example"}).status_code == 403


def test_a_forged_host_and_a_foreign_origin_are_refused_on_a_wildcard_bind(wildcard_server: int) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert post(wildcard_server, {**auth, "host": "evil.example"}).status_code == 421
    assert post(wildcard_server, {**auth, "origin": "http://evil.example"}).status_code == 403
    # The same request with honest headers gets past both checks.
    assert post(wildcard_server, auth).status_code not in (401, 403, 421)


def test_without_the_bearer_token_or_with_a_wrong_one_nothing_reaches_a_tool(
    wildcard_server: int, sandbox: SandboxAdmin
) -> None:
    assert post(wildcard_server).status_code == 401
    assert post(wildcard_server, {"authorization": "Bearer wrong"}).status_code == 401
    assert post(wildcard_server, {"authorization": TOKEN}).status_code == 401
    assert sandbox.requests() == 0


def test_a_non_loopback_bind_needs_an_explicit_flag(running: RunningSandbox) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--transport", "streamable-http", "--host", "0.0.0.0"],
        env=server_env(running),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr
    assert "Traceback" not in done.stderr


async def _tools(client: Client) -> list[dict[str, Any]]:
    listing = await client.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listing.tools]


async def test_tools_and_read_only_annotations_are_the_same_over_http_and_stdio(
    running: RunningSandbox, wildcard_server: int, sandbox: SandboxAdmin
) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"http://127.0.0.1:{wildcard_server}/mcp", http_client=http)
        async with Client(transport) as over_http:
            http_tools = await _tools(over_http)
            case = await over_http.call_tool("get_case", {"case_number": 48213})
            assert not case.is_error, text_of(case)
            assert case.structured_content["case_number"] == 48213
    stdio = StdioServerParameters(command=sys.executable, args=["-m", "server", "serve"], env=server_env(running))
    async with Client(stdio) as over_stdio:
        stdio_tools = await _tools(over_stdio)
    assert http_tools == stdio_tools
    assert len(http_tools) == 8
    assert all(tool["annotations"]["readOnlyHint"] is True for tool in http_tools)
    assert sandbox.stats()["writes"] == []


async def test_many_sessions_at_once_and_a_vanished_client_do_not_block_the_others(
    loopback_server: int, sandbox: SandboxAdmin
) -> None:
    url = f"http://127.0.0.1:{loopback_server}/mcp"
    # A client that opens a request and vanishes without reading the answer.
    with socket.create_connection(("127.0.0.1", loopback_server)) as rude:
        rude.sendall(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 9999\r\n\r\n{"
        )
    results: list[bool] = []

    async def session(i: int) -> None:
        async with Client(url) as client:
            outcome = await client.call_tool("get_case", {"case_number": 48100 + i})
            results.append(not outcome.is_error)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(session, i)
    assert results == [True] * 12


def test_malformed_json_rpc_over_http_gets_a_protocol_error_and_the_server_keeps_serving(loopback_server: int) -> None:
    url = f"http://127.0.0.1:{loopback_server}/mcp"
    broken = httpx.post(url, content=b"{not json", headers=HEADERS, timeout=10)
    assert broken.status_code == 400
    assert "error" in broken.text.lower()
    wrong_shape = httpx.post(url, json={"jsonrpc": "2.0", "id": 7, "nope": True}, headers=HEADERS, timeout=10)
    assert wrong_shape.status_code in (400, 200)
    assert "error" in wrong_shape.text.lower()
    assert post(loopback_server).status_code not in (401, 403, 421, 500)
