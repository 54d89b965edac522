"""A slow client in its own process: it holds connections that each sent part of a request's headers and nothing more.

`python -m bench.slowloris --port P --connections N [--reopen]` opens N connections, prints one JSON line when every
first attempt has connected or failed, then holds them (with --reopen, a connection the server closes is opened
again, so N stay attempted) until its stdin closes, and prints a last JSON line with the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from dataclasses import asdict, dataclass, field

PARTIAL = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@dataclass
class Tally:
    """What the slow client saw."""

    attempted: int = 0
    open: int = 0
    failed: int = 0
    closed_by_server: int = 0
    errors: dict[str, int] = field(default_factory=dict)


async def _hold(
    port: int, reopen: bool, tally: Tally, first: asyncio.Event, counter: list[int], total: int, gate: asyncio.Semaphore
) -> None:
    first_attempt = True
    while True:
        tally.attempted += 1
        try:
            # A few hundred connects in flight at a time: thousands at once time out in the client's own loop.
            async with gate:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=5)
            writer.write(PARTIAL)
            tally.open += 1
        except (OSError, TimeoutError) as exc:
            tally.failed += 1
            kind = type(exc).__name__ + (f" {exc.errno}" if isinstance(exc, OSError) and exc.errno else "")
            tally.errors[kind] = tally.errors.get(kind, 0) + 1
            reader = None
        if first_attempt:
            first_attempt = False
            counter[0] += 1
            if counter[0] == total:
                first.set()
        if reader is None:
            if not reopen:
                return
            await asyncio.sleep(0.5)
            continue
        with contextlib.suppress(ConnectionError):
            await reader.read()  # returns at end of stream: the server closed the connection
        tally.open -= 1
        tally.closed_by_server += 1
        writer.close()
        if not reopen:
            return


async def _main(port: int, connections: int, reopen: bool) -> None:
    tally = Tally()
    first = asyncio.Event()
    counter = [0]
    gate = asyncio.Semaphore(256)
    tasks = [
        asyncio.create_task(_hold(port, reopen, tally, first, counter, connections, gate)) for _ in range(connections)
    ]
    await first.wait()
    print(json.dumps({"ready": True, **asdict(tally)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for task in tasks:
        task.cancel()
    print(json.dumps({"ready": False, **asdict(tally)}), flush=True)


def main() -> None:
    """Hold slow connections to a port until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--reopen", action="store_true", help="open again any connection the server closes")
    args = parser.parse_args()
    asyncio.run(_main(args.port, args.connections, args.reopen))


if __name__ == "__main__":
    main()
