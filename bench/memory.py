"""memory: the server's resident memory at start and after caching the whole sandbox dataset, against the cache bound.

Every case is read (search pages, then each case by number) and every conversation paged through to its end, with
the sandbox's and the server's rate limits raised so that nothing is refused.
"""

from __future__ import annotations

import time
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
    http_server,
    sample_rss,
    sandbox_process,
    server_env,
    timed_call,
)

CACHE_MB = 64  # the default bound, set explicitly so the figure says what it is compared with
SESSIONS = 8
MiB = 1024 * 1024


async def read_everything(url: str, numbers: list[int], log: CallLog) -> dict[str, int]:
    """All case search pages; then, from SESSIONS sessions, every case by number and every conversation in full."""
    counts = {"search_pages": 0, "cases": 0, "conversation_pages": 0}
    async with Client(url) as client:
        page = await timed_call(client, log, "search_cases", {"page_size": 100, "sort": "created_asc"})
        while page is not None:
            counts["search_pages"] += 1
            if not page.get("next_cursor"):
                break
            page = await timed_call(client, log, "search_cases", {"cursor": page["next_cursor"]})
    queue = list(reversed(numbers))

    async def conversation(client: Client, number: int) -> None:
        offset: int | None = 0
        while offset is not None:
            arguments = {"case_number": number, "offset": offset, "limit": 100}
            read = await timed_call(client, log, "get_case_messages", arguments)
            counts["conversation_pages"] += 1
            offset = read.get("next_offset") if read else None

    async def worker() -> None:
        async with Client(url) as client:
            while queue:
                number = queue.pop()
                counts["cases"] += 1
                # A deleted case is still readable by number; its conversation too.
                await timed_call(client, log, "get_case_by_number", {"case_number": number})
                await conversation(client, number)

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


async def run(quick: bool) -> BenchResult:
    """Start the server, measure it idle, fill its cache with the dataset, and measure it again."""
    result = BenchResult("memory")
    env_limits = {f"SPRINKLR_{key.upper()}": value for key, value in SERVER_OPEN_LIMITS.items()}
    with sandbox_process(**OPEN_LIMITS) as sandbox:
        info = await sandbox.dataset()
        first, last = info["caseNumbers"]["first"], info["caseNumbers"]["last"]
        numbers = list(range(first, last + 1))[: 150 if quick else None]
        with http_server(server_env(sandbox, SPRINKLR_MCP_CACHE_MB=CACHE_MB, **env_limits)) as server:
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
    result.details = {
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
    return result
