"""What every benchmark shares: results and statistics, the sandbox and server processes, and process memory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from server.sandbox import SandboxConfig

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
# Far above anything a benchmark sends: for runs that are about our server, not about the rate limit.
OPEN_LIMITS = {"rate_per_second": 100_000, "rate_per_hour": 10_000_000}
# The server's own quota at the highest values its settings accept, for the same runs.
SERVER_OPEN_LIMITS = {"rate_per_second": 1000, "rate_per_hour": 1_000_000}
START_TIMEOUT = 30.0
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


# -- results ----------------------------------------------------------------------------------------------------------


@dataclass
class Metric:
    """One figure: ours, the side-by-side baseline or ideal it is compared with, and the target on their ratio."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str | None = None
    target: float | None = None  # the ratio (or, without a baseline, the value) must not exceed this
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        """value / baseline, when there is a baseline to divide by."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        """Whether the target holds; None when the metric has no target."""
        if self.target is None:
            return None
        measured = self.ratio if self.baseline is not None else self.value
        if measured is None:
            return None
        return measured >= self.target if self.higher_is_better else measured <= self.target

    def as_json(self) -> dict[str, Any]:
        """The metric with its derived ratio and verdict."""
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class BenchResult:
    """What one benchmark measured: its metrics for the table and the raw details for the JSON."""

    name: str
    metrics: list[Metric] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, metric: Metric) -> Metric:
        """Record a metric and return it."""
        self.metrics.append(metric)
        return metric

    def as_json(self) -> dict[str, Any]:
        """The result as plain JSON."""
        return {
            "name": self.name,
            "seconds": round(self.seconds, 2),
            "metrics": [m.as_json() for m in self.metrics],
            "details": self.details,
        }


def percentile(samples: Sequence[float], pct: float) -> float:
    """The pct-th percentile (0-100) with linear interpolation between closest ranks."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """Count, median, p90, p99, mean and max of samples in seconds, given in milliseconds."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p90_ms": round(percentile(samples, 90) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3),
        "max_ms": round(max(samples) * 1000, 3),
    }


def max_per_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any window of `window` seconds (a sliding window starting at each event)."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def machine() -> dict[str, Any]:
    """Where the figures come from: cores, CPU model, Python, OS."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "kernel": os.uname().release,
    }


# -- processes --------------------------------------------------------------------------------------------------------


def loopback_only_environment() -> None:
    """Keep every client in this process and its children off any configured proxy: all traffic is loopback."""
    for name in ("NO_PROXY", "no_proxy"):
        present = [part for part in os.environ.get(name, "").split(",") if part]
        os.environ[name] = ",".join([*present, LOOPBACK, "localhost"])


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without proxies, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES}
    env.update(extra)
    return env


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Ask a process we started to stop (SIGTERM), then kill it if it has not within `grace` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


@dataclass
class Sandbox:
    """A sandbox process: its URLs and its admin API (requests received, log, limits)."""

    base_url: str
    admin_url: str
    pid: int

    async def _admin(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            response = await http.request(method, f"{self.admin_url}{path}", json=body)
            response.raise_for_status()
            return response.json()

    async def stats(self) -> dict[str, Any]:
        """Requests, per-route counts, rate refusals and the request log (with arrival times)."""
        result: dict[str, Any] = await self._admin("GET", "/stats")
        return result

    async def requests(self) -> int:
        """Sprinklr API requests received since the last reset (the log is skipped)."""
        return int((await self._admin("GET", "/stats?tail=1"))["requests"])

    async def reset(self) -> None:
        """Forget requests, rate windows and cursors."""
        await self._admin("POST", "/reset")

    async def configure(self, **values: Any) -> None:
        """Change limits or latency."""
        await self._admin("POST", "/config", values)

    async def dataset(self) -> dict[str, Any]:
        """Counts and sample values of the dataset."""
        result: dict[str, Any] = await self._admin("GET", "/dataset")
        return result


@contextlib.contextmanager
def sandbox_process(rate_per_second: int = 10, rate_per_hour: int = 1000, **settings: int | str) -> Iterator[Sandbox]:
    """Start a sandbox in its own process on a free loopback port; stop it on exit.

    `settings` are other SandboxConfig fields (e.g. cases=1200, pad_descriptions_kb=400), passed as SPRINKLR_SANDBOX_*.
    """
    # Only what the benchmark asks for: SPRINKLR_SANDBOX_* variables of the shell running it are left out.
    env = {key: value for key, value in child_environment({}).items() if not key.startswith("SPRINKLR_SANDBOX_")}
    env.update({f"SPRINKLR_SANDBOX_{name.upper()}": str(value) for name, value in settings.items()})
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "bench.sandbox_proc",
            f"--rate-per-second={rate_per_second}",
            f"--rate-per-hour={rate_per_hour}",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process exited before it was ready")
        urls = json.loads(line)
        yield Sandbox(urls["base_url"], urls["admin_url"], process.pid)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the sandbox stops when its stdin closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop(process)


def server_env(sandbox: Sandbox, **extra: str | int) -> dict[str, str]:
    """SPRINKLR_* settings that point a server process at the sandbox, with an in-memory ledger."""
    config = SandboxConfig()
    env = {
        "SPRINKLR_ENV": config.env,
        "SPRINKLR_API_KEY": config.api_key,
        "SPRINKLR_ACCESS_TOKEN": config.access_token,
        "SPRINKLR_BASE_URL": sandbox.base_url,
        "SPRINKLR_MCP_LEDGER_PATH": ":memory:",
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def stdio_server(args: Sequence[str], env: dict[str, str] | None = None) -> StdioServerParameters:
    """Parameters to launch `python <args>` from the repository root as a stdio MCP server."""
    # The SDK merges env over a minimal default environment: pass ours whole so the venv and NO_PROXY carry over.
    return StdioServerParameters(command=PYTHON, args=list(args), env=child_environment(env or {}), cwd=ROOT)


@dataclass
class HttpServer:
    """Our server as a streamable-HTTP subprocess."""

    url: str
    pid: int

    def rss_kib(self) -> int:
        """The server's resident memory now."""
        return rss_kib(self.pid)


@contextlib.contextmanager
def http_server(env: dict[str, str], tree: Path = ROOT) -> Iterator[HttpServer]:
    """Run `python -m server serve --transport streamable-http` on a free loopback port until the block ends.

    `tree` is the checkout to run it from (another version's, to measure it side by side).
    """
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "server", "serve", "--transport", "streamable-http", "--host", LOOPBACK, f"--port={port}"],
        cwd=tree,
        env=child_environment({**env, "PYTHONPATH": str(tree)} if tree != ROOT else env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"the server exited with {process.returncode}: {error[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not listen on port {port} within {START_TIMEOUT:.0f} s")
            time.sleep(0.02)
        yield HttpServer(f"http://{LOOPBACK}:{port}/mcp", process.pid)
    finally:
        stop(process)
        if process.stderr is not None:
            process.stderr.close()


# -- calls ------------------------------------------------------------------------------------------------------------


@dataclass
class CallLog:
    """Latencies and failures of tool calls made through a client."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    expected_errors: int = 0
    by_tool: dict[str, int] = field(default_factory=dict)
    # Error results containing one of these are the right answer in this run (e.g. the quota guard saying "wait").
    tolerate: tuple[str, ...] = ()
    refused: int = 0

    @property
    def calls(self) -> int:
        """Calls made, failed or not."""
        return len(self.latencies)


async def timed_call(
    client: Client, log: CallLog, name: str, arguments: dict[str, Any], *, expect_error: bool = False
) -> Any:
    """Call a tool, recording its latency; an error result (or exception) counts as a failure unless expected."""
    started = time.perf_counter()
    try:
        outcome = await client.call_tool(name, arguments)
    except Exception as exc:  # any failure of the session is a failed call, reported with its type
        log.latencies.append(time.perf_counter() - started)
        log.failures.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
        return None
    log.latencies.append(time.perf_counter() - started)
    log.by_tool[name] = log.by_tool.get(name, 0) + 1
    if outcome.is_error:
        text = " ".join(getattr(block, "text", "") for block in outcome.content)
        if expect_error:
            log.expected_errors += 1
        elif any(part in text for part in log.tolerate):
            log.refused += 1
        else:
            log.failures.append(f"{name} {arguments}: {text}"[:300])
        return None
    if expect_error:
        log.failures.append(f"{name} {arguments}: expected an error, got a result")
    return outcome.structured_content


async def follow(client: Client, log: CallLog, content: dict[str, Any] | None) -> dict[str, Any] | None:
    """The next page of a result, by the call its `next` names (as a model copies it); None at the end or on failure."""
    step = (content or {}).get("next")
    if not step:
        return None
    page: dict[str, Any] | None = await timed_call(client, log, step["tool"], step["arguments"])
    return page


async def cache_stats(client: Client) -> dict[str, Any]:
    """The server's quota_status as structured content (cache, quota, upstream calls)."""
    outcome = await client.call_tool("quota_status", {})
    content: dict[str, Any] = outcome.structured_content or {}
    return content


async def sample_rss(pid: int, samples: list[tuple[float, int]], every: float, start: float) -> None:
    """Append (seconds since start, RSS KiB) every `every` seconds until cancelled."""
    while True:
        with contextlib.suppress(OSError, RuntimeError):
            samples.append((round(time.monotonic() - start, 2), rss_kib(pid)))
        await anyio.sleep(every)


async def sample_server(url: str, pid: int, samples: list[tuple[float, int, int]], every: float, start: float) -> None:
    """Append (seconds since start, RSS KiB, cache bytes from quota_status) every `every` seconds until cancelled."""
    async with Client(url) as client:
        while True:
            cache = (await cache_stats(client)).get("cache", {})
            with contextlib.suppress(OSError, RuntimeError):
                samples.append((round(time.monotonic() - start, 2), rss_kib(pid), int(cache.get("size_bytes", 0))))
            await anyio.sleep(every)
