"""slow_clients: the HTTP transport under slow and greedy clients, ours beside the stock server it replaced.

Slow clients are separate processes (bench/slowloris.py) holding connections that sent part of a request's headers
and nothing more. Measured: how long an authorised client takes to list the tools and call one while 2,000 slow
connections are held (and while they are reopened as fast as the server closes them), whether it gets through at
all while two clients hold 10,500 each (the issue's figure: the stock server ran out of file descriptors), and the
server's memory after 10,000 `initialize` calls without a token, with and without a bearer token configured.

About 5 minutes (`--quick`: one); not part of `bench.run`, whose time limit per benchmark it would exceed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2 as httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from bench.harness import (
    LOOPBACK,
    OPEN_LIMITS,
    PYTHON,
    ROOT,
    SERVER_OPEN_LIMITS,
    START_TIMEOUT,
    BenchResult,
    Metric,
    Sandbox,
    child_environment,
    free_port,
    rss_kib,
    sandbox_process,
    server_env,
    stop,
    summary_ms,
)

TOKEN = "bench-http-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": LATEST_HANDSHAKE_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "bench-slow-clients", "version": "0"},
    },
}
VARIANTS = {
    "ours": ["-m", "server", "serve", "--transport", "streamable-http"],
    "stock": ["-m", "bench.stock_http_server"],
}
CLIENT_DEADLINE = 15.0  # an authorised client that has not got through by then counts as locked out
TARGET_SECONDS = 2.0
MiB = 1024


@dataclass
class Running:
    """A server process under test."""

    port: int
    pid: int

    @property
    def url(self) -> str:
        """Its MCP endpoint."""
        return f"http://{LOOPBACK}:{self.port}/mcp"

    def fds(self) -> int:
        """Open file descriptors of the server process."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@contextlib.contextmanager
def server(variant: str, sandbox: Sandbox, **env: str | int) -> Iterator[Running]:
    """Our server or the stock one on a free loopback port until the block ends."""
    port = free_port()
    command = [PYTHON, *VARIANTS[variant], f"--port={port}"]
    settings = server_env(sandbox, **{f"SPRINKLR_{k.upper()}": v for k, v in SERVER_OPEN_LIMITS.items()}, **env)
    process = subprocess.Popen(
        command, cwd=ROOT, env=child_environment(settings), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {variant} server exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {variant} server did not listen within {START_TIMEOUT:.0f} s")
            time.sleep(0.02)
        yield Running(port, process.pid)
    finally:
        stop(process)


@contextlib.contextmanager
def slow_clients(port: int, connections: int, *, reopen: bool = False) -> Iterator[dict[str, Any]]:
    """A slowloris process holding `connections` to the port; yields its first report once every attempt was made."""
    command = [PYTHON, "-m", "bench.slowloris", f"--port={port}", f"--connections={connections}"]
    process = subprocess.Popen(
        [*command, *(["--reopen"] if reopen else [])],
        cwd=ROOT,
        env=child_environment({}),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        report: dict[str, Any] = json.loads(process.stdout.readline() or "{}")
        yield report
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop(process)


async def list_and_call(url: str) -> float | None:
    """Seconds an authorised client takes to list the tools and call one; None if it did not get through in time."""
    started = time.perf_counter()
    with anyio.move_on_after(CLIENT_DEADLINE):
        try:
            async with (
                httpx.AsyncClient(headers=AUTH, timeout=CLIENT_DEADLINE) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                await client.list_tools()
                outcome = await client.call_tool("get_case", {"case_number": 48213})
                if outcome.is_error:
                    return None
                return time.perf_counter() - started
        except Exception:  # any failure to get through is the figure being measured, not a bench error
            return None
    return None


async def authorised_runs(url: str, runs: int) -> list[float | None]:
    """`runs` authorised sessions one after another."""
    return [await list_and_call(url) for _ in range(runs)]


async def initialize_flood(url: str, calls: int) -> dict[str, int]:
    """`calls` initialize requests without a token: how each was answered."""
    answers: dict[str, int] = {}
    async with httpx.AsyncClient(headers=HEADERS, timeout=30, trust_env=False) as http:
        for _ in range(calls):
            response = await http.post(url, json=INITIALIZE)
            answers[str(response.status_code)] = answers.get(str(response.status_code), 0) + 1
    return answers


def _worst(times: list[float | None]) -> float:
    return max((t if t is not None else float("inf")) for t in times) if times else float("inf")


async def measure(variant: str, sandbox: Sandbox, sizes: dict[str, int]) -> dict[str, Any]:
    """Every scenario against one variant."""
    found: dict[str, Any] = {}
    with server(variant, sandbox, SPRINKLR_MCP_HTTP_TOKEN=TOKEN) as running:
        await authorised_runs(running.url, 1)  # warm: imports, first session, the case in the cache
        found["idle"] = await authorised_runs(running.url, sizes["runs"])
        with slow_clients(running.port, sizes["slow"]) as report:
            found["slow_report"] = report
            found["slow_fds"] = running.fds()
            found["slow"] = await authorised_runs(running.url, sizes["runs"])
        with slow_clients(running.port, sizes["slow"], reopen=True) as report:
            found["churn_report"] = report
            found["churn"] = await authorised_runs(running.url, sizes["runs"])
        with (
            slow_clients(running.port, sizes["flood"]) as first,
            slow_clients(running.port, sizes["flood"]) as second,
        ):
            found["flood_reports"] = [first, second]
            found["flood_fds"] = running.fds()
            found["flood"] = await authorised_runs(running.url, 1)
        found["after_flood"] = await authorised_runs(running.url, 1)
        before = rss_kib(running.pid)
        found["unauth_answers"] = await initialize_flood(running.url, sizes["initialize"])
        found["unauth_rss"] = (before / MiB, rss_kib(running.pid) / MiB)
    with server(variant, sandbox) as open_server:
        await authorised_runs(open_server.url, 1)
        before = rss_kib(open_server.pid)
        found["open_answers"] = await initialize_flood(open_server.url, sizes["initialize"])
        found["open_rss"] = (before / MiB, rss_kib(open_server.pid) / MiB)
    return found


async def run(quick: bool) -> BenchResult:
    """Both variants, every scenario; figures side by side."""
    sizes = {"runs": 3, "slow": 300, "flood": 1500, "initialize": 1000} if quick else {}
    sizes = sizes or {"runs": 5, "slow": 2000, "flood": 10_500, "initialize": 10_000}
    result = BenchResult("slow_clients", details={"sizes": sizes})
    with sandbox_process(**OPEN_LIMITS) as sandbox:
        found = {variant: await measure(variant, sandbox, sizes) for variant in VARIANTS}
    result.details.update(
        {
            variant: {
                **{k: v for k, v in figures.items() if k not in ("idle", "slow", "churn", "flood", "after_flood")},
                **{
                    k: {
                        "got_through": sum(t is not None for t in figures[k]),
                        "of": len(figures[k]),
                        **summary_ms([t for t in figures[k] if t is not None]),
                    }
                    for k in ("idle", "slow", "churn", "flood", "after_flood")
                },
            }
            for variant, figures in found.items()
        }
    )
    ours, stock = found["ours"], found["stock"]
    slow, flood = f"{sizes['slow']:,}", f"2 x {sizes['flood']:,}"
    for key, label in (("idle", "no slow clients"), ("slow", f"{slow} slow connections held")):
        result.add(
            Metric(
                f"list+call, {label} (worst of {sizes['runs']})",
                _worst(ours[key]),
                "s",
                baseline=_worst(stock[key]),
                baseline_label="stock uvicorn",
            )
        )
    result.add(
        Metric(f"list+call with {slow} slow connections (worst)", _worst(ours["slow"]), "s", target=TARGET_SECONDS)
    )
    result.add(
        Metric(
            f"list+call, {slow} slow reopened when closed (worst)",
            _worst(ours["churn"]),
            "s",
            baseline=_worst(stock["churn"]),
            baseline_label="stock uvicorn",
        )
    )
    result.add(
        Metric(
            f"list+call while {flood} slow connections held",
            _worst(ours["flood"]),
            "s",
            baseline=_worst(stock["flood"]),
            baseline_label="stock uvicorn",
        )
    )
    result.add(Metric(f"list+call while {flood} held (target)", _worst(ours["flood"]), "s", target=TARGET_SECONDS))
    got_through = sum(t is not None for t in ours["flood"] + ours["after_flood"])
    result.add(
        Metric(
            f"authorised sessions through, during and after {flood} held",
            got_through,
            "sessions",
            baseline=sum(t is not None for t in stock["flood"] + stock["after_flood"]),
            baseline_label="stock uvicorn",
        )
    )
    result.add(
        Metric(
            f"server fds while {flood} held",
            ours["flood_fds"],
            "fds",
            baseline=stock["flood_fds"],
            baseline_label="stock uvicorn",
        )
    )
    for key, label in (("unauth_rss", "with a token"), ("open_rss", "no token")):
        grown = ours[key][1] - ours[key][0]
        result.add(
            Metric(
                f"RSS growth, {sizes['initialize']:,} initialize without token, {label}",
                round(grown, 1),
                "MiB",
                baseline=round(stock[key][1] - stock[key][0], 1),
                baseline_label="stock uvicorn",
            )
        )
    return result


def main() -> None:
    """Run the benchmark on its own (`python -m bench.slow_clients [--quick]`) and print its figures."""
    import argparse

    from bench.harness import loopback_only_environment
    from bench.run import table

    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 slow connections, 2 x 1,500, 1,000 initialize")
    loopback_only_environment()
    result = anyio.run(run, parser.parse_args().quick)
    print(table([result]))
    print(json.dumps(result.details, indent=1, default=str))


if __name__ == "__main__":
    main()
