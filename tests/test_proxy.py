"""HTTPS_PROXY / HTTP_PROXY and NO_PROXY are honoured, with the guard and quota still in the path."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
import uvicorn
from mcp import Client

from server.app import build_server
from server.sandbox.runner import RunningSandbox
from tests.conftest import SandboxAdmin, sandbox_settings, text_of

pytestmark = pytest.mark.anyio


class ForwardProxy:
    """A minimal HTTP forward proxy (absolute-form requests) that sends everything to one upstream and counts."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        target = scope["path"] + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
        self.seen.append(target)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        parts = urlsplit(target)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.lower() != b"host"]
        async with httpx.AsyncClient(trust_env=False) as client:
            url = self.upstream + parts.path + (f"?{parts.query}" if parts.query else "")
            answer = await client.request(scope["method"], url, headers=headers, content=body)
        await send({"type": "http.response.start", "status": answer.status_code, "headers": answer.headers.raw})
        await send({"type": "http.response.body", "body": answer.content})


@pytest.fixture
def forward_proxy(running: RunningSandbox) -> Iterator[tuple[str, ForwardProxy]]:
    """A forward proxy on loopback in front of the sandbox."""
    app = ForwardProxy(f"http://127.0.0.1:{running.port}")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(5)
    sock.close()


async def test_requests_go_through_the_proxy_named_in_the_environment(
    running: RunningSandbox,
    sandbox: SandboxAdmin,
    forward_proxy: tuple[str, ForwardProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A host that resolves nowhere is reachable only through the proxy.
    proxy, seen = forward_proxy
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    env_path = urlsplit(running.base_url).path
    settings = sandbox_settings(running, base_url=f"http://sprinklr-api.invalid{env_path}")
    async with Client(build_server(settings)) as client:
        outcome = await client.call_tool("get_case", {"case_number": 48213})
    assert not outcome.is_error, text_of(outcome)
    # The case and the names it shows (users, custom fields): every request went through the proxy.
    assert sandbox.stats()["by_route"]["GET case-numbers"] == 1
    assert {urlsplit(target).hostname for target in seen.seen} == {"sprinklr-api.invalid"}
    assert len(seen.seen) == sandbox.requests()


async def test_no_proxy_sends_the_host_directly(
    running: RunningSandbox, sandbox: SandboxAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with Client(build_server(sandbox_settings(running))) as client:
        outcome = await client.call_tool("get_case", {"case_number": 48213})
    assert not outcome.is_error, text_of(outcome)
