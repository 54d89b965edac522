"""throughput: 20 concurrent sessions over streamable HTTP asking mixed questions of a warm cache, with Sprinklr's
limits (10 calls a second, 1,000 an hour) in force at the sandbox and in the server.

Two phases: mostly warm questions (about 1% cold, a few upstream calls a second), then a saturated phase where the
cold questions ask for more than 10 calls a second, so that the quota guard must pace and refuse. In both, the
sandbox's request log must never show more than 10 requests in any one second.
"""

from __future__ import annotations

import time
from typing import Any

from mcp import Client

from bench.harness import (
    BenchResult,
    CallLog,
    Metric,
    cache_stats,
    follow,
    http_server,
    max_per_window,
    sandbox_process,
    server_env,
    summary_ms,
    timed_call,
)
from bench.workload import Questions, dataset, drive, warm_questions

SESSIONS = 20
POOL_CASES = 200
SPRINKLR_PER_SECOND = 10
# About 3 cold questions a second at the rate this machine serves: upstream calls the guard paces without refusing.
COLD_SHARE = 0.01
# Well over 10 cold questions a second: the guard must make callers wait, and refuse some ("try again in ...").
SATURATED_COLD_SHARE = 0.15
# The quota guard's own refusal when the per-second budget is taken: the right answer under saturation.
GUARD_REFUSAL = ("are using them all",)


async def warm(url: str, questions: Questions, cases: int) -> CallLog:
    """Ask every question of the pool once, one at a time, so that the quota guard paces the upstream calls.

    The pool's cases are the newest ones, as the first pages of an unfiltered case search bring them (following each
    page's `next`): their numbers (and their ids, from the dataset) replace the pool's guesses, so that the load only
    asks for cases the warm-up saw.
    """
    log = CallLog()
    data = dataset()
    async with Client(url) as client:
        numbers: list[int] = []
        page = await timed_call(client, log, "search_cases", {"page_size": 100})
        while page is not None:
            numbers += [row["case_number"] for row in page["results"]]
            if len(numbers) >= cases:
                break
            page = await follow(client, log, page)
        questions.case_numbers = numbers[:cases]
        questions.case_ids = [data.case_by_number[number]["id"] for number in numbers[:cases]]
        calls: list[tuple[str, dict[str, Any]]] = []
        for number in questions.conversations:
            for order in ("oldest_first", "newest_first"):
                calls.append(("get_case_messages", {"case_number": number, "order": order, "limit": 25}))
        calls += [("search_cases", search) for search in questions.searches]
        calls += [("lookup_profile", {"email": email}) for email in questions.emails]
        calls += [("search_messages", search) for search in questions.message_searches]
        calls += [("get_message", {"message_id": mid}) for mid in questions.message_ids]
        for name, arguments in calls:
            await timed_call(client, log, name, arguments)
    return log


async def run(quick: bool) -> BenchResult:
    """Warm the cache within the budget, then measure a fixed duration of load, then a saturated one."""
    seconds, saturated_seconds = (4.0, 3.0) if quick else (20.0, 10.0)
    result = BenchResult("throughput")
    questions = warm_questions(dataset(), cases=POOL_CASES, conversations=8 if quick else 20, cold_share=COLD_SHARE)
    with (
        sandbox_process(rate_per_second=SPRINKLR_PER_SECOND, rate_per_hour=1000) as sandbox,
        http_server(server_env(sandbox, SPRINKLR_RATE_PER_SECOND=10, SPRINKLR_RATE_PER_HOUR=1000)) as server,
    ):
        warm_started = time.time()
        warm_log = await warm(server.url, questions, POOL_CASES)
        warm_seconds = time.time() - warm_started
        load = await drive(server.url, questions, sessions=SESSIONS, seconds=seconds, seed=11)
        questions.cold_share = SATURATED_COLD_SHARE
        saturated = await drive(
            server.url, questions, sessions=SESSIONS, seconds=saturated_seconds, seed=12, tolerate=GUARD_REFUSAL
        )
        async with Client(server.url) as client:
            status = await cache_stats(client)
        stats = await sandbox.stats()
    times = [entry["t"] for entry in stats["log"]]
    during = [t for t in times if load.started <= t <= load.ended]
    during_saturated = [t for t in times if saturated.started <= t <= saturated.ended]
    latency, saturated_latency = summary_ms(load.log.latencies), summary_ms(saturated.log.latencies)
    failures = warm_log.failures + load.log.failures + saturated.log.failures
    result.add(Metric("calls served (warm cache)", round(load.rate, 1), "calls/s", higher_is_better=True))
    result.add(Metric("p50 latency (warm cache)", latency["p50_ms"], "ms"))
    result.add(Metric("p99 latency (warm cache)", latency["p99_ms"], "ms"))
    result.add(Metric("calls served (saturated)", round(saturated.rate, 1), "calls/s", higher_is_better=True))
    result.add(Metric("max upstream in any 1 s", max_per_window(times), "requests", target=SPRINKLR_PER_SECOND))
    result.add(Metric("refused by sandbox (over rate)", stats["rate_limited"], "requests", target=0))
    result.add(Metric("failed calls", len(failures), "calls", target=0))
    result.details = {
        "sessions": SESSIONS,
        "warm": {"calls": warm_log.calls, "seconds": round(warm_seconds, 2)},
        "load": {
            "seconds": round(load.seconds, 2),
            "calls": load.log.calls,
            "cold_share": COLD_SHARE,
            "calls_by_tool": load.log.by_tool,
            "latency": latency,
            "upstream": len(during),
            "upstream_max_per_1s": max_per_window(during),
        },
        "saturated": {
            "seconds": round(saturated.seconds, 2),
            "calls": saturated.log.calls,
            "cold_share": SATURATED_COLD_SHARE,
            "refused_by_guard": saturated.log.refused,
            "latency": saturated_latency,
            "upstream": len(during_saturated),
            "upstream_max_per_1s": max_per_window(during_saturated),
        },
        "upstream_total": stats["requests"],
        "upstream_by_route": stats["by_route"],
        "cache": status.get("cache", {}),
        "failures": failures[:10],
    }
    return result
