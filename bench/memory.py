"""memory: the server's resident memory against its cache bound (SPRINKLR_MCP_CACHE_MB), in two scenarios.

- dataset: after caching the whole sandbox dataset. Every case is read (search pages, then each case by number) and
  every conversation paged through to its end by following each page's `next`.
- large records (issue 9, part 4): 1,200 cases whose descriptions are 400 KB (400,000 characters) each, every one
  read by number from 8 sessions, under an 8 MiB cache. The records are far larger than the cache, so what stays
  in memory afterwards is what the server keeps outside the cache or fails to give back. Target: RSS growth at most
  1.2x the bound. A full run also lists the same cases through search pages of 20 (each answer about 8 MB), and has
  version 1 (a git worktree of bench.questions.V1_COMMIT) read them by number on a server of its own, side by side;
  the issue measured version 1 going from 75 to 616 MiB. `--quick` reads the first 600, and runs neither.

In both, the sandbox's and the server's rate limits are raised so that nothing is refused."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
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
    Sandbox,
    cache_stats,
    follow,
    http_server,
    sample_rss,
    sandbox_process,
    server_env,
    timed_call,
)
from bench.questions import v1_checkout

CACHE_MB = 64  # the default bound, set explicitly so the figure says what it is compared with
SESSIONS = 8
MiB = 1024 * 1024
# The large-record scenario, as issue 9 states it.
LARGE_CASES = 1200
QUICK_LARGE_READS = 600  # --quick reads the first 600 of them (RSS levels off within the first hundred)
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


@dataclass
class Pass:
    """One way of reading the large records on one server: RSS before, after and at its peak, and what it cost."""

    idle: int
    after: int
    peak: int
    seconds: float
    calls: int
    failures: list[str]
    directory_reads: int  # USER and CUSTOM_FIELD searches while reading (names are cached for 6 h)

    @property
    def growth_mb(self) -> float:
        """RSS growth from before the pass to after it, in MiB."""
        return round((self.after - self.idle) / 1024, 1)

    @property
    def peak_mb(self) -> float:
        """The highest RSS during the pass above where it started, in MiB."""
        return round((max(self.peak, self.after) - self.idle) / 1024, 1)


async def directory_reads(sandbox: Sandbox) -> int:
    """USER and CUSTOM_FIELD searches the sandbox has answered so far."""
    routes = (await sandbox.stats())["by_route"]
    return int(routes.get("POST search/USER", 0) + routes.get("POST search/CUSTOM_FIELD", 0))


async def read_pass(
    server: HttpServer, sandbox: Sandbox, read: Callable[[CallLog], Awaitable[Any]], samples: list[tuple[float, int]]
) -> Pass:
    """Run `read` against the server, sampling its RSS, and measure it settled before and after."""
    idle = await settled_rss(server)
    before = await directory_reads(sandbox)
    log = CallLog()
    started = time.monotonic()
    async with anyio.create_task_group() as group:
        group.start_soon(sample_rss, server.pid, samples, 0.25, started)
        await read(log)
        group.cancel_scope.cancel()
    seconds = time.monotonic() - started
    after = await settled_rss(server)
    peak = max([rss for _, rss in samples] + [after])
    reads = await directory_reads(sandbox) - before
    return Pass(idle, after, peak, round(seconds, 2), log.calls, log.failures, reads)


async def large_records(quick: bool, result: BenchResult) -> dict[str, Any]:
    """1,200 cases with 400 KB descriptions read by number under an 8 MiB cache: RSS growth against the bound.

    Then (full run) the same cases listed by search pages of 20 on the same server, and version 1 reading them by
    number on a server of its own, side by side.
    """
    padded = {"cases": LARGE_CASES, "pad_descriptions_kb": LARGE_DESCRIPTION_KB}
    env_extra = {"SPRINKLR_MCP_CACHE_MB": LARGE_CACHE_MB, **SERVER_LIMITS}
    details: dict[str, Any] = {"cases": LARGE_CASES, "description_kb": LARGE_DESCRIPTION_KB}
    with sandbox_process(**OPEN_LIMITS, **padded) as sandbox:
        info = await sandbox.dataset()
        numbers = list(range(info["caseNumbers"]["first"], info["caseNumbers"]["last"] + 1))
        numbers = numbers[:QUICK_LARGE_READS] if quick else numbers
        details["cases_read"] = len(numbers)
        with http_server(server_env(sandbox, **env_extra)) as server:
            details["rss_start_kib"] = server.rss_kib()
            async with Client(server.url) as client:
                await client.list_tools()
                # One case first, so that the baseline includes what any first read sets up (names, connections).
                await timed_call(client, CallLog(), "get_case", {"case_number": numbers[-1]})
            samples: list[tuple[float, int]] = []

            async def by_number(log: CallLog) -> None:
                await each_case(server.url, numbers, log, {})

            ours = await read_pass(server, sandbox, by_number, samples)
            listed: Pass | None = None
            if not quick:

                async def by_search(log: CallLog) -> None:
                    async with Client(server.url) as client:
                        page = await timed_call(client, log, "search_cases", {"page_size": 20, "sort": "oldest"})
                        while page is not None:
                            page = await follow(client, log, page)

                listed = await read_pass(server, sandbox, by_search, [])
            async with Client(server.url) as client:
                details["cache_after"] = (await cache_stats(client)).get("cache", {})
        old: Pass | None = None
        checkout = None if quick else v1_checkout()
        if checkout is not None:
            with http_server(server_env(sandbox, **env_extra), tree=checkout) as server:
                async with Client(server.url) as client:
                    await client.list_tools()
                    await timed_call(client, CallLog(), "get_case_by_number", {"case_number": numbers[-1]})

                async def version_1(log: CallLog) -> None:
                    queue = list(reversed(numbers))

                    async def worker() -> None:
                        async with Client(server.url) as client:
                            while queue:
                                await timed_call(client, log, "get_case_by_number", {"case_number": queue.pop()})

                    async with anyio.create_task_group() as group:
                        for _ in range(SESSIONS):
                            group.start_soon(worker)

                old = await read_pass(server, sandbox, version_1, [])
    bound = details["cache_after"].get("max_bytes", LARGE_CACHE_MB * MiB) / MiB
    label = f"{len(numbers):,} cases of {LARGE_DESCRIPTION_KB} KB"
    result.add(Metric(f"{label}: RSS idle", round(ours.idle / 1024, 1), "MiB"))
    result.add(
        Metric(f"{label}: RSS after reading", round(ours.after / 1024, 1), "MiB", round(ours.idle / 1024, 1), "idle")
    )
    result.add(
        Metric(
            f"{label}: RSS growth vs cache bound", ours.growth_mb, "MiB", bound, "SPRINKLR_MCP_CACHE_MB", LARGE_TARGET
        )
    )
    result.add(Metric(f"{label}: peak RSS growth while reading", ours.peak_mb, "MiB", bound, "bound"))
    if old is not None:
        result.add(Metric(f"{label}: RSS growth vs version 1", ours.growth_mb, "MiB", old.growth_mb, "version 1"))
    result.add(Metric(f"{label}: name look-ups while reading", ours.directory_reads, "requests", target=0))
    if listed is not None:
        result.add(Metric(f"{label}, in search pages of 20: RSS growth", listed.growth_mb, "MiB", bound, "bound"))
        result.add(Metric(f"{label}, in search pages of 20: peak RSS growth", listed.peak_mb, "MiB", bound, "bound"))
        result.add(
            Metric(f"{label}, in search pages of 20: name look-ups", listed.directory_reads, "requests", target=0)
        )
    failures = ours.failures + (listed.failures if listed else []) + (old.failures if old else [])
    result.add(Metric(f"{label}: failed calls", len(failures), "calls", target=0))
    details.update(
        {
            "by_number": {**asdict(ours), "failures": ours.failures[:10], "rss_samples_kib": samples},
            "in_search_pages": asdict(listed) if listed else None,
            "version_1": asdict(old) if old else "not run (quick, or no git worktree of version 1)",
            "version_1_in_issue_9_mib": {"before": 75, "after": 616},
        }
    )
    return details


async def run(quick: bool) -> BenchResult:
    """Both scenarios, one after the other, each with its own sandbox and server."""
    result = BenchResult("memory")
    result.details = {"dataset": await dataset(quick, result), "large_records": await large_records(quick, result)}
    return result
