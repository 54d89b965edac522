"""soak: at least 10,000 mixed calls from 20 concurrent sessions over the whole dataset, with a small cache (8 MiB),
to show that nothing fails that should succeed and that memory levels off at the cache bound.
"""

from __future__ import annotations

import random
import time

import anyio
from mcp import Client

from bench.harness import (
    OPEN_LIMITS,
    SERVER_OPEN_LIMITS,
    BenchResult,
    Metric,
    cache_stats,
    http_server,
    sample_server,
    sandbox_process,
    server_env,
    summary_ms,
)
from bench.workload import all_questions, dataset, drive

SESSIONS = 20
CACHE_MB = 8
# A few lookups of case numbers that do not exist: their error result is the right answer, not a failure.
UNKNOWN_SHARE = 0.01
# RSS may still grow this much once the cache is full (allocator slack, fragmentation, interpreter caches).
LEVEL_OFF_TARGET = 0.10
# The cache counts as full from this share of its bound (eviction keeps it just under).
FULL = 0.95
MiB = 1024 * 1024


async def run(quick: bool) -> BenchResult:
    """Drive the calls, sampling the server's RSS twice a second; compare the first and second halves."""
    calls, time_cap = (1_000, 30.0) if quick else (10_000, 150.0)
    result = BenchResult("soak")
    questions = all_questions(dataset(), random.Random(3), unknown_share=UNKNOWN_SHARE)
    env_limits = {f"SPRINKLR_{key.upper()}": value for key, value in SERVER_OPEN_LIMITS.items()}
    with (
        sandbox_process(**OPEN_LIMITS) as sandbox,
        http_server(server_env(sandbox, SPRINKLR_MCP_CACHE_MB=CACHE_MB, **env_limits)) as server,
    ):
        async with Client(server.url) as client:
            await client.list_tools()
        at_start = server.rss_kib()
        samples: list[tuple[float, int, int]] = []
        started = time.monotonic()
        async with anyio.create_task_group() as group:
            group.start_soon(sample_server, server.url, server.pid, samples, 0.5, started)
            load = await drive(server.url, questions, sessions=SESSIONS, seconds=time_cap, max_calls=calls, seed=5)
            group.cancel_scope.cancel()
        at_end = server.rss_kib()
        async with Client(server.url) as client:
            status = await cache_stats(client)
        upstream = await sandbox.requests()
    cache = status.get("cache", {})
    # Level-off: RSS from the moment the cache first reached its bound to the end of the run. Before that moment
    # memory must grow (the cache fills); after it, the cache only replaces entries, so RSS should stay flat.
    full_at = next((t for t, _, size in samples if size >= FULL * CACHE_MB * MiB), None)
    at_full = next((rss for t, rss, _ in samples if t == full_at), at_end)
    peak_after = max((rss for t, rss, _ in samples if full_at is not None and t >= full_at), default=at_end)
    growth = (peak_after - at_full) / at_full if at_full else 0.0
    latency = summary_ms(load.log.latencies)
    result.add(Metric("calls made", load.log.calls, "calls", calls, "asked for", 1.0, higher_is_better=True))
    result.add(Metric("failed calls (that should succeed)", len(load.log.failures), "calls", target=0))
    result.add(Metric("calls served", round(load.rate, 1), "calls/s", higher_is_better=True))
    result.add(Metric("p50 latency", latency["p50_ms"], "ms"))
    result.add(Metric("p99 latency", latency["p99_ms"], "ms"))
    result.add(Metric("RSS at start", round(at_start / 1024, 1), "MiB"))
    result.add(Metric("RSS at end", round(at_end / 1024, 1), "MiB", round(at_start / 1024, 1), "at start"))
    result.add(Metric("RSS at cache full", round(at_full / 1024, 1), "MiB"))
    result.add(Metric("RSS growth after cache full", round(growth * 100, 1), "%", target=LEVEL_OFF_TARGET * 100))
    result.add(
        Metric(
            "cache size at end",
            round(cache.get("size_bytes", 0) / MiB, 2),
            "MiB",
            CACHE_MB,
            "SPRINKLR_MCP_CACHE_MB",
            1.0,
        )
    )
    result.details = {
        "sessions": SESSIONS,
        "seconds": round(load.seconds, 2),
        "calls_by_tool": load.log.by_tool,
        "expected_errors": load.log.expected_errors,
        "latency": latency,
        "upstream_requests": upstream,
        "upstream_per_call": round(upstream / load.log.calls, 3) if load.log.calls else None,
        "rss_kib": {
            "start": at_start,
            "end": at_end,
            "at_cache_full": at_full,
            "peak_after_cache_full": peak_after,
        },
        "cache_full_after_seconds": full_at,
        "samples_seconds_rss_kib_cache_bytes": samples,
        "cache": cache,
        "failures": load.log.failures[:10],
    }
    return result
