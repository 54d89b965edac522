"""python -m server.sandbox [PORT]: serve a sandbox configured from SPRINKLR_SANDBOX_* variables."""

from __future__ import annotations

import sys

from server.sandbox.config import SandboxConfig
from server.sandbox.runner import serve


def main(argv: list[str] | None = None) -> None:
    """Serve on 127.0.0.1 and the given port (default 8787; 0 picks a free one)."""
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0]) if args else 8787
    serve(SandboxConfig.from_env(), port=port)


if __name__ == "__main__":
    main()
