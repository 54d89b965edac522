"""Run the sandbox: in the foreground for the CLI, or on a background thread for tests and demos."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from server.sandbox.app import ADMIN_PREFIX, create_app
from server.sandbox.config import SandboxConfig
from server.sandbox.data import Dataset
from server.sandbox.state import Sandbox

START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """A sandbox serving on loopback: where to reach it and its live state."""

    base_url: str
    admin_url: str
    port: int
    app_state: Sandbox
    app: Starlette
    config: SandboxConfig


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the server starts so that port 0 resolves to a known free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off (TCP_NODELAY) on sockets that say they are TCP, and
    # without it every answer on a reused connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _urls(host: str, port: int, env: str) -> tuple[str, str]:
    """The API base URL (below /{env}, or the root for prod) and the admin URL."""
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    # The global production environment is served at the root, as Sprinklr serves it; the others below /{env}.
    base = f"http://{netloc}" if env == "prod" else f"http://{netloc}/{env}"
    return base, f"http://{netloc}{ADMIN_PREFIX}"


def _server(app: Starlette, *, quiet: bool) -> uvicorn.Server:
    """A single-worker uvicorn server; h11 because the reset fault relies on its request cycle."""
    config = uvicorn.Config(
        app,
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=1,
        # Quiet (embedded) servers leave the process's logging alone and only report real problems.
        log_config=None if quiet else LOGGING_CONFIG,
        access_log=not quiet,
        log_level="warning" if quiet else "info",
    )
    return uvicorn.Server(config)


def serve(config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve a sandbox in the foreground until interrupted, printing its URLs to stderr first."""
    config = config or SandboxConfig()
    app = create_app(config)
    sock = _bind(host, port)
    base_url, admin_url = _urls(host, sock.getsockname()[1], config.env)
    print(f"Sprinklr sandbox serving {base_url} (admin: {admin_url})", file=sys.stderr, flush=True)
    try:
        _server(app, quiet=False).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C and then re-raises it; for a foreground server that is the end.
        pass
    finally:
        sock.close()


@contextmanager
def running_sandbox(config: SandboxConfig | None = None, *, dataset: Dataset | None = None) -> Iterator[RunningSandbox]:
    """Serve a sandbox on 127.0.0.1 and a free port from a background thread for the duration of a with block."""
    config = config or SandboxConfig()
    app = create_app(config, dataset=dataset)
    sock = _bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = _server(app, quiet=True)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sprinklr-sandbox-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the Sprinklr sandbox did not start on port {port}")
            time.sleep(0.002)
        base_url, admin_url = _urls("127.0.0.1", port, config.env)
        yield RunningSandbox(base_url, admin_url, port, app.state.sandbox, app, config)
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)
        sock.close()
