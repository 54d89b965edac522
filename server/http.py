"""The streamable-HTTP app, locked down: Host/Origin checks on every bind, optional bearer token, loopback default."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from server.settings import Settings

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
    """The streamable-HTTP ASGI app at /mcp, with transport security and (when configured) bearer auth."""
    app: ASGIApp = server.streamable_http_app(transport_security=transport_security(settings, host, port), host=host)
    if settings.http_token is not None:
        app = BearerAuth(app, settings.http_token.get_secret_value())
    return app
