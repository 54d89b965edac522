"""A throwaway redis-server on a free loopback port for tests, or the server named by SPRINKLR_MCP_TEST_REDIS_URL.

Use it from a fixture: `with redis_server() as url: yield url`. It skips the test, saying why, only when neither
the variable nor a `redis-server` binary is available. `restartable_redis_server()` gives a test a server of its own
to stop and start again (an outage), on the same port.
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


class RedisProcess:
    """A redis-server of the test's own on a fixed loopback port, which the test may stop and start again."""

    def __init__(self, binary: str, workdir: str) -> None:
        self._binary = binary
        self._workdir = workdir
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where it listens (or will again)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start it (with nothing in it: no persistence) and wait until it answers PING."""
        args = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(args, cwd=self._workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING on port {self.port} within {timeout} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop it, as an outage would."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


@contextmanager
def restartable_redis_server() -> Iterator[RedisProcess]:
    """Yield a started RedisProcess, stopped on exit; skips, saying why, without a redis-server binary."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs a redis-server binary to stop and start (an outage cannot be made on a shared server)")
    with tempfile.TemporaryDirectory(prefix="sprinklr-mcp-redis-") as workdir:
        server = RedisProcess(binary, workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()
