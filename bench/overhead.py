"""overhead: round trip of a cache-hit get_case over stdio, against a bare MCPServer's echo, interleaved."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import Client

from bench.harness import (
    BenchResult,
    CallLog,
    Metric,
    percentile,
    sandbox_process,
    server_env,
    stdio_server,
    summary_ms,
    timed_call,
)

TARGET_RATIO = 1.3


async def validation_ms(client: Client, name: str, arguments: dict[str, Any], repeat: int) -> float:
    """Median time the SDK client spends checking one result against the tool's output schema (client-side)."""
    outcome = await client.call_tool(name, arguments)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await client.session.validate_tool_result(name, outcome)
        times.append(time.perf_counter() - started)
    return percentile(times, 50) * 1000


async def run(quick: bool) -> BenchResult:
    """Both servers as stdio subprocesses, one call each in turn (the order alternating), so noise hits both."""
    rounds = 150 if quick else 1000
    warmup = 20 if quick else 50
    result = BenchResult("overhead")
    with sandbox_process() as sandbox:
        number = (await sandbox.dataset())["caseNumbers"]["sample"][1]
        ours_params = stdio_server(["-m", "server", "serve"], server_env(sandbox))
        async with Client(ours_params) as ours:
            # Our answer, recorded once, is what the bare server's canned_case returns.
            recorded = await ours.call_tool("get_case", {"case_number": number})
            canned = Path(tempfile.mkdtemp()) / "canned_case.json"
            canned.write_text(recorded.model_dump_json(by_alias=True, exclude_none=True), encoding="utf-8")
            bare_params = stdio_server(["-m", "bench.bare_server"], {**os.environ, "BENCH_CANNED_CASE": str(canned)})
            fast_params = stdio_server(["-m", "bench.bare_server"], {**os.environ, "BENCH_TRANSPORT": "ours"})
            async with Client(bare_params) as bare, Client(fast_params) as fast:
                await _measure(ours, bare, fast, number, rounds, warmup, sandbox, result)
    return result


async def _measure(
    ours: Client, bare: Client, fast: Client, number: int, rounds: int, warmup: int, sandbox: Any, result: BenchResult
) -> None:
    """Interleave the three calls for `rounds` rounds and add the metrics to `result`."""
    ours_log, bare_log, canned_log, fast_log = CallLog(), CallLog(), CallLog(), CallLog()
    calls = {
        "ours": (ours, ours_log, "get_case", {"case_number": number}),
        "bare": (bare, bare_log, "echo", {"text": "hello"}),
        "canned": (bare, canned_log, "canned_case", {"case_number": number}),
        "fast": (fast, fast_log, "echo", {"text": "hello"}),
    }
    # The first call fills our cache; the warm-up rounds settle both processes (imports, allocations).
    for _ in range(warmup):
        for client, _log, name, arguments in calls.values():
            await timed_call(client, CallLog(), name, arguments)
    before = await sandbox.requests()
    started = time.perf_counter()
    for index in range(rounds):
        order = ("ours", "bare", "canned", "fast") if index % 2 == 0 else ("fast", "canned", "bare", "ours")
        for key in order:
            client, log, name, arguments = calls[key]
            await timed_call(client, log, name, arguments)
    elapsed = time.perf_counter() - started
    upstream = await sandbox.requests() - before
    checks = {key: await validation_ms(c, n, a, rounds) for key, (c, _log, n, a) in calls.items()}
    ours_stats, bare_stats = summary_ms(ours_log.latencies), summary_ms(bare_log.latencies)
    canned_stats, fast_stats = summary_ms(canned_log.latencies), summary_ms(fast_log.latencies)
    result.add(Metric("median round trip", ours_stats["p50_ms"], "ms", bare_stats["p50_ms"], "bare echo", TARGET_RATIO))
    result.add(Metric("p99 round trip", ours_stats["p99_ms"], "ms", bare_stats["p99_ms"], "bare echo", TARGET_RATIO))
    # The same answer and output schema from the bare server: what is left is our own code's cost.
    result.add(
        Metric("median vs same payload", ours_stats["p50_ms"], "ms", canned_stats["p50_ms"], "bare, same answer")
    )
    result.add(Metric("p99 vs same payload", ours_stats["p99_ms"], "ms", canned_stats["p99_ms"], "bare, same answer"))
    # Our stdio transport waits on the pipe in the event loop where the SDK's hops to a worker thread three times per
    # request: the bare echo on our transport shows what that is worth, and what our code costs on top of it.
    result.add(
        Metric("bare echo on our transport", fast_stats["p50_ms"], "ms", bare_stats["p50_ms"], "bare echo, SDK stdio")
    )
    result.add(Metric("median vs bare on our transport", ours_stats["p50_ms"], "ms", fast_stats["p50_ms"], "same"))
    # The SDK client validates every structured result against the tool's output schema, in pure Python: a cost
    # of the client paid per call, which grows with the schema. Without it, what is left is server and transport.
    result.add(
        Metric(
            "median excl. client schema check",
            round(ours_stats["p50_ms"] - checks["ours"], 3),
            "ms",
            round(bare_stats["p50_ms"] - checks["bare"], 3),
            "bare echo",
        )
    )
    result.add(
        Metric("client schema check per result", round(checks["ours"], 3), "ms", round(checks["bare"], 3), "bare")
    )
    result.add(Metric("upstream calls while measuring", upstream, "requests", target=0))
    failures = ours_log.failures + bare_log.failures + canned_log.failures + fast_log.failures
    result.add(Metric("failed calls", len(failures), "calls", target=0))
    result.details = {
        "rounds": rounds,
        "case_number": number,
        "ours": ours_stats,
        "bare": bare_stats,
        "bare_same_payload": canned_stats,
        "bare_on_our_transport": fast_stats,
        "client_schema_check_ms": checks,
        "seconds_measuring": round(elapsed, 2),
        "failures": failures[:10],
    }
    return result
