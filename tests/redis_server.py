"""A throwaway redis-server on a free loopback port for tests, or the server named by SPRINKLR_MCP_TEST_REDIS_URL.

Use it from a fixture: `with redis_server() as url: yield url`. It skips the test, saying why, only when neither
the variable nor a `redis-server` binary is available.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

URL_VARIABLE = "SPRINKLR_MCP_TEST_REDIS_URL"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(timeout: float = 10.0) -> Iterator[str]:
    """Yield a redis:// URL to a server that answers PING; a server started here is stopped on exit."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(f"needs Redis: redis-server is not on PATH and {URL_VARIABLE} is not set")
    with tempfile.TemporaryDirectory(prefix="sprinklr-mcp-redis-") as workdir:
        # Another process may take the free port between our probe and the server's bind; try a few.
        for _ in range(3):
            port = _free_port()
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            process = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + timeout
                while process.poll() is None and time.monotonic() < deadline and not _answers_ping(port):
                    time.sleep(0.02)
                if process.poll() is None and _answers_ping(port):
                    yield f"redis://127.0.0.1:{port}/0"
                    return
            finally:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        raise RuntimeError(f"redis-server did not answer PING on loopback within {timeout} s")
