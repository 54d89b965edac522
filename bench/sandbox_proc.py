"""A Sprinklr sandbox in its own process, so that its work does not compete with the load generator for the GIL.

Prints one JSON line with its URLs when it is ready, then serves until its stdin closes (the bench ending or dying).
Settings other than the rates are read from SPRINKLR_SANDBOX_* variables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from server.sandbox import SandboxConfig, running_sandbox


def main() -> None:
    """Serve a sandbox with the given limits on a free loopback port until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate-per-second", type=int, default=10)
    parser.add_argument("--rate-per-hour", type=int, default=1000)
    args = parser.parse_args()
    # Other settings (dataset size, padding, profile) come from SPRINKLR_SANDBOX_* variables, as for the CLI.
    rates = {
        "SPRINKLR_SANDBOX_RATE_PER_SECOND": args.rate_per_second,
        "SPRINKLR_SANDBOX_RATE_PER_HOUR": args.rate_per_hour,
    }
    config = SandboxConfig.from_env({**os.environ, **{key: str(value) for key, value in rates.items()}})
    with running_sandbox(config) as sandbox:
        print(json.dumps({"base_url": sandbox.base_url, "admin_url": sandbox.admin_url}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
