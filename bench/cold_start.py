"""cold_start: process start to the first tools/list answer over stdio, ours against the bare server, alternating."""

from __future__ import annotations

import time

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from bench.harness import BenchResult, Metric, percentile, sandbox_process, server_env, stdio_server

TARGET_RATIO = 1.5


async def _start_and_list(params: StdioServerParameters) -> tuple[float, float, int]:
    """Seconds from spawning to the tools/list answer, seconds to shut down, and how many tools were listed."""
    started = time.perf_counter()
    client = Client(params)
    await client.__aenter__()
    try:
        listing = await client.list_tools(cache_mode="bypass")
        ready = time.perf_counter() - started
    finally:
        closing = time.perf_counter()
        await client.__aexit__(None, None, None)
    return ready, time.perf_counter() - closing, len(listing.tools)


async def run(quick: bool) -> BenchResult:
    """Several runs of each, ours and bare alternating (and which goes first alternating too); medians compared."""
    runs = 3 if quick else 12
    result = BenchResult("cold_start")
    with sandbox_process() as sandbox:
        servers = {
            "ours": stdio_server(["-m", "server", "serve"], server_env(sandbox)),
            "bare": stdio_server(["-m", "bench.bare_server"]),
        }
        # One unmeasured start of each first, so that both find the bytecode cache and the page cache warm.
        for params in servers.values():
            await _start_and_list(params)
        ready: dict[str, list[float]] = {"ours": [], "bare": []}
        shutdown: dict[str, list[float]] = {"ours": [], "bare": []}
        tools: dict[str, int] = {}
        for index in range(runs):
            for key in ("ours", "bare") if index % 2 == 0 else ("bare", "ours"):
                seconds, closing, tools[key] = await _start_and_list(servers[key])
                ready[key].append(seconds)
                shutdown[key].append(closing)
        upstream = await sandbox.requests()
    ours, bare = percentile(ready["ours"], 50) * 1000, percentile(ready["bare"], 50) * 1000
    result.add(Metric("median start to tools/list", round(ours, 1), "ms", round(bare, 1), "bare server", TARGET_RATIO))
    result.add(Metric("upstream calls at start", upstream, "requests", target=0))
    result.details = {
        "runs_each": runs,
        "tools_listed": tools,
        "start_to_list_ms": {key: [round(s * 1000, 1) for s in values] for key, values in ready.items()},
        "shutdown_ms_median": {key: round(percentile(values, 50) * 1000, 1) for key, values in shutdown.items()},
    }
    return result
