"""sandbox_cost: what the sandbox's knobs and data modes cost: build times, and CPU per request under each profile.

Run alone: `python -m bench.sandbox_cost`; bench.run includes it as "sandbox_cost" (`--quick`: fewer rounds). CPU time
(time.process_time) of requests through the app in-process, so a busy machine moves the figures little; the best of
five rounds of 300 requests per route (two of 100 with --quick).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2

from bench.harness import BenchResult, Metric
from server.sandbox import SandboxConfig, create_app, generate
from server.sandbox.config import PROFILES
from server.sandbox.data import cached_dataset
from server.sandbox.variants import dataset_variant, variant_key

ROUNDS, REQUESTS = 5, 300
QUICK_ROUNDS, QUICK_REQUESTS = 2, 100
VARIANTS = {
    "status only at top, language names": variant_key("top", "name", False, False),
    "hostile strings": variant_key("both", "code", True, False),
    "oversize records": variant_key("both", "code", False, True),
    "hostile and oversize": variant_key("both", "code", True, True),
}


def _builds() -> dict[str, float]:
    """Seconds to generate the default dataset and to derive each data variant from it."""
    started = time.perf_counter()
    generate()
    seconds = {"generate (1,000 cases, 10,000 messages)": time.perf_counter() - started}
    base = cached_dataset()
    for name, key in VARIANTS.items():
        base.variants.pop(key, None)  # built anew, not found from an earlier run in this process
        started = time.perf_counter()
        dataset_variant(base, key)
        seconds[f"derive: {name}"] = time.perf_counter() - started
    return seconds


async def _cpu_per_request(profile: str, rounds: int = ROUNDS, requests: int = REQUESTS) -> dict[str, float]:
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
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(requests):
                    await send()
                best = min(best, (time.process_time() - started) / requests)
            figures[name] = best * 1e6
        return figures


async def run(quick: bool) -> BenchResult:
    """Build times, then CPU per request by profile against the default's, as bench.run's table rows."""
    rounds, requests = (QUICK_ROUNDS, QUICK_REQUESTS) if quick else (ROUNDS, REQUESTS)
    result = BenchResult("sandbox_cost")
    builds = _builds()
    for name, seconds in builds.items():
        result.add(Metric(name, round(seconds, 2), "s"))
    per_profile = {profile: await _cpu_per_request(profile, rounds, requests) for profile in PROFILES}
    default = per_profile["default"]
    for profile, figures in per_profile.items():
        for route, micros in figures.items():
            base = None if profile == "default" else round(default[route])
            result.add(Metric(f"{profile}: {route} CPU per request", round(micros), "us", base, "default profile"))
    result.details = {"rounds": rounds, "requests_per_round": requests, "builds_s": builds, "cpu_us": per_profile}
    return result


def main() -> None:
    """Print build times, then CPU per request by profile beside the default's (ratio)."""
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROUNDS} rounds of {QUICK_REQUESTS} requests")
    quick = parser.parse_args().quick
    rounds, requests = (QUICK_ROUNDS, QUICK_REQUESTS) if quick else (ROUNDS, REQUESTS)
    for name, seconds in _builds().items():
        print(f"{name:42} {seconds:6.2f} s")
    baseline = anyio.run(_cpu_per_request, "default", rounds, requests)
    print(f"\n{'profile':10}" + "".join(f"{name:>26}" for name in baseline))
    for profile in PROFILES:
        figures = baseline if profile == "default" else anyio.run(_cpu_per_request, profile, rounds, requests)
        cells = "".join(f"{f'{figures[name]:.0f} us ({figures[name] / baseline[name]:.2f}x)':>26}" for name in baseline)
        print(f"{profile:10}{cells}")


if __name__ == "__main__":
    main()
