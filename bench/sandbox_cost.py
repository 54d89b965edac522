"""sandbox_cost: what the sandbox's knobs and data modes cost: build times, and CPU per request under each profile.

Run alone: `python -m bench.sandbox_cost`. CPU time (time.process_time) of requests through the app in-process, so a
busy machine moves the figures little; the best of five rounds of 300 requests per route.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2

from server.sandbox import SandboxConfig, create_app, generate
from server.sandbox.config import PROFILES
from server.sandbox.data import cached_dataset
from server.sandbox.variants import dataset_variant, variant_key

ROUNDS, REQUESTS = 5, 300


def _builds() -> None:
    """Seconds to generate the default dataset and to derive each data variant from it."""
    started = time.perf_counter()
    generate()
    print(f"generate (1,000 cases, 10,000 messages)   {time.perf_counter() - started:6.2f} s")
    base = cached_dataset()
    for name, key in (
        ("status only at top, language names", variant_key("top", "name", False, False)),
        ("hostile strings", variant_key("both", "code", True, False)),
        ("oversize records", variant_key("both", "code", False, True)),
        ("hostile and oversize", variant_key("both", "code", True, True)),
    ):
        started = time.perf_counter()
        dataset_variant(base, key)
        print(f"derive: {name:34} {time.perf_counter() - started:6.2f} s")


async def _cpu_per_request(profile: str) -> dict[str, float]:
    """Microseconds of CPU per request for three routes under a profile."""
    config = SandboxConfig(profile=profile, rate_per_second=10**6, rate_per_hour=10**9)
    app = create_app(config)
    data = app.state.sandbox.dataset
    ids = [m["messageId"] for m in data.messages[:100]]
    search = {"sorts": [{"key": "createdTime", "order": "DESC"}], "page": {"size": 20}, "includeCount": True}
    auth = {"Key": config.api_key, "Authorization": f"Bearer {config.access_token}"}
    root = "http://sandbox" if config.env == "prod" else f"http://sandbox/{config.env}"
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=root, headers=auth) as client:
        routes: dict[str, Callable[[], Awaitable[Any]]] = {
            "case-numbers": lambda: client.get("/api/v2/case/case-numbers?case-number=48213"),
            "bulk-fetch 100": lambda: client.post("/api/v2/message/bulk-fetch", json=ids),
            "search CASE": lambda: client.post("/api/v2/search/CASE", json=search),
        }
        figures: dict[str, float] = {}
        for name, send in routes.items():
            for _ in range(50):
                await send()
            best = float("inf")
            for _ in range(ROUNDS):
                started = time.process_time()
                for _ in range(REQUESTS):
                    await send()
                best = min(best, (time.process_time() - started) / REQUESTS)
            figures[name] = best * 1e6
        return figures


def main() -> None:
    """Print build times, then CPU per request by profile beside the default's (ratio)."""
    _builds()
    baseline = anyio.run(_cpu_per_request, "default")
    print(f"\n{'profile':10}" + "".join(f"{name:>26}" for name in baseline))
    for profile in PROFILES:
        figures = baseline if profile == "default" else anyio.run(_cpu_per_request, profile)
        cells = "".join(f"{f'{figures[name]:.0f} us ({figures[name] / baseline[name]:.2f}x)':>26}" for name in baseline)
        print(f"{profile:10}{cells}")


if __name__ == "__main__":
    main()
