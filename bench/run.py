"""Run the benchmarks: `python -m bench.run [--quick] [--only NAME] [--json PATH]`.

Prints one table of figures, baselines and ratios, and writes the same as JSON (bench/results/latest.json by
default). A full run (no --quick, no --only) also rewrites bench/RESULTS.md, the committed copy of the table.

Run on their own, because their full versions do not fit a full run's time limit per benchmark (TIME_LIMIT) or
compare two checkouts:

- `python -m bench.slow_clients`: the HTTP transport under 2,000 slow and 2 x 10,500 greedy connections, about
  5 minutes (its `--quick` sizes are part of `bench.run --quick`);
- `python -m bench.ledger --baseline PATH`: the shared quota ledger of this checkout beside another's (this
  checkout alone is part of `bench.run`);
- `python -m bench.archive [--messages 1000000]`: the Sparkcentral archive's import rate, memory and query times
  at a million messages, a few minutes;
- `python -m bench.questions` and `python -m bench.sandbox_cost` print the same as their rows here, alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bench import (
    cold_start,
    economy,
    ledger,
    memory,
    overhead,
    questions,
    sandbox_cost,
    slow_clients,
    soak,
    throughput,
)
from bench.harness import BenchResult, Metric, loopback_only_environment, machine

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "latest.json"
RESULTS_MD = HERE / "RESULTS.md"

Benchmark = Callable[[bool], Awaitable[BenchResult]]
BENCHMARKS: dict[str, tuple[Benchmark, str]] = {
    "overhead": (overhead.run, "cache-hit get_case over stdio vs a bare MCPServer echo, interleaved"),
    "cold_start": (cold_start.run, "process start to first tools/list over stdio vs the bare server"),
    "questions": (
        questions.run,
        "a support agent's everyday questions: calls and text read, this version vs version 1",
    ),
    "economy": (economy.run, "upstream requests of a ~50-call support session vs the minimum; hit vs upstream"),
    "throughput": (throughput.run, "20 HTTP sessions, mixed questions, warm cache, Sprinklr's 10/s and 1,000/h"),
    "memory": (
        memory.run,
        "server RSS with the whole dataset cached, and after reading 1,200 cases of 400 KB under an 8 MiB cache, vs "
        "the cache bound (and version 1)",
    ),
    "soak": (soak.run, "10,000 mixed calls from 20 HTTP sessions, 8 MiB cache: failures, latency, RSS level-off"),
    "ledger": (
        ledger.run,
        "two server processes of one key bursting while their hosts differ or the ledger file is deleted or wiped: "
        "requests per second at Sprinklr's 10/s; the quota's bookkeeping per call",
    ),
    "sandbox_cost": (sandbox_cost.run, "the sandbox's dataset build times and CPU per request under each profile"),
    "slow_clients": (
        slow_clients.run,
        "the HTTP transport with slow and greedy clients beside stock uvicorn: an authorised client's list and call, "
        "file descriptors, RSS after initialize floods",
    ),
}
# A safety net on top of each benchmark's own bounds: none may run longer than this (seconds).
TIME_LIMIT = {False: 300.0, True: 60.0}
# Benchmarks whose full version runs longer than TIME_LIMIT[False]: a full run leaves them out and says how to run
# them; named with --only they run, with this limit.
RUN_ALONE = {"slow_clients": ("python -m bench.slow_clients", 600.0)}


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def _target(metric: Metric) -> str:
    if metric.target is None:
        return ""
    sign = "≥" if metric.higher_is_better else "≤"
    if metric.target == 0 and metric.baseline is None:
        return "= 0"
    if metric.baseline is not None:
        return f"{sign} {metric.target:g}x"
    return f"{sign} {_number(metric.target)} {metric.unit}"


def _verdict(metric: Metric) -> str:
    return {True: "met", False: "**MISSED**", None: ""}[metric.met]


def table(results: Sequence[BenchResult]) -> str:
    """The results as one Markdown table: figure, baseline, ratio, target and verdict per metric."""
    lines = [
        "| benchmark | metric | ours | baseline | ratio | target | |",
        "|---|---|--:|--:|--:|---|---|",
    ]
    for result in results:
        if "error" in result.details:
            lines.append(f"| {result.name} | **did not complete**: {result.details['error']} | | | | | |")
            continue
        for metric in result.metrics:
            ours = f"{_number(metric.value)} {metric.unit}"
            base = f"{_number(metric.baseline)} ({metric.baseline_label})" if metric.baseline is not None else ""
            ratio = f"{metric.ratio:.2f}x" if metric.ratio is not None else ""
            row = [result.name, metric.name, ours, base, ratio, _target(metric), _verdict(metric)]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _run_one(name: str, quick: bool) -> BenchResult:
    benchmark, _ = BENCHMARKS[name]
    limit = TIME_LIMIT[quick] if quick or name not in RUN_ALONE else RUN_ALONE[name][1]

    async def bounded() -> BenchResult:
        with anyio.fail_after(limit):
            return await benchmark(quick)

    started = time.perf_counter()
    try:
        result = anyio.run(bounded)
    except Exception as exc:  # one benchmark failing must not lose the others' results
        detail = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        print(f"bench {name}: {detail}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        result = BenchResult(name, details={"error": detail[:300]})
    result.seconds = time.perf_counter() - started
    return result


def markdown(results: Sequence[BenchResult], about: dict[str, Any], command: str) -> str:
    """bench/RESULTS.md: the machine, the table and what each benchmark measures."""
    before = ", ".join(f"{value:.2f}" for value in about["loadavg_before"])
    after = ", ".join(f"{value:.2f}" for value in about["loadavg_after"])
    described = "\n".join(f"- **{name}**: {text}." for name, (_, text) in BENCHMARKS.items())
    alone = "".join(f"\n- {name}: `{command}`" for name, (command, _) in RUN_ALONE.items())
    return f"""# Benchmark results

Produced by `{command}` on {about["date"]}; the JSON of the same run (`bench/results/latest.json`) has every
raw figure. Ratios divide our figure by the baseline measured side by side in the same run, or by the computed
ideal.

## Machine

- {about["nproc"]} cores (`nproc`), {about["cpu"]} (`/proc/cpuinfo`)
- Python {about["python"]} (`python -V`), Linux {about["kernel"]}
- Load average before the run {before}, after it {after}: other work on the machine adds noise to absolute
  figures; ratios measured side by side are less affected.

## Results

{table(results)}

Total time: {sum(r.seconds for r in results):.0f} s.

## What each benchmark measures

{described}

`python -m bench.run --quick` runs a reduced version of each (under a minute); `--only NAME` runs one. A full run
leaves out these, whose full versions take longer than its limit per benchmark (their `--quick` versions are in
`--quick` runs):{alone}
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks one after another and report them."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced version of every benchmark (under 60 s)")
    parser.add_argument("--only", choices=list(BENCHMARKS), action="append", help="run only this benchmark")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write JSON ({DEFAULT_JSON})")
    args = parser.parse_args(argv)
    loopback_only_environment()
    names = args.only or [name for name in BENCHMARKS if args.quick or name not in RUN_ALONE]
    for name in sorted(set(BENCHMARKS) - set(names) & set(RUN_ALONE)):
        print(f"== {name}: left out of a full run (it takes longer); run `{RUN_ALONE[name][0]}`", file=sys.stderr)
    about = {
        **machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_before": os.getloadavg(),
    }
    results: list[BenchResult] = []
    for name in names:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        result = _run_one(name, args.quick)
        results.append(result)
        print(f"== {name}: {result.seconds:.1f} s", file=sys.stderr, flush=True)
    about["loadavg_after"] = os.getloadavg()
    print(table(results))
    missed = [f"{r.name}: {m.name}" for r in results for m in r.metrics if m.met is False]
    failed = [r.name for r in results if "error" in r.details]
    print(f"\n{len(results)} benchmarks in {sum(r.seconds for r in results):.0f} s; targets missed: {len(missed)}")
    for item in missed:
        print(f"  missed {item}")
    document = {
        "machine": about,
        "quick": args.quick,
        "results": [r.as_json() for r in results],
        "missed": missed,
        "failed": failed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"JSON: {args.json}")
    if not args.quick and not args.only:
        command = "python -m bench.run"
        RESULTS_MD.write_text(markdown(results, about, command))
        print(f"Markdown: {RESULTS_MD}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
