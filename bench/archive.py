"""The Sparkcentral archive at scale: `python -m bench.archive [--messages 1000000] [--small 250000]`.

Writes two export sets (streamed to disk by the sandbox's generator), imports each in a fresh process, and prints
rows per second and that process's peak RSS side by side: memory must not grow with the file size. Then it times the
archive's queries against the larger index (median and p95 of repeated runs), against the 50 ms target.
Runs for a few minutes, so it is not part of `bench.run`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.archive.store import ArchiveStore, ConversationSearch
from server.sandbox.exports import synthetic_customers, write_exports

ROOT = Path(__file__).resolve().parent.parent
IMPORT_TARGET = 50_000  # rows per second
QUERY_TARGET_MS = 50.0
MESSAGES_PER_CONVERSATION = 10.0
REPEATS = 15


def generate(folder: Path, messages: int) -> dict[str, Any]:
    """An export set of about `messages` messages (one big message file per month), streamed to disk."""
    rng = random.Random(11)
    conversations = int(messages / (MESSAGES_PER_CONVERSATION + 0.5))
    customers = synthetic_customers(rng, max(100, conversations // 5))
    started = time.perf_counter()
    counts = write_exports(
        folder,
        customers,
        until_ms=1_735_689_600_000,
        days=360,
        conversations=conversations,
        messages_per_conversation=MESSAGES_PER_CONVERSATION,
        seed=11,
        hostile=False,
    )
    size = sum(p.stat().st_size for p in folder.rglob("*.csv"))
    return {"rows": counts.rows, "seconds": time.perf_counter() - started, "bytes": size}


def child_import(folder: str, db: str) -> None:
    """Import in this (fresh) process and print rows, seconds and peak RSS as JSON."""
    from server.archive.db import connect
    from server.archive.importer import Importer
    from server.archive.sources import LocalSource
    from server.archive.values import Times

    conn = connect(Path(db))
    started = time.perf_counter()
    cpu = time.process_time()
    summary = Importer(conn, LocalSource(folder), Times()).run()
    seconds = time.perf_counter() - started
    conn.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": summary.rows,
                "skipped": summary.skipped,
                "seconds": seconds,
                "cpu_seconds": time.process_time() - cpu,
                "peak_rss_mb": peak_kb / 1024,
                "messages": sum(f.rows for f in summary.files if f.export_type == "message"),
            }
        )
    )


def run_import(folder: Path, db: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.archive", "--child-import", str(folder), str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def timed(work: Callable[[], object]) -> tuple[float, float, float]:
    """Median and p95 wall time and median CPU time of REPEATS runs, in ms (after one warm-up run).

    CPU time is shown too because this machine's two cores are shared: wall time includes waiting for a core.
    """
    work()
    times, cpu = [], []
    for _ in range(REPEATS):
        started, cpu_started = time.perf_counter(), time.process_time()
        work()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], statistics.median(cpu)


def queries(db: Path) -> list[tuple[str, float, float, float]]:
    """Each archive query timed against the index at `db`."""
    store = ArchiveStore(db)
    conn = store._conn()  # the bench picks real values out of the index it measures
    email = conn.execute("SELECT raw FROM identifiers WHERE kind = 'email' LIMIT 1 OFFSET 500").fetchone()[0]
    phone = conn.execute("SELECT raw FROM identifiers WHERE kind = 'phone' LIMIT 1 OFFSET 700").fetchone()[0]
    biggest = conn.execute("SELECT id FROM conversations ORDER BY inbound + outbound DESC LIMIT 1").fetchone()[0]
    total = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    middle = conn.execute("SELECT id FROM conversations LIMIT 1 OFFSET ?", (total // 2,)).fetchone()[0]
    cases: list[tuple[str, Callable[[], object]]] = [
        ("full text, common word ('refund')", lambda: store.search(ConversationSearch(text="refund"))),
        ("full text, two words", lambda: store.search(ConversationSearch(text="compatible charger"))),
        ("full text + channel + csat 1-2", lambda: store.search(
            ConversationSearch(text="refund", channel="Email", csat_max=2))),
        ("search by contact email", lambda: store.search(ConversationSearch(contact=email))),
        ("filters: status + topic + agent", lambda: store.search(
            ConversationSearch(status="Resolved", topic="Billing", person="Maya Chen"))),
        ("filter: tag, page 10", lambda: store.search(ConversationSearch(tag="vip"), offset=180)),
        ("conversation read (largest, 30 msgs)", lambda: store.conversation(biggest, limit=30)),
        ("conversation read (typical)", lambda: store.conversation(middle, limit=30)),
        ("contact match by phone digits", lambda: store.find_contacts(phone=phone)),
        ("report: response time by team", lambda: store.report("team", "response_time")),
        ("report: response time by topic", lambda: store.report("topic", "response_time")),
        ("report: CSAT by agent", lambda: store.report("agent", "csat")),
        ("report: resolution by week", lambda: store.report("week", "resolution")),
    ]  # fmt: skip
    return [(label, *timed(work)) for label, work in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=250_000)
    parser.add_argument("--child-import", nargs=2, metavar=("FOLDER", "DB"))
    args = parser.parse_args()
    if args.child_import:
        child_import(*args.child_import)
        return
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        root = Path(tmp)
        results: dict[int, dict[str, Any]] = {}
        for size in (args.small, args.messages):
            folder, db = root / f"exports-{size}", root / f"archive-{size}.sqlite3"
            made = generate(folder, size)
            print(
                f"generated {sum(made['rows'].values()):,} rows ({made['rows']['message']:,} messages, "
                f"{made['bytes'] / 2**20:.0f} MiB of CSV) in {made['seconds']:.1f}s",
                flush=True,
            )
            results[size] = {**run_import(folder, db), "csv_mb": made["bytes"] / 2**20, "db": db}
        print("\nImport (fresh process each; rows = every CSV row of every export type)")
        print(
            f"{'messages':>12} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'cpu rows/s':>10} {'CSV MiB':>8} {'RSS MiB':>8}"  # noqa: E501
        )
        for r in results.values():
            print(
                f"{r['messages']:>12,} {r['rows']:>10,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>9,.0f} "
                f"{r['rows'] / r['cpu_seconds']:>10,.0f} {r['csv_mb']:>8.0f} {r['peak_rss_mb']:>8.1f}"
            )
        small, large = results[args.small], results[args.messages]
        rate = large["rows"] / large["seconds"]
        print(
            f"rows/s at {args.messages:,} messages: {rate:,.0f} (target >= {IMPORT_TARGET:,}: "
            f"{'met' if rate >= IMPORT_TARGET else 'NOT met'}; ratio {rate / IMPORT_TARGET:.2f})"
        )
        print(
            f"peak RSS {large['peak_rss_mb']:.0f} MiB vs {small['peak_rss_mb']:.0f} MiB for "
            f"{large['csv_mb'] / small['csv_mb']:.1f}x the CSV: ratio {large['peak_rss_mb'] / small['peak_rss_mb']:.2f}"
        )
        print(f"\nQueries against the {large['messages']:,}-message index (median and p95 of {REPEATS} runs)")
        print(f"{'query':45} {'median ms':>9} {'p95 ms':>8} {'cpu ms':>7} {'target':>7}")
        worst = worst_cpu = 0.0
        for label, median, p95, cpu in queries(large["db"]):
            worst, worst_cpu = max(worst, median), max(worst_cpu, cpu)
            verdict = "ok" if median < QUERY_TARGET_MS else "OVER"
            print(f"{label:45} {median:>9.1f} {p95:>8.1f} {cpu:>7.1f} {verdict:>7}")
        print(
            f"slowest median {worst:.1f} ms wall, {worst_cpu:.1f} ms CPU vs target {QUERY_TARGET_MS:.0f} ms: "
            f"ratios {worst / QUERY_TARGET_MS:.2f} and {worst_cpu / QUERY_TARGET_MS:.2f}"
        )


if __name__ == "__main__":
    main()
