"""The streamable-HTTP transport as deployed: a real server process, Host/Origin checks, bearer auth, same tools."""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import LATEST_HANDSHAKE_VERSION

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


@dataclass
class ServerProcess:
    """A running HTTP server process: its port, pid and (when asked for) the file its stderr goes to."""

    port: int
    pid: int
    log: Path | None

    def logged(self) -> str:
        """What the server has written to stderr so far."""
        return self.log.read_text() if self.log is not None else ""


@contextmanager
def server_process(running: RunningSandbox, *args: str, log: Path | None = None, **env: str) -> Iterator[ServerProcess]:
    """`sprinklr-mcp serve --transport streamable-http` as a process, once it accepts connections."""
    port = _free_port()
    command = [sys.executable, "-m", "server", "serve", "--transport", "streamable-http", "--port", str(port), *args]
    with contextlib.ExitStack() as stack:
        # A file, not a pipe nobody reads: a chatty server would block on a full pipe.
        errors = stack.enter_context(log.open("w")) if log is not None else subprocess.DEVNULL
        process = subprocess.Popen(command, env=server_env(running, **env), stderr=errors)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        detail = log.read_text()[-2000:] if log is not None else ""
                        raise RuntimeError(f"server did not start: {detail}") from None
                    time.sleep(0.05)
            yield ServerProcess(port, process.pid, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def http_server(running: RunningSandbox, *args: str, **env: str) -> Iterator[int]:
    """The server process's port only."""
    with server_process(running, *args, **env) as process:
        yield process.port


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


# -- slow and greedy clients -----------------------------------------------------------------------------------------

AUTH = {"authorization": f"Bearer {TOKEN}"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "test-http", "version": "0"},
    },
}
SESSION_CREATED = "Created new transport with session ID"


def slow_connection(port: int) -> socket.socket:
    """A connection that sent part of a request's headers and then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes (or resets) this connection within `within` seconds, reading whatever it sends."""
    deadline = time.monotonic() + within
    poller = select.poll()  # not select(): these descriptors go past 1024
    poller.register(sock, select.POLLIN)
    while True:  # polls at least once, so `within=0` asks "is it closed now?"
        if not poller.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            return False
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionError:
            return True
    return False


def rss_mib(pid: int) -> float:
    """A process's resident memory (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def list_and_call(port: int) -> float:
    """An authorised client's session: list the tools and call one; the seconds it took."""
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(headers=AUTH, timeout=30) as http,
        Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client,
    ):
        assert len((await client.list_tools()).tools) == 8
        outcome = await client.call_tool("get_case", {"case_number": 48213})
        assert not outcome.is_error, text_of(outcome)
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def strict_server(running: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a bearer token and tight bounds: 1 s for headers, 2 s for a body, 3 sessions idle for 3 s."""
    log = tmp_path_factory.mktemp("strict") / "stderr.log"
    bounds = {
        "SPRINKLR_MCP_HTTP_TOKEN": TOKEN,
        "SPRINKLR_MCP_HTTP_HEADER_TIMEOUT": "1",
        "SPRINKLR_MCP_HTTP_BODY_TIMEOUT": "2",
        "SPRINKLR_MCP_HTTP_MAX_SESSIONS": "3",
        "SPRINKLR_MCP_HTTP_SESSION_IDLE": "3",
        "SPRINKLR_MCP_LOG_LEVEL": "INFO",  # the SDK logs each session it creates at INFO
    }
    with server_process(running, log=log, **bounds) as process:
        yield process


def test_a_connection_that_never_finishes_its_headers_is_closed_after_the_header_timeout(
    strict_server: ServerProcess,
) -> None:
    stalled = slow_connection(strict_server.port)
    with stalled:
        assert closed_by_server(stalled, within=30)


def test_a_kept_alive_connection_that_stalls_in_its_next_request_is_closed_too(strict_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=10) as sock:
        # A whole request first (answered 401: no token), on a connection the client keeps open.
        sock.sendall(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 401")
        sock.sendall(b"GET /mcp HTTP/1.1\r\nHost: 127.0")
        assert closed_by_server(sock, within=30)


@pytest.mark.parametrize("authorised", [True, False], ids=["authorised", "unauthorised"])
def test_a_request_whose_body_never_arrives_whole_is_closed_after_the_body_timeout(
    strict_server: ServerProcess, authorised: bool
) -> None:
    token = f"Authorization: Bearer {TOKEN}\r\n".encode() if authorised else b""
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\n" + token + b'Content-Length: 5000\r\n\r\n{"jsonrpc"'
        )
        assert closed_by_server(sock, within=30)


async def test_unauthenticated_initialize_calls_create_no_session_and_leave_memory_flat(
    strict_server: ServerProcess,
) -> None:
    url = f"http://127.0.0.1:{strict_server.port}/mcp"
    sessions_before = strict_server.logged().count(SESSION_CREATED)
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as http:
        for _ in range(100):  # warm-up: whatever the first requests allocate once is not growth
            assert (await http.post(url, json=INITIALIZE)).status_code == 401
        before = rss_mib(strict_server.pid)
        for _ in range(1000):
            assert (await http.post(url, json=INITIALIZE)).status_code == 401
        after = rss_mib(strict_server.pid)
        assert strict_server.logged().count(SESSION_CREATED) == sessions_before
        # A session costs ~37 KiB (10,000 took 375 MiB): 1,000 of them would be ~37 MiB.
        assert after - before < 8, f"RSS {before:.1f} -> {after:.1f} MiB"
        # The session cap (3) is untouched: three authorised sessions open, and the fourth is refused.
        statuses = [(await http.post(url, json=INITIALIZE, headers=AUTH)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 503], statuses
        assert strict_server.logged().count(SESSION_CREATED) == sessions_before + 3
        # Refusals go on, but their warning is logged once a minute, not once a request.
        for _ in range(5):
            assert (await http.post(url, json=INITIALIZE, headers=AUTH)).status_code == 503
        assert strict_server.logged().count("Refusing to open a new session") == 1
        # Idle sessions expire (3 s here), and then there is room again.
        deadline = time.monotonic() + 60
        while (status := (await http.post(url, json=INITIALIZE, headers=AUTH)).status_code) == 503:
            assert time.monotonic() < deadline, "idle sessions never expired"
            await anyio.sleep(0.5)
        assert status == 200


@pytest.fixture(scope="module")
def crowded_server(running: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a bearer token, the default connection cap, and 5 minutes for headers: only the cap helps."""
    log = tmp_path_factory.mktemp("crowded") / "stderr.log"
    bounds = {"SPRINKLR_MCP_HTTP_TOKEN": TOKEN, "SPRINKLR_MCP_HTTP_HEADER_TIMEOUT": "300"}
    with server_process(running, log=log, **bounds) as process:
        yield process


async def test_with_2000_slow_connections_open_an_authorised_client_still_lists_tools_and_calls_one(
    crowded_server: ServerProcess, sandbox: SandboxAdmin
) -> None:
    slow: list[socket.socket] = []
    try:
        for _ in range(2000):
            slow.append(slow_connection(crowded_server.port))
        seconds = await list_and_call(crowded_server.port)
        # The 2 s target is measured in bench/slow_clients.py; here, under any load, it must simply get through.
        assert seconds < 20, f"took {seconds:.1f} s"
        # The cap (1,000) made room by closing the oldest slow connections; the newest are still open.
        assert all(closed_by_server(sock, within=10) for sock in slow[:500])
        assert not any(closed_by_server(sock, within=0) for sock in slow[-100:])
        assert "HTTP connection cap (1000" in crowded_server.logged()
    finally:
        for sock in slow:
            sock.close()
