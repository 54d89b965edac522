"""memory: the server's resident memory against its cache bound (SPRINKLR_MCP_CACHE_MB), in two scenarios.

- dataset: after caching the whole sandbox dataset. Every case is read (search pages, then each case by number) and
  every conversation paged through to its end by following each page's `next`.
- large records: 1,200 cases whose descriptions are 400 KB (400,000 characters) each, every one read by number,
  under an 8 MiB cache. The records are far larger than the cache, so what stays in memory afterwards is what the
  server keeps besides the cache, or what it fails to give back (issue 9, part 4; version 1 went from 75 to 616 MiB).

In both, the sandbox's and the server's rate limits are raised so that nothing is refused.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp import Client

from bench.harness import (
    OPEN_LIMITS,
    SERVER_OPEN_LIMITS,
    BenchResult,
    CallLog,
    HttpServer,
    Metric,
    cache_stats,
    follow,
    http_server,
    sample_rss,
    sandbox_process,
    server_env,
    timed_call,
)

CACHE_MB = 64  # the default bound, set explicitly so the figure says what it is compared with
SESSIONS = 8
MiB = 1024 * 1024
# The large-record scenario, as issue 9 states it.
LARGE_CASES = 1200
LARGE_DESCRIPTION_KB = 400
LARGE_CACHE_MB = 8
LARGE_TARGET = 1.2  # RSS growth may be at most this multiple of the cache bound
SERVER_LIMITS = {f"SPRINKLR_{key.upper()}": value for key, value in SERVER_OPEN_LIMITS.items()}


async def read_everything(url: str, numbers: list[int], log: CallLog) -> dict[str, int]:
    """All case search pages; then, from SESSIONS sessions, every case by number and every conversation in full."""
    counts = {"search_pages": 0, "cases": 0, "conversation_pages": 0}
    async with Client(url) as client:
        page = await timed_call(client, log, "search_cases", {"page_size": 100, "sort": "oldest"})
        while page is not None:
            counts["search_pages"] += 1
            page = await follow(client, log, page)

    async def conversation(client: Client, number: int) -> None:
        arguments = {"case_number": number, "limit": 100}
        read = await timed_call(client, log, "get_case_messages", arguments)
        while read is not None:
            counts["conversation_pages"] += 1
            read = await follow(client, log, read)

    await each_case(url, numbers, log, counts, conversation)
    return counts


async def each_case(
    url: str,
    numbers: list[int],
    log: CallLog,
    counts: dict[str, int],
    then: Callable[[Client, int], Awaitable[None]] | None = None,
) -> dict[str, int]:
    """Every case by number (get_case), from SESSIONS concurrent sessions; `then(client, number)` after each."""
    queue = list(reversed(numbers))

    async def worker() -> None:
        async with Client(url) as client:
            while queue:
                number = queue.pop()
                counts["cases"] = counts.get("cases", 0) + 1
                # A deleted case is still readable by number; its conversation too.
                await timed_call(client, log, "get_case", {"case_number": number})
                if then is not None:
                    await then(client, number)

    async with anyio.create_task_group() as group:
        for _ in range(SESSIONS):
            group.start_soon(worker)
    return counts


async def settled_rss(server: HttpServer) -> int:
    """The server's RSS (KiB) once it stops moving after a burst of work, waiting at most 2 s."""
    last = server.rss_kib()
    for _ in range(8):
        await anyio.sleep(0.25)
        now = server.rss_kib()
        if abs(now - last) < 256:
            return now
        last = now
    return last


async def dataset(quick: bool, result: BenchResult) -> dict[str, Any]:
    """Start the server, measure it idle, fill its cache with the dataset, and measure it again."""
    with sandbox_process(**OPEN_LIMITS) as sandbox:
        info = await sandbox.dataset()
        first, last = info["caseNumbers"]["first"], info["caseNumbers"]["last"]
        numbers = list(range(first, last + 1))[: 150 if quick else None]
        with http_server(server_env(sandbox, SPRINKLR_MCP_CACHE_MB=CACHE_MB, **SERVER_LIMITS)) as server:
            at_start = server.rss_kib()
            async with Client(server.url) as client:
                await client.list_tools()
                before = await cache_stats(client)
            idle = await settled_rss(server)
            log = CallLog()
            samples: list[tuple[float, int]] = []
            started = time.monotonic()
            async with anyio.create_task_group() as group:
                group.start_soon(sample_rss, server.pid, samples, 0.5, started)
                counts = await read_everything(server.url, numbers, log)
                group.cancel_scope.cancel()
            filling = time.monotonic() - started
            async with Client(server.url) as client:
                status = await cache_stats(client)
            filled = await settled_rss(server)
        upstream = await sandbox.requests()
    cache: dict[str, Any] = status.get("cache", {})
    growth_mb = (filled - idle) / 1024
    cache_mb = cache.get("size_bytes", 0) / MiB
    bound_mb = (cache.get("max_bytes") or CACHE_MB * MiB) / MiB
    result.add(Metric("RSS at start (listening)", round(at_start / 1024, 1), "MiB"))
    result.add(Metric("RSS idle (after first session)", round(idle / 1024, 1), "MiB"))
    result.add(Metric("RSS with the dataset cached", round(filled / 1024, 1), "MiB"))
    result.add(Metric("RSS growth vs cache bound", round(growth_mb, 1), "MiB", bound_mb, "SPRINKLR_MCP_CACHE_MB", 1.0))
    result.add(Metric("RSS growth vs cache's own size", round(growth_mb, 1), "MiB", round(cache_mb, 1), "cache bytes"))
    result.add(Metric("failed calls", len(log.failures), "calls", target=0))
    return {
        "cases": len(numbers),
        "calls": log.calls,
        "reads": counts,
        "seconds_filling": round(filling, 2),
        "upstream_requests": upstream,
        "rss_kib": {"start": at_start, "idle": idle, "filled": filled},
        "rss_samples_kib": samples,
        "cache_before": before.get("cache", {}),
        "cache_after": cache,
        "failures": log.failures[:10],
    }


async def large_records(result: BenchResult) -> dict[str, Any]:
    """1,200 cases with 400 KB descriptions read by number under an 8 MiB cache: RSS growth against the bound."""
    padded = {"cases": LARGE_CASES, "pad_descriptions_kb": LARGE_DESCRIPTION_KB}
    with sandbox_process(**OPEN_LIMITS, **padded) as sandbox:
        info = await sandbox.dataset()
        first, last = info["caseNumbers"]["first"], info["caseNumbers"]["last"]
        numbers = list(range(first, last + 1))
        with http_server(server_env(sandbox, SPRINKLR_MCP_CACHE_MB=LARGE_CACHE_MB, **SERVER_LIMITS)) as server:
            at_start = server.rss_kib()
            warm_log = CallLog()
            async with Client(server.url) as client:
                await client.list_tools()
                # One case first, so that the baseline includes what any first read sets up (names, connections).
                await timed_call(client, warm_log, "get_case", {"case_number": numbers[-1]})
            idle = await settled_rss(server)
            log = CallLog()
            samples: list[tuple[float, int]] = []
            started = time.monotonic()
            async with anyio.create_task_group() as group:
                group.start_soon(sample_rss, server.pid, samples, 0.25, started)
                counts = await each_case(server.url, numbers, log, {})
                group.cancel_scope.cancel()
            reading = time.monotonic() - started
            async with Client(server.url) as client:
                status = await cache_stats(client)
            after = await settled_rss(server)
        stats = await sandbox.stats()
    cache: dict[str, Any] = status.get("cache", {})
    bound_mb = (cache.get("max_bytes") or LARGE_CACHE_MB * MiB) / MiB
    growth_mb = (after - idle) / 1024
    peak = max([rss for _, rss in samples] + [after])
    served_mb = sum(1 for entry in stats["log"] if "case-numbers" in entry["path"]) * LARGE_DESCRIPTION_KB / 1024
    label = f"{LARGE_CASES:,} cases of {LARGE_DESCRIPTION_KB} KB"
    result.add(Metric(f"{label}: RSS idle", round(idle / 1024, 1), "MiB"))
    result.add(Metric(f"{label}: RSS after reading", round(after / 1024, 1), "MiB", round(idle / 1024, 1), "idle"))
    result.add(
        Metric(
            f"{label}: RSS growth vs cache bound",
            round(growth_mb, 1),
            "MiB",
            bound_mb,
            "SPRINKLR_MCP_CACHE_MB",
            LARGE_TARGET,
        )
    )
    result.add(Metric(f"{label}: peak RSS growth while reading", round((peak - idle) / 1024, 1), "MiB", bound_mb, "bound"))
    result.add(Metric(f"{label}: failed calls", len(log.failures) + len(warm_log.failures), "calls", target=0))
    return {
        "cases": len(numbers),
        "description_kb": LARGE_DESCRIPTION_KB,
        "calls": log.calls,
        "reads": counts,
        "seconds_reading": round(reading, 2),
        "upstream_requests": stats["requests"],
        "descriptions_served_mib": round(served_mb, 1),
        "rss_kib": {"start": at_start, "idle": idle, "after": after, "peak": peak},
        "rss_samples_kib": samples,
        "cache_after": cache,
        "failures": (warm_log.failures + log.failures)[:10],
    }


async def run(quick: bool) -> BenchResult:
    """Both scenarios, one after the other, each with its own sandbox and server."""
    result = BenchResult("memory")
    result.details = {"dataset": await dataset(quick, result), "large_records": await large_records(result)}
    return result
