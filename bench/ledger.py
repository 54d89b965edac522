"""ledger: does the quota stay shared when the environment is messy? Requests per second at the sandbox.

Two stdio server processes with one API key burst distinct case reads against a sandbox that enforces Sprinklr's
10 calls a second, in four scenarios:

- hosts: the processes are started as two MCP hosts might, with different HOME and XDG_CACHE_HOME, and the default
  ledger location;
- steady: the two share one ledger file, explicitly configured, and nothing disturbs it (the reference);
- deleted: one process is bursting on a ledger file when the file is deleted (as a cache cleaner would), and a
  second process (an MCP host starting another server) starts after that and bursts too;
- wiped: the same, but the ledger's whole directory (database, -wal and -shm) is removed.

For each it prints the most requests that arrived in any one second, the 403 "Developer Over Rate" answers and the
total; then what the quota's bookkeeping costs per call with the file ledger. `--baseline PATH` runs the same from
another checkout (e.g. an export of main) side by side:

    python -m bench.ledger
    git archive main | tar -x -C /tmp/before && python -m bench.ledger --baseline /tmp/before

bench.run includes it as "ledger" (this checkout only; `--quick` bursts for 4 s instead of 8).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from bench.harness import (
    PYTHON,
    ROOT,
    BenchResult,
    Metric,
    Sandbox,
    child_environment,
    max_per_window,
    sandbox_process,
    server_env,
)

WORKERS = 6  # concurrent callers per process: more than 10 calls a second together
BURST_SECONDS = 8.0
DISRUPT_AFTER = 1.5
QUICK_BURST_SECONDS = 4.0
SPRINKLR_PER_SECOND = 10
SCENARIOS = {
    "hosts": "two hosts' HOMEs, default ledger",
    "steady": "one ledger file, undisturbed",
    "deleted": "ledger file deleted mid-burst",
    "wiped": "ledger folder removed mid-burst",
}


async def burst(
    params: list[StdioServerParameters],
    sandbox: Sandbox,
    disrupt: Callable[[], None] | None,
    seconds: float = BURST_SECONDS,
) -> dict[str, Any]:
    """Every process's workers read distinct cases until `seconds` have passed.

    Without `disrupt` the processes start together; with it, the first starts, `disrupt` runs DISRUPT_AFTER seconds
    into its burst, and only then do the others start and join in.
    """
    await sandbox.reset()
    outcomes = {"answered": 0, "refused_locally": 0, "errors": 0}
    error_texts: set[str] = set()
    started = anyio.Event()
    disrupted = anyio.Event()
    deadline = 0.0

    async def worker(client: Client, first: int) -> None:
        await started.wait()
        number = first
        while time.monotonic() < deadline:
            result = await client.call_tool("get_case", {"case_number": number})
            number += 1
            text = " ".join(getattr(block, "text", "") for block in result.content)
            if not result.is_error or "No case" in text:
                outcomes["answered"] += 1
            elif "try again in" in text or "paused" in text:
                outcomes["refused_locally"] += 1
            else:
                outcomes["errors"] += 1
                error_texts.add(text[:160])

    async def process(index: int, param: StdioServerParameters) -> None:
        if index and disrupt is not None:
            await disrupted.wait()
        async with Client(param) as client, anyio.create_task_group() as tg:
            await client.list_tools()
            for w in range(WORKERS):
                tg.start_soon(worker, client, 40_000 + index * 100_000 + w * 10_000)

    async def conduct() -> None:
        nonlocal deadline
        await anyio.sleep(3.0)  # the processes started and listed their tools
        deadline = time.monotonic() + seconds
        started.set()
        if disrupt is not None:
            await anyio.sleep(DISRUPT_AFTER)
            disrupt()
            disrupted.set()

    async with anyio.create_task_group() as tg:
        for index, param in enumerate(params):
            tg.start_soon(process, index, param)
        tg.start_soon(conduct)
    stats = await sandbox.stats()
    times = [float(entry["t"]) for entry in stats["log"]]
    return {
        "max_in_any_second": max_per_window(times, 1.0),
        "developer_over_rate": stats["rate_limited"],
        "requests": stats["requests"],
        "calls": outcomes,
        "error_samples": sorted(error_texts)[:3],
    }


def params_for(tree: Path, env: dict[str, str]) -> StdioServerParameters:
    """A stdio server run from `tree` with exactly these SPRINKLR_* settings, HOME and XDG_CACHE_HOME."""
    full = child_environment({"PYTHONPATH": str(tree), **env})
    for name in ("SPRINKLR_MCP_LEDGER_PATH", "XDG_CACHE_HOME"):
        if name not in env:
            full.pop(name, None)
    return StdioServerParameters(command=PYTHON, args=["-m", "server", "serve"], env=full, cwd=tree)


async def scenarios(tree: Path, seconds: float = BURST_SECONDS) -> dict[str, dict[str, Any]]:
    """Run the four scenarios with server processes from `tree`, against a sandbox of their own."""
    limits = {"SPRINKLR_RATE_PER_SECOND": "10", "SPRINKLR_RATE_PER_HOUR": "100000"}
    results: dict[str, dict[str, Any]] = {}
    with sandbox_process(rate_per_second=10, rate_per_hour=100_000) as sandbox, tempfile.TemporaryDirectory() as tmp:
        base = {key: value for key, value in server_env(sandbox, **limits).items() if key != "SPRINKLR_MCP_LEDGER_PATH"}
        homes = [Path(tmp, name) for name in ("host-a", "host-b")]
        hosts = [params_for(tree, {**base, "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}) for home in homes]
        results["hosts"] = await burst(hosts, sandbox, None, seconds)
        steady = [params_for(tree, {**base, "SPRINKLR_MCP_LEDGER_PATH": str(Path(tmp, "steady.sqlite3"))})] * 2
        results["steady"] = await burst(steady, sandbox, None, seconds)

        shared = Path(tmp, "shared", "ledger.sqlite3")
        same = [params_for(tree, {**base, "SPRINKLR_MCP_LEDGER_PATH": str(shared)}) for _ in range(2)]
        results["deleted"] = await burst(same, sandbox, lambda: shared.unlink(), seconds)
        results["wiped"] = await burst(same, sandbox, lambda: shutil.rmtree(shared.parent), seconds)
    return results


# One call's quota bookkeeping as the server does it (the ledger make_ledger builds, acquire then settle), timed in
# a process of the tree's own; prints the median and p90 in microseconds.
COST = """
import inspect, statistics, sys, tempfile, time, anyio
from pathlib import Path
from server.quota import QuotaGuard
from server.runtime import make_ledger
from server.settings import load_settings

async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env="prod2", api_key="k", access_token="t", ledger_path=str(Path(tmp, "l.sqlite3")))
        ledger, _ = make_ledger(settings)
        extra = {"in_flight": 40.0} if "in_flight" in inspect.signature(QuotaGuard).parameters else {}
        # Sprinklr's 10 a second, one call every 0.12 s of the guard's clock: windows as full as in real use.
        now = [time.time()]
        guard = QuotaGuard(
            ledger, "bench", per_second=10, per_hour=1_000_000, bulk_reserve=0, clock=lambda: now[0], **extra
        )
        # A new ledger file grants nothing for its first window (FileLedger._grace): let it pass on this clock.
        try:
            await guard.acquire()
        except Exception:
            pass
        now[0] += 2
        samples = []
        for n in range(int(sys.argv[1])):
            now[0] += 0.12
            started = time.perf_counter()
            await guard.settle(await guard.acquire())
            samples.append(time.perf_counter() - started)
        await ledger.aclose()
    samples = samples[len(samples) // 10:]  # the first ones open the file
    print(statistics.median(samples) * 1e6, statistics.quantiles(samples, n=10)[-1] * 1e6)

anyio.run(main)
"""


def cost(tree: Path, calls: int = 1500) -> tuple[float, float]:
    """Median and p90 of one acquire + settle, in microseconds, with the file ledger of `tree`."""
    done = subprocess.run(
        [PYTHON, "-c", COST, str(calls)],
        cwd=tree,
        env=child_environment({"PYTHONPATH": str(tree)}),
        capture_output=True,
        text=True,
        check=True,
    )
    median, p90 = (float(part) for part in done.stdout.split())
    return median, p90


def show(label: str, results: dict[str, dict[str, Any]]) -> None:
    print(f"{label}:")
    print(f"  {'scenario':10} {'max/s':>6} {'403s':>6} {'requests':>9}  calls")
    for name, figures in results.items():
        print(
            f"  {name:10} {figures['max_in_any_second']:>6} {figures['developer_over_rate']:>6} "
            f"{figures['requests']:>9}  {figures['calls']}"
        )
        for text in figures["error_samples"]:
            print(f"  {'':10} error: {text}")


async def main(tree: Path, baseline: Path | None) -> None:
    """Run the scenarios (and the bookkeeping cost) for `tree`, and side by side for `baseline` if given."""
    trees = {"baseline": baseline, "ours": tree} if baseline else {"ours": tree}
    costs = {}
    for label, path in trees.items():
        assert path is not None
        show(f"{label} ({path})", await scenarios(path))
        costs[label] = cost(path)
    print("limit: 10 a second at the sandbox; a correct server keeps max/s <= 10 and 403s at 0")
    ours = costs["ours"]
    line = f"quota bookkeeping per call (file ledger, acquire + settle): median {ours[0]:.0f} us, p90 {ours[1]:.0f} us"
    if "baseline" in costs:
        base = costs["baseline"]
        line += f"; baseline {base[0]:.0f} us, p90 {base[1]:.0f} us; ratio {ours[0] / base[0]:.2f}x median"
    print(line)


async def run(quick: bool) -> BenchResult:
    """The four scenarios and the bookkeeping cost for this checkout, as bench.run's table rows."""
    seconds = QUICK_BURST_SECONDS if quick else BURST_SECONDS
    found = await scenarios(ROOT, seconds)
    median, p90 = await anyio.to_thread.run_sync(cost, ROOT, 500 if quick else 1500)
    result = BenchResult("ledger")
    for name, figures in found.items():
        label = SCENARIOS[name]
        limit = SPRINKLR_PER_SECOND
        result.add(Metric(f"{label}: max requests in any 1 s", figures["max_in_any_second"], "requests", target=limit))
        result.add(Metric(f"{label}: 403 Developer Over Rate", figures["developer_over_rate"], "answers", target=0))
    result.add(Metric("quota bookkeeping per call, file ledger (median)", round(median), "us"))
    result.add(Metric("quota bookkeeping per call, file ledger (p90)", round(p90), "us"))
    result.details = {"burst_seconds": seconds, "workers_per_process": WORKERS, "scenarios": found}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to run the server processes from")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure side by side (e.g. main's)")
    args = parser.parse_args()
    anyio.run(main, args.tree.resolve(), args.baseline.resolve() if args.baseline else None)
