"""Ledgers keep one budget per key: exact windows, trips, tokens and the refresh lock, across tasks and processes."""

from __future__ import annotations

import logging
import os
import pwd
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from server.ledger import (
    FallbackLedger,
    FileLedger,
    Ledger,
    MemoryLedger,
    RedisLedger,
    TokenRecord,
    default_ledger_path,
)
from server.quota import QuotaExceeded, QuotaGuard
from server.settings import ConfigError, load_settings

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "file", "fallback", pytest.param("redis", marks=pytest.mark.redis)])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    made: Ledger
    if request.param == "memory":
        made = MemoryLedger()
    elif request.param == "file":
        made = FileLedger(tmp_path / "ledger.sqlite3")
    elif request.param == "fallback":
        # What the server runs: the file ledger behind the fallback, which must not change a single answer.
        made = FallbackLedger(FileLedger(tmp_path / "ledger.sqlite3"))
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


async def test_a_hit_in_flight_counts_in_the_second_until_its_answer_comes_back(ledger: Ledger) -> None:
    for i in range(10):
        assert await ledger.reserve("k", T0 + i / 100, 10, 1000, 1000, hold=30) == 0.0
    # Long after they were reserved, unanswered calls may still be reaching Sprinklr: the second stays full, and
    # frees no earlier than a full window after the answers come back.
    assert await ledger.reserve("k", T0 + 2, 10, 1000, 1000, hold=30) == pytest.approx(1.0)
    for i in range(5):
        await ledger.settle("k", T0 + i / 100, T0 + 2)
    assert await ledger.reserve("k", T0 + 2.5, 10, 1000, 1000, hold=30) == pytest.approx(0.5)
    # The five answered ones have left the window; the five in flight still count.
    for _ in range(5):
        assert await ledger.reserve("k", T0 + 3.01, 10, 1000, 1000) == 0.0
    assert await ledger.reserve("k", T0 + 3.01, 10, 1000, 1000) == pytest.approx(1.0)
    # A hit whose holder never settled it (a process that died) stops counting when its hold ends.
    assert await ledger.reserve("k", T0 + 30.5, 10, 1000, 1000) == 0.0


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


# -- the pause after Developer Over Rate without Retry-After: probes at growing intervals ------------------------------


async def test_a_pause_doubles_after_each_refused_probe_up_to_an_hour(ledger: Ledger) -> None:
    now, lengths = T0, list[float]()
    for _ in range(9):
        until, streak = await ledger.pause("k", now, "Sprinklr answered 'Developer Over Rate'", first=60, longest=3600)
        lengths.append(until - now)
        assert streak == len(lengths)
        # Nothing goes until the pause ends; then one call, the probe, which Sprinklr refuses again.
        assert await ledger.reserve("k", until - 1, 10, 1000, 1000) == pytest.approx(1.0)
        now = until
        assert await ledger.reserve("k", now, 10, 1000, 1000) == 0.0
        await ledger.settle("k", now, now + 0.2, answered=None)
        now += 0.2
    assert lengths == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


async def test_only_one_probe_goes_after_a_pause_and_its_answer_lets_everyone_through(ledger: Ledger) -> None:
    until, _ = await ledger.pause("k", T0, "Sprinklr answered 'Developer Over Rate'", first=60, longest=3600)
    assert await ledger.reserve("k", until, 10, 1000, 1000, probe_lease=20) == 0.0
    # The others wait for the probe's answer (at most its lease), whoever they are.
    assert await ledger.reserve("k", until + 1, 10, 1000, 1000, probe_lease=20) == pytest.approx(19.0)
    usage = await ledger.usage("k", until + 1)
    assert (usage.streak, usage.probe_until) == (1, until + 20)
    await ledger.settle("k", until, until + 2, answered=True)
    assert await ledger.reserve("k", until + 2, 10, 1000, 1000) == 0.0
    assert await ledger.reserve("k", until + 2, 10, 1000, 1000) == 0.0
    assert (await ledger.usage("k", until + 2)).streak == 0
    # A success ended the streak: the next refusal starts again at a minute.
    again, streak = await ledger.pause(
        "k", until + 3, "Sprinklr answered 'Developer Over Rate'", first=60, longest=3600
    )
    assert (again - (until + 3), streak) == (60, 1)


async def test_a_probe_that_got_no_answer_lets_another_call_probe(ledger: Ledger) -> None:
    until, _ = await ledger.pause("k", T0, "Sprinklr answered 'Developer Over Rate'", first=60, longest=3600)
    assert await ledger.reserve("k", until, 10, 1000, 1000) == 0.0
    assert await ledger.reserve("k", until + 0.1, 10, 1000, 1000) > 0
    await ledger.settle("k", until, until + 5, answered=False)
    assert await ledger.reserve("k", until + 5, 10, 1000, 1000) == 0.0
    assert await ledger.reserve("k", until + 5.1, 10, 1000, 1000) > 0
    # A probe whose holder died is taken over when its lease ends.
    assert await ledger.reserve("k", until + 5 + 20, 10, 1000, 1000) == 0.0


async def test_refusals_of_calls_already_in_flight_do_not_lengthen_a_pause(ledger: Ledger) -> None:
    first = await ledger.pause("k", T0, "Sprinklr answered 'Developer Over Rate'", first=60, longest=3600)
    for offset in (0.01, 0.2, 1.5):
        assert await ledger.pause("k", T0 + offset, "again", first=60, longest=3600) == first
    # A call whose answer came back while the pause ran says nothing about the limit: the streak stays.
    await ledger.settle("k", T0 - 1, T0 + 2, answered=True)
    assert (await ledger.usage("k", T0 + 2)).streak == 1
    # But a full hour seen in the ledger makes any pause last until it frees.
    until, streak = await ledger.pause("k", T0 + 3, "full", first=60, longest=3600, at_least=1000)
    assert (until, streak) == (T0 + 1003, 1)


async def test_a_streak_is_forgotten_an_hour_after_its_last_pause(ledger: Ledger) -> None:
    until, _ = await ledger.pause("k", T0, "r", first=60, longest=3600)
    until, _ = await ledger.pause("k", until, "r", first=60, longest=3600)
    assert until == T0 + 180
    later, streak = await ledger.pause("k", until + 3601, "r", first=60, longest=3600)
    assert (later - (until + 3601), streak) == (60, 1)


async def test_restored_hits_count_like_any_other(ledger: Ledger) -> None:
    await ledger.restore("k", [T0 - 4000, T0 - 0.5, T0 - 0.25], T0)
    usage = await ledger.usage("k", T0)
    assert (usage.used_last_second, usage.used_last_hour) == (2, 2)
    assert await ledger.reserve("k", T0, 2, 1000, 1000) == pytest.approx(0.5)


# -- one ledger per user, whatever the environment -------------------------------------------------------------------


def test_the_default_ledger_path_comes_from_the_account_not_from_home_or_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    account_home = pwd.getpwuid(os.getuid()).pw_dir
    expected = Path(account_home, ".cache", "sprinklr-mcp", "ledger.sqlite3")
    assert default_ledger_path() == expected
    monkeypatch.setenv("HOME", str(tmp_path / "host-a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "host-a" / "cache"))
    assert default_ledger_path() == expected
    monkeypatch.delenv("HOME")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_ledger_path() == expected


# -- a deleted, replaced or corrupt ledger file ----------------------------------------------------------------------


async def test_a_ledger_file_deleted_while_in_use_is_reopened_with_this_process_hits(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    one, other = FileLedger(path), FileLedger(path)
    for i in range(10):
        assert await one.reserve("k", T0 + i / 100, 10, 1000, 1000) == 0.0
    await one.put_token("k", TokenRecord(access_token="a1", refresh_token="r1", version=1, saved_at=T0))
    await one.trip("k", T0 + 30, "Sprinklr answered 429")
    path.unlink()  # the database only: its -wal and -shm stay, held open by both ledgers
    # The process that made the hits still counts them, and so does every other once it has looked.
    assert await one.reserve("k", T0 + 0.5, 10, 1000, 1000) == pytest.approx(29.5)
    fresh = FileLedger(path)
    usage = await fresh.usage("k", T0 + 0.5)
    assert (usage.used_last_second, usage.tripped_until) == (10, T0 + 30)
    assert await fresh.get_token("k") == TokenRecord(access_token="a1", refresh_token="r1", version=1, saved_at=T0)
    await other.restore("k", [T0 + 0.6], T0 + 0.6)
    assert (await fresh.usage("k", T0 + 0.6)).used_last_hour == 11
    for ledger in (one, other, fresh):
        await ledger.aclose()


async def test_calls_in_flight_when_the_ledger_is_deleted_stay_counted_in_flight_in_the_new_file(
    tmp_path: Path,
) -> None:
    # A call reserved in the old file and still on its way to Sprinklr may be counted there at any moment: the new
    # file must hold it as in flight, as the old one did, or another process would spend its slot meanwhile.
    path = tmp_path / "ledger.sqlite3"
    busy = FileLedger(path)
    assert await busy.reserve("k", T0, 1, 1000, 1000, hold=30.0) == 0.0  # in flight, unanswered
    assert await busy.reserve("k", T0 + 0.1, 1, 1000, 1000, hold=30.0) > 0.0  # one a second
    path.unlink()
    assert await busy.reserve("other", T0 + 0.2, 1, 1000, 1000) == 0.0  # any transaction: reopened and replayed
    newcomer = FileLedger(path)
    # Seconds later the call is still in flight: the slot is still taken, for the newcomer too.
    assert await newcomer.reserve("k", T0 + 5.0, 1, 1000, 1000) > 0.0
    # Once it is answered it counts from its answer, and the second after that is free again.
    await busy.settle("k", T0, T0 + 5.5)
    assert await newcomer.reserve("k", T0 + 6.0, 1, 1000, 1000) > 0.0
    assert await newcomer.reserve("k", T0 + 6.6, 1, 1000, 1000) == 0.0
    for ledger in (busy, newcomer):
        await ledger.aclose()


async def test_a_new_process_can_use_a_ledger_deleted_under_a_running_one(tmp_path: Path) -> None:
    # Before: the new process took the deleted database's -wal and -shm for its own, and failed with
    # "disk I/O error" for as long as the old one lived.
    path = tmp_path / "ledger.sqlite3"
    running = FileLedger(path)
    assert await running.reserve("k", T0, 10, 1000, 1000) == 0.0
    path.unlink()
    newcomer = spawn(
        """
        import sys, anyio
        from server.ledger import FileLedger

        async def main() -> None:
            ledger = FileLedger(sys.argv[1])
            print(await ledger.reserve("k", float(sys.argv[2]), 10, 1000, 1000), flush=True)
            await ledger.aclose()

        anyio.run(main)
        """,
        str(path),
        repr(T0 + 0.1),
    )
    output, _ = newcomer.communicate(timeout=60)
    assert (newcomer.returncode, output.strip()) == (0, "0.0")
    assert (await running.usage("k", T0 + 0.1)).used_last_hour == 2
    await running.aclose()


@pytest.mark.parametrize("how", ["directory removed", "replaced by another file"])
async def test_a_ledger_whose_file_is_swapped_out_carries_on_in_the_new_one(tmp_path: Path, how: str) -> None:
    path = tmp_path / "cache" / "ledger.sqlite3"
    ledger = FileLedger(path)
    for i in range(3):
        assert await ledger.reserve("k", T0 + i, 10, 1000, 1000) == 0.0
    if how == "directory removed":
        shutil.rmtree(path.parent)
    else:
        other = FileLedger(tmp_path / "other.sqlite3")
        await other.reserve("k", T0 + 3, 10, 1000, 1000)
        await other.aclose()
        os.replace(tmp_path / "other.sqlite3", path)
    assert await ledger.reserve("k", T0 + 4, 10, 1000, 1000) == 0.0
    assert (await ledger.usage("k", T0 + 4)).used_last_hour == (4 if how == "directory removed" else 5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    await ledger.aclose()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
async def test_a_corrupt_ledger_is_set_aside_and_made_anew_with_one_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    if damage == "garbage":
        path.write_bytes(random.Random(1).randbytes(20_000))
    else:
        made = FileLedger(path)
        for i in range(300):
            await made.reserve(f"key-{i % 9}", T0 + i, 10, 1000, 1000)
        await made.aclose()
        os.truncate(path, path.stat().st_size // 3)
    caplog.set_level(logging.WARNING, logger="server.ledger")
    ledgers = [FileLedger(path) for _ in range(3)]
    for ledger in ledgers:
        assert await ledger.reserve("k", T0 + 400, 10, 1000, 1000) == 0.0
    assert (await ledgers[0].usage("k", T0 + 400)).used_last_hour == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "could not be read" in warnings[0]
    assert "moved it to ledger.sqlite3.corrupt" in warnings[0]
    assert (tmp_path / "ledger.sqlite3.corrupt").exists()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    for ledger in ledgers:
        await ledger.aclose()


# -- a failing shared ledger ----------------------------------------------------------------------------------------


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_failing_ledger_falls_back_to_this_process_limits_and_hands_back_what_it_missed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.ledger")
    path = tmp_path / "cache" / "ledger.sqlite3"
    ticks, now = Ticks(), [T0]
    ledger = FallbackLedger(FileLedger(path), retry_every=5, clock=lambda: now[0], monotonic=ticks)
    for i in range(6):
        assert await ledger.reserve("k", T0 + i / 100, 10, 1000, 1000) == 0.0
    # The cache directory becomes a file: nothing can open the ledger any more.
    shutil.rmtree(path.parent)
    path.parent.write_text("not a directory")
    now[0] = T0 + 0.1
    for i in range(4):
        assert await ledger.reserve("k", T0 + 0.1 + i / 100, 10, 1000, 1000) == 0.0
    # The in-process guard knew the six hits made before the fault: the second is full.
    assert await ledger.reserve("k", T0 + 0.2, 10, 1000, 1000) == pytest.approx(0.8)
    reason = ledger.degraded()
    assert reason is not None
    assert str(path) in reason
    assert "NotADirectoryError" in reason or "FileExistsError" in reason
    assert "\n" not in reason
    usage = await ledger.usage("k", T0 + 0.2)
    assert usage.used_last_second == 10
    await ledger.put_token("k", TokenRecord(access_token="a2", refresh_token="r2", version=2, saved_at=T0))
    # Not retried before retry_every has passed, however many calls come.
    path.parent.unlink()
    now[0] = T0 + 2
    assert await ledger.reserve("k", T0 + 2, 10, 1000, 1000) == 0.0
    assert not path.exists()
    ticks.now = 5
    now[0] = T0 + 2.5
    assert await ledger.reserve("k", T0 + 2.5, 10, 1000, 1000) == 0.0
    assert ledger.degraded() is None
    # The shared ledger got the hits, and the token, made while it was away (the file, made anew, also got the six
    # hits from before, which its own ledger remembered).
    shared = FileLedger(path)
    assert (await shared.usage("k", T0 + 2.5)).used_last_hour == 6 + 5 + 1
    assert (await shared.get_token("k")) == TokenRecord(access_token="a2", refresh_token="r2", version=2, saved_at=T0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("quota degraded: the shared quota ledger")
    assert warnings[1].startswith("quota recovered")
    await shared.aclose()
    await ledger.aclose()


async def test_a_guard_on_a_failing_ledger_still_refuses_over_the_limit_and_says_it_is_degraded(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the ledger's directory should be")
    quota = QuotaGuard(FallbackLedger(FileLedger(blocked / "ledger.sqlite3")), "k", per_second=3, max_wait=0)
    for _ in range(3):
        await quota.acquire()
    with pytest.raises(QuotaExceeded):
        await quota.acquire()
    status = await quota.status()
    assert status.used_last_second == 3
    assert status.ledger_location == str(blocked / "ledger.sqlite3")
    assert status.degraded_reason is not None
    assert "FileExistsError" in status.degraded_reason


async def test_the_refresh_lock_still_excludes_this_process_tasks_while_the_ledger_fails(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the ledger's directory should be")
    ledger = FallbackLedger(FileLedger(blocked / "ledger.sqlite3"))
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
    assert ledger.degraded() is not None
    await ledger.aclose()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("localhost:6379", "it must start with redis://, rediss:// or unix://"),
        ("redis://:hunter2@cache.internal:63x9/0", "its port must be a number from 1 to 65535"),
        ("redis://:hunter2@cache.internal:6379/zero", "the database after the host must be a number"),
        ("redis://", "it names no host"),
        ("unix://", "unix:// needs the socket's path"),
    ],
)
def test_a_malformed_redis_url_is_refused_in_one_line_that_never_repeats_it(
    monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    monkeypatch.setenv("SPRINKLR_MCP_REDIS_URL", url)
    with pytest.raises(ConfigError) as refused:
        load_settings(env="prod2", api_key="a-key", access_token="a-token")
    message = str(refused.value)
    assert problem in message
    assert "REDIS_URL" in message
    assert "redis://[:password@]host:6379/0" in message  # what to write instead
    assert "hunter2" not in message
    assert "\n" not in message


def test_a_usable_redis_url_is_kept_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("redis://localhost/0", "rediss://user:pw@cache.internal:6380/2", "unix:///run/redis.sock"):
        monkeypatch.setenv("SPRINKLR_MCP_REDIS_URL", url)
        assert load_settings(env="prod2", api_key="a-key", access_token="a-token").redis_url == url


# -- Redis on its own clock ------------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize("skew", [3600.0, -3600.0])
async def test_replicas_with_a_skewed_clock_share_one_second_and_one_hour_on_redis(redis_url: str, skew: float) -> None:
    prefix = f"sprinklr-mcp-test:{uuid.uuid4().hex}:"
    ledgers = [RedisLedger(redis_url, prefix=prefix), RedisLedger(redis_url, prefix=prefix)]
    clocks = [time.time, lambda: time.time() + skew]
    guards = [
        QuotaGuard(ledger, "k", per_second=5, per_hour=12, bulk_reserve=0, max_wait=0, clock=clock)
        for ledger, clock in zip(ledgers, clocks, strict=True)
    ]
    granted = [0, 0]
    for n in range(40):
        try:
            await guards[n % 2].acquire()
            granted[n % 2] += 1
        except QuotaExceeded:
            pass
    # One second's worth, shared: the skewed replica neither ignores nor erases the other's hits.
    assert sum(granted) == 5
    assert min(granted) >= 2
    for guard in guards:
        status = await guard.status()
        assert (status.used_last_second, status.used_last_hour) == (5, 5)
        assert status.frees_at is not None
        # Times come back on each replica's own clock.
        assert abs(status.frees_at.timestamp() - (time.time() + (skew if guard is guards[1] else 0) + 3600)) < 5
    # A pause set by the skewed replica lasts as long for everyone: a minute, not an hour more or less.
    await guards[1].trip(None, "Sprinklr answered 'Developer Over Rate'")
    for guard in guards:
        status = await guard.status()
        assert status.tripped_until is not None
        remaining = status.tripped_until.timestamp() - (time.time() + (skew if guard is guards[1] else 0))
        assert 55 < remaining <= 60
    for ledger in ledgers:
        await ledger.aclose()


@pytest.mark.redis
async def test_hits_restored_into_redis_are_placed_on_its_clock(redis_url: str) -> None:
    ledger = RedisLedger(redis_url, prefix=f"sprinklr-mcp-test:{uuid.uuid4().hex}:")
    skewed_now = time.time() - 7200  # a replica two hours behind restores hits it made a moment ago
    await ledger.restore("k", [skewed_now - 0.3, skewed_now - 0.2, skewed_now - 5000], skewed_now)
    usage = await ledger.usage("k", time.time())
    assert (usage.used_last_second, usage.used_last_hour) == (2, 2)
    await ledger.aclose()
