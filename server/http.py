"""The streamable-HTTP transport, locked down and bounded.

Host/Origin checks on every bind, an optional bearer token checked before any session state exists, loopback by
default; and bounds that keep slow or greedy clients from starving the others: a deadline for a request's headers
(and body), a cap on open connections (at the cap the oldest connection that is not being served makes way), a cap
on MCP sessions, and idle sessions expired after minutes rather than half an hour.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import h11
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.settings import Settings

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """True for a loopback address or name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def transport_security(settings: Settings, host: str, port: int) -> TransportSecuritySettings:
    """DNS-rebinding protection that stays on for every bind address (the SDK turns it off for 0.0.0.0)."""
    hosts = [f"{name}:{port}" for name in LOOPBACK_HOSTS] + [f"{name}:*" for name in LOOPBACK_HOSTS]
    origins = [f"http://{name}:{port}" for name in LOOPBACK_HOSTS]
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        hosts += [host, f"{host}:{port}"]
    hosts += list(settings.allowed_hosts)
    origins += list(settings.allowed_origins)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class BearerAuth:
    """ASGI middleware: every request must carry `Authorization: Bearer <SPRINKLR_MCP_HTTP_TOKEN>`, else 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse unauthenticated HTTP requests before they reach the MCP app."""
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
                return
        await self._app(scope, receive, send)


def http_app(server: MCPServer[Any], settings: Settings, host: str, port: int) -> ASGIApp:
    """The streamable-HTTP ASGI app at /mcp, with transport security, session bounds and (if set) bearer auth."""
    app: ASGIApp = server.streamable_http_app(
        transport_security=transport_security(settings, host, port),
        host=host,
        session_idle_timeout=settings.http_session_idle,
        max_sessions=settings.http_max_sessions,
    )
    if settings.http_token is not None:
        # Outermost, so that a request without the token is refused before anything (a session) is created for it.
        app = BearerAuth(app, settings.http_token.get_secret_value())
    return app


@dataclass(frozen=True)
class HttpLimits:
    """What one client may hold: connection slots, and time to send a request's headers and its body."""

    max_connections: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        """The limits the settings ask for (SPRINKLR_MCP_HTTP_*)."""
        return cls(settings.http_max_connections, settings.http_header_timeout, settings.http_body_timeout)


class ConnectionGate:
    """Counts open connections; at the cap, closes the oldest one that is not being served, so a new one gets in.

    Connections waiting for a request (headers not complete yet, or a body nobody reads any more) make way first,
    then idle keep-alive ones; a connection whose request is being served is never closed to make room.
    """

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._open: set[GuardedH11Protocol] = set()
        # Insertion-ordered: the oldest first.
        self._waiting: dict[GuardedH11Protocol, None] = {}
        self._kept: dict[GuardedH11Protocol, None] = {}
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0
        self._warned_at = float("-inf")

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, connection: GuardedH11Protocol) -> bool:
        """Admit a new connection, closing the oldest waiting or idle one at the cap; False if none could go."""
        while len(self._open) >= self.max_connections:
            victims = self._waiting or self._kept
            if not victims:
                self.refused += 1
                self._warn()
                return False
            oldest = next(iter(victims))
            self.closed(oldest)
            oldest.evict()
            self.evicted += 1
            self._warn()
        self._open.add(connection)
        self._waiting[connection] = None
        return True

    def waiting(self, connection: GuardedH11Protocol) -> None:
        """The connection waits for the client (a request's headers, or a body no one will read): it may go first."""
        if connection in self._open and connection not in self._waiting:
            self._kept.pop(connection, None)
            self._waiting[connection] = None

    def kept(self, connection: GuardedH11Protocol) -> None:
        """The connection is idle between requests (keep-alive): it may go once no waiting one is left."""
        if connection in self._open:
            self._waiting.pop(connection, None)
            self._kept.pop(connection, None)
            self._kept[connection] = None

    def busy(self, connection: GuardedH11Protocol) -> None:
        """A request on this connection is being served: it stays."""
        self._waiting.pop(connection, None)
        self._kept.pop(connection, None)

    def closed(self, connection: GuardedH11Protocol) -> None:
        """Forget a connection (closed, evicted or timed out)."""
        self._open.discard(connection)
        self.busy(connection)

    def _warn(self) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:  # at most once a minute: an attack must not flood the log
            self._warned_at = now
            log.warning(
                "HTTP connection cap (%d, SPRINKLR_MCP_HTTP_MAX_CONNECTIONS) reached: %d idle connections closed to "
                "make room and %d new ones refused so far",
                self.max_connections,
                self.evicted,
                self.refused,
            )


_REFUSED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\n"
_REFUSED += b"content-length: 42\r\n\r\nToo many connections are busy; retry soon.\n"


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for a request's headers and body, and a place in the ConnectionGate.

    uvicorn has no header timeout: a client that never finishes its headers holds its connection (and a file
    descriptor) for ever. Here a timer starts with the connection (or with the first byte of a kept-alive
    connection's next request) and is cancelled once the request has arrived whole.
    """

    gate: ClassVar[ConnectionGate]
    limits: ClassVar[HttpLimits]

    _timer: asyncio.TimerHandle | None = None
    _timing: Literal["", "headers", "body"] = ""

    # asyncio.Protocol takes any BaseTransport; uvicorn's protocol (and so this one) narrows it to Transport.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Take a place at the gate (or refuse at once) and start the clock on the request's headers."""
        super().connection_made(transport)
        if not self.gate.opened(self):
            transport.write(_REFUSED)
            transport.close()
            return
        self._start("headers", self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Leave the gate and stop the clock."""
        self._stop()
        self.gate.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """A kept-alive connection that starts its next request gets the same deadline for its headers."""
        if self._timer is None and self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._start("headers", self.limits.header_timeout)
            self.gate.waiting(self)
        super().data_received(data)

    def handle_events(self) -> None:
        """After h11 has parsed what arrived: headers complete start the body's clock; a whole request stops it."""
        super().handle_events()
        state = self.conn.their_state
        if state is h11.IDLE or self.transport.is_closing():
            return
        if state is h11.SEND_BODY:
            if self._timing != "body":
                self._start("body", self.limits.body_timeout)
                self.gate.busy(self)
            return
        self._stop()
        self.gate.busy(self)

    def on_response_complete(self) -> None:
        """Between requests the connection is idle (uvicorn's keep-alive timeout runs) and may make way for others."""
        super().on_response_complete()
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE and not self.conn.trailing_data[0]:
            self.gate.kept(self)
        elif state in (h11.IDLE, h11.SEND_BODY):
            # The next request has begun, or the body of one already answered (e.g. 401) is still coming.
            self.gate.waiting(self)
            if self._timer is None:
                self._start("headers", self.limits.header_timeout)

    def evict(self) -> None:
        """Closed by the gate to make room for a new connection."""
        self._stop()
        self.transport.abort()

    def _start(self, what: Literal["headers", "body"], seconds: float) -> None:
        self._stop()
        self._timing = what
        self._timer = self.loop.call_later(seconds, self._too_slow)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timing = None, ""

    def _too_slow(self) -> None:
        what, self._timer, self._timing = self._timing, None, ""
        if self.transport.is_closing():
            return
        self.gate.timed_out += 1
        log.debug("closed a connection from %s: its request %s did not arrive in time", self.client, what)
        self.gate.closed(self)
        self.transport.abort()


class OncePerMinute(logging.Filter):
    """Lets one record per message template through each minute: a flood of refusals must not flood the log."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._last: dict[object, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True for the first warning of its kind in a minute (and for every record below WARNING)."""
        if record.levelno < logging.WARNING:
            return True
        now = self._clock()
        if now - self._last.get(record.msg, float("-inf")) < 60:
            return False
        if len(self._last) >= 1000:  # templates are few; messages formatted in place must not grow this for ever
            self._last.clear()
        self._last[record.msg] = now
        return True


# The SDK warns once per refused session ("Refusing to open a new session"): at the cap, once per request.
_SESSION_MANAGER_LOG = "mcp.server.streamable_http_manager"


# File descriptors kept for everything but client connections: upstream connections, the ledger, Redis, logs.
FD_RESERVE = 256


def fit_to_fd_limit(limits: HttpLimits) -> tuple[HttpLimits, int]:
    """The limits and listen backlog that fit this process's file-descriptor limit (raising its soft limit if it can).

    Each admitted connection and each one waiting in the backlog holds a descriptor; running out of them is what
    let slow clients lock everyone out.
    """
    backlog = min(2048, limits.max_connections)
    needed = limits.max_connections + backlog + FD_RESERVE
    try:
        import resource
    except ImportError:  # not on this platform: trust the configured figure
        return limits, backlog
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep the soft limit we have, and fit the connections into it below
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return limits, backlog
    room = max(16, (soft - FD_RESERVE) // 2)
    log.warning(
        "SPRINKLR_MCP_HTTP_MAX_CONNECTIONS=%d does not fit the open-file limit (%d): serving at most %d connections. "
        "Raise the limit (ulimit -n) to allow more.",
        limits.max_connections,
        soft,
        room,
    )
    return replace(limits, max_connections=room), min(backlog, room)


def guarded_protocol(gate: ConnectionGate, limits: HttpLimits) -> type[GuardedH11Protocol]:
    """A protocol class bound to one gate and its limits (uvicorn instantiates the class it is given)."""
    return type("BoundGuardedH11Protocol", (GuardedH11Protocol,), {"gate": gate, "limits": limits})


def serve_http(app: ASGIApp, host: str, port: int, limits: HttpLimits) -> None:
    """Serve the ASGI app with uvicorn until interrupted, every connection held to `limits`."""
    limits, backlog = fit_to_fd_limit(limits)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(ConnectionGate(limits.max_connections), limits),
        ws="none",  # MCP does not use WebSockets: no upgrade path to guard
        backlog=backlog,
        # Through the root logger, so our secret-scrubbing filter sees uvicorn's records too.
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    logging.getLogger(_SESSION_MANAGER_LOG).addFilter(OncePerMinute())
    gc.freeze()  # what start-up loaded lives as long as the process: keep it out of the collector's way
    uvicorn.Server(config).run()
