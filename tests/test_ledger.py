"""Ledgers keep one budget per key: exact windows, trips, tokens and the refresh lock, across tasks and processes."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from server.ledger import FileLedger, Ledger, MemoryLedger, RedisLedger, TokenRecord

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "file", pytest.param("redis", marks=pytest.mark.redis)])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    made: Ledger
    if request.param == "memory":
        made = MemoryLedger()
    elif request.param == "file":
        made = FileLedger(tmp_path / "ledger.sqlite3")
    else:
        # A fresh prefix per test keeps tests apart on a shared server. These tests drive time themselves, so the
        # windows count on the times they pass (the Redis clock has tests of its own below).
        made = RedisLedger(
            request.getfixturevalue("redis_url"), prefix=f"sprinklr-mcp-test:{uuid.uuid4().hex}:", server_clock=False
        )
    yield made
    await made.aclose()


def most_in_any_window(times: list[float], length: float) -> int:
    """The most hits in any closed window [t, t + length] (the max is reached at a window starting on a hit)."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(ordered):
        j = max(j, i)
        while j < len(ordered) and ordered[j] <= start + length:
            j += 1
        best = max(best, j - i)
    return best


async def test_the_second_window_grants_exactly_per_second_hits_and_says_when_the_oldest_leaves(ledger: Ledger) -> None:
    for i in range(10):
        assert await ledger.reserve("k", T0 + i * 0.05, 10, 1000, 1000) == 0.0
    wait = await ledger.reserve("k", T0 + 0.5, 10, 1000, 1000)
    assert wait == pytest.approx(0.5)
    # The window is (now - 1, now]: the hit at T0 has left exactly one second later.
    assert await ledger.reserve("k", T0 + 1.0, 10, 1000, 1000) == 0.0
    assert await ledger.reserve("k", T0 + 1.0, 10, 1000, 1000) == pytest.approx(0.05)


async def test_a_settled_hit_counts_from_when_its_answer_came_back(ledger: Ledger) -> None:
    for i in range(10):
        assert await ledger.reserve("k", T0 + i / 100, 10, 1000, 1000) == 0.0
    # A burst that left late: answered 0.5 s after it was reserved, it now occupies the window until T0 + 1.5.
    for i in range(10):
        await ledger.settle("k", T0 + i / 100, T0 + 0.5)
    assert await ledger.reserve("k", T0 + 1.2, 10, 1000, 1000) == pytest.approx(0.3)
    assert await ledger.reserve("k", T0 + 1.5, 10, 1000, 1000) == 0.0
    # Settling a stamp that is not there changes nothing.
    await ledger.settle("k", T0 + 99, T0 + 100)
    assert (await ledger.usage("k", T0 + 1.5)).used_last_hour == 11


async def test_a_wider_window_keeps_hits_out_longer(ledger: Ledger) -> None:
    for _ in range(10):
        assert await ledger.reserve("k", T0, 10, 1000, 1000, window=1.05) == 0.0
    assert await ledger.reserve("k", T0 + 1.0, 10, 1000, 1000, window=1.05) == pytest.approx(0.05)
    assert await ledger.reserve("k", T0 + 1.05, 10, 1000, 1000, window=1.05) == 0.0


async def test_the_hour_ceiling_refuses_until_the_oldest_hit_is_an_hour_old(ledger: Ledger) -> None:
    for i in range(5):
        assert await ledger.reserve("k", T0 + i, 100, 10, 5) == 0.0
    assert await ledger.reserve("k", T0 + 10, 100, 10, 5) == pytest.approx(3590.0)
    # A caller with the full per_hour still has room above a lower ceiling.
    assert await ledger.reserve("k", T0 + 10, 100, 10, 10) == 0.0
    usage = await ledger.usage("k", T0 + 10)
    assert (usage.used_last_hour, usage.oldest_in_hour) == (6, T0)
    # An hour on, the hit at T0 has left but five remain; the next to leave is the one at T0 + 1.
    assert await ledger.reserve("k", T0 + 3600, 100, 10, 5) == pytest.approx(1.0)
    assert await ledger.reserve("k", T0 + 3601, 100, 10, 5) == 0.0
    assert (await ledger.usage("k", T0 + 3601)).used_last_hour == 5


async def test_keys_have_separate_budgets(ledger: Ledger) -> None:
    assert await ledger.reserve("a", T0, 1, 1, 1) == 0.0
    assert await ledger.reserve("b", T0, 1, 1, 1) == 0.0
    assert await ledger.reserve("a", T0, 1, 1, 1) > 0


async def test_a_trip_refuses_everything_until_it_ends_and_the_later_trip_wins(ledger: Ledger) -> None:
    await ledger.trip("k", T0 + 30, "first")
    await ledger.trip("k", T0 + 10, "shorter, ignored")
    assert await ledger.reserve("k", T0, 10, 1000, 1000) == pytest.approx(30.0)
    usage = await ledger.usage("k", T0)
    assert (usage.tripped_until, usage.trip_reason, usage.used_last_hour) == (T0 + 30, "first", 0)
    await ledger.trip("k", T0 + 57, "Sprinklr answered 'Developer Over Rate'")
    assert await ledger.reserve("k", T0 + 30, 10, 1000, 1000) == pytest.approx(27.0)
    assert await ledger.reserve("k", T0 + 57, 10, 1000, 1000) == 0.0


async def test_usage_counts_the_last_second_and_hour(ledger: Ledger) -> None:
    empty = await ledger.usage("k", T0)
    assert (empty.used_last_second, empty.used_last_hour, empty.oldest_in_hour, empty.tripped_until) == (0, 0, None, 0)
    for at in (T0 - 4000, T0 - 100, T0 - 0.5, T0):
        await ledger.reserve("k", at, 10, 1000, 1000)
    usage = await ledger.usage("k", T0)
    assert (usage.used_last_second, usage.used_last_hour, usage.oldest_in_hour) == (2, 3, T0 - 100)


async def test_tokens_round_trip_and_their_repr_hides_them(ledger: Ledger) -> None:
    assert await ledger.get_token("k") is None
    record = TokenRecord(access_token="access-secret", refresh_token=None, version=3, saved_at=T0 + 0.25)
    await ledger.put_token("k", record)
    assert await ledger.get_token("k") == record
    newer = TokenRecord(access_token="a2", refresh_token="r2", version=4, saved_at=T0 + 1)
    await ledger.put_token("k", newer)
    assert await ledger.get_token("k") == newer
    assert "secret" not in repr(record)
    assert "r2" not in repr(newer)


async def test_the_refresh_lock_admits_one_task_at_a_time(ledger: Ledger) -> None:
    inside: list[int] = []
    most = 0

    async def refresh(n: int) -> None:
        nonlocal most
        async with ledger.refresh_lock("k"):
            inside.append(n)
            most = max(most, len(inside))
            await anyio.sleep(0.005)
            inside.remove(n)

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(refresh, n)
    assert most == 1


async def test_the_refresh_lock_can_be_left_from_another_task(ledger: Ledger) -> None:
    # The auth flow enters and leaves the lease by hand, around a request it yields to httpx.
    lease = ledger.refresh_lock("k")
    await lease.__aenter__()

    async def leave() -> None:
        await lease.__aexit__(None, None, None)

    async with anyio.create_task_group() as tg:
        tg.start_soon(leave)
    async with ledger.refresh_lock("k"):
        pass


async def test_granted_hits_never_exceed_the_window_and_refusals_are_only_when_it_is_full() -> None:
    ledger = MemoryLedger()
    rng = random.Random(7)
    now, granted = T0, list[float]()
    for _ in range(2000):
        now += rng.expovariate(40.0)
        wait = await ledger.reserve("k", now, 10, 100_000, 100_000)
        recent = sum(1 for t in granted if t > now - 1.0)
        if wait == 0.0:
            granted.append(now)
        else:
            # Not a token bucket: refused only when ten hits really are in the last second, and the wait is exact.
            assert recent == 10
            oldest_in_window = min(t for t in granted if t > now - 1.0)
            assert wait == pytest.approx(oldest_in_window + 1.0 - now, abs=1e-6)
    assert most_in_any_window(granted, 0.999999) <= 10
    assert len(granted) > 450  # about 50 s of attempts at 10 a second


async def test_the_file_ledger_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "ledger.sqlite3"
    ledger = FileLedger(path)
    await ledger.put_token("k", TokenRecord(access_token="a", refresh_token="r", version=1, saved_at=T0))
    for file in path.parent.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    await ledger.aclose()


async def test_a_file_lease_left_by_a_dead_holder_expires(tmp_path: Path) -> None:
    now = [T0]
    ledger = FileLedger(tmp_path / "ledger.sqlite3", lease_seconds=30, clock=lambda: now[0])
    abandoned = ledger.refresh_lock("k")
    await abandoned.__aenter__()  # never left, as if its process had died
    with anyio.move_on_after(0.1) as scope:
        async with ledger.refresh_lock("k"):
            pass
    assert scope.cancelled_caught
    now[0] += 31
    with anyio.fail_after(2):
        async with ledger.refresh_lock("k"):
            pass
    await ledger.aclose()


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def start_together(processes: list[subprocess.Popen[str]]) -> list[str]:
    """Wait until every process has opened its ledger, release them at once, and return their outputs."""
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * len(processes)
    return outputs


RESERVER = """
    import sys, time, anyio
    from server.ledger import FileLedger

    async def main() -> None:
        ledger = FileLedger(sys.argv[1])
        await ledger.usage("k", time.time())
        print("ready", flush=True)
        sys.stdin.readline()
        granted = 0
        for _ in range(int(sys.argv[2])):
            granted += await ledger.reserve("k", time.time(), 1000, 1000, 1000) == 0.0
        print(granted, flush=True)
        await ledger.aclose()

    anyio.run(main)
"""


@pytest.mark.slow
def test_processes_sharing_a_ledger_file_are_granted_exactly_the_hourly_budget(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    outputs = start_together([spawn(RESERVER, path, "400") for _ in range(4)])
    granted = [int(output.split()[-1]) for output in outputs]
    assert sum(granted) == 1000
    assert sum(1 for count in granted if count > 0) >= 2, granted  # they really did run side by side


LOCKER = """
    import sys, anyio
    from server.ledger import FileLedger

    async def main() -> None:
        ledger = FileLedger(sys.argv[1], poll_interval=0.002)
        await ledger.get_token("k")
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(5):
            async with ledger.refresh_lock("k"):
                with open(sys.argv[2], "a") as log:
                    log.write(sys.argv[3] + " enter\\n")
                await anyio.sleep(0.01)
                with open(sys.argv[2], "a") as log:
                    log.write(sys.argv[3] + " exit\\n")
        await ledger.aclose()

    anyio.run(main)
"""


@pytest.mark.slow
def test_the_refresh_lock_excludes_other_processes(tmp_path: Path) -> None:
    path, log = str(tmp_path / "ledger.sqlite3"), tmp_path / "log.txt"
    start_together([spawn(LOCKER, path, str(log), tag) for tag in ("A", "B")])
    lines = log.read_text().splitlines()
    assert len(lines) == 20
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        tag = enter.split()[0]
        assert (enter, leave) == (f"{tag} enter", f"{tag} exit")


@pytest.mark.redis
async def test_two_redis_replicas_sharing_a_key_stay_within_the_hourly_budget(redis_url: str) -> None:
    prefix = f"sprinklr-mcp-test:{uuid.uuid4().hex}:"
    replicas = [RedisLedger(redis_url, prefix=prefix, server_clock=False) for _ in range(2)]
    granted = [0, 0]

    async def hammer(index: int) -> None:
        for n in range(80):
            if await replicas[index].reserve("k", T0 + n * 0.01, 1000, 100, 100) == 0.0:
                granted[index] += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(hammer, 0)
        tg.start_soon(hammer, 1)
    assert sum(granted) == 100
    assert (await replicas[0].usage("k", T0 + 1)).used_last_hour == 100
    for replica in replicas:
        await replica.aclose()


@pytest.mark.redis
async def test_a_trip_and_a_token_written_by_one_redis_replica_are_seen_by_another(redis_url: str) -> None:
    prefix = f"sprinklr-mcp-test:{uuid.uuid4().hex}:"
    one, other = (RedisLedger(redis_url, prefix=prefix, server_clock=False) for _ in range(2))
    await one.trip("k", T0 + 57, "Sprinklr answered 'Developer Over Rate'")
    assert await other.reserve("k", T0, 10, 1000, 1000) == pytest.approx(57.0)
    assert (await other.usage("k", T0)).trip_reason == "Sprinklr answered 'Developer Over Rate'"
    record = TokenRecord(access_token="a", refresh_token="r", version=2, saved_at=T0)
    await one.put_token("k", record)
    assert await other.get_token("k") == record
    lease = one.refresh_lock("k")
    await lease.__aenter__()
    with anyio.move_on_after(0.1) as scope:
        async with other.refresh_lock("k"):
            pass
    assert scope.cancelled_caught
    await lease.__aexit__(None, None, None)
    with anyio.fail_after(2):
        async with other.refresh_lock("k"):
            pass
    await one.aclose()
    await other.aclose()
