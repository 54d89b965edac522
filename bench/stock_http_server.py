"""The streamable-HTTP server as it was before its bounds, for side-by-side figures in bench/slow_clients.py only.

Stock `uvicorn.run` (no header deadline, no connection cap) and the SDK's session defaults (10,000 sessions, idle
for 30 minutes); the same tools, transport security and bearer token as `sprinklr-mcp serve`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn
from starlette.types import ASGIApp

from server.app import build_server
from server.http import BearerAuth, transport_security
from server.settings import load_settings


def main() -> None:
    """Serve on 127.0.0.1 at the given port until terminated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("SPRINKLR_MCP_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    settings = load_settings()
    host = "127.0.0.1"
    app: ASGIApp = build_server(settings).streamable_http_app(
        transport_security=transport_security(settings, host, args.port), host=host
    )
    if settings.http_token is not None:
        app = BearerAuth(app, settings.http_token.get_secret_value())
    uvicorn.run(app, host=host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
