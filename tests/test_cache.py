"""The cache serves repeats without upstream calls, shares one fetch among concurrent callers, and stays bounded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from server.cache import MISSING, TTL, BackendStats, Cache, CacheBackend, MemoryBackend, RedisBackend
from server.tenant import Tenant

# Every key is made by a tenant; these unit tests use one.
K = Tenant.of("prod2", "https://api3.sprinklr.com/prod2", "test-key").key

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstream:
    """A fetch that counts its calls and, when gated, waits until the test opens the gate."""

    def __init__(self, value: Any = None, *, gated: bool = False, error: Exception | None = None) -> None:
        self.calls = 0
        self.value = value
        self.error = error
        self.gate = anyio.Event()
        if not gated:
            self.gate.set()

    async def __call__(self) -> tuple[Any, int]:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.value if self.value is not None else {"call": self.calls}, 100


async def test_twenty_concurrent_callers_share_one_fetch() -> None:
    cache, upstream = Cache(MemoryBackend()), Upstream({"id": 7}, gated=True)
    results: list[Any] = []

    async def read() -> None:
        results.append(await cache.get_or_fetch(K("case", 7), upstream, ttl=60))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        upstream.gate.set()
    assert upstream.calls == 1
    assert results == [{"id": 7}] * 20
    stats = cache.stats()
    assert (stats.misses, stats.coalesced, stats.hits) == (1, 19, 0)
    assert await cache.get_or_fetch(K("case", 7), upstream, ttl=60) == {"id": 7}
    assert cache.stats().hits == 1
    assert cache.stats().hit_ratio == pytest.approx(20 / 21)


async def test_a_value_expires_after_its_ttl() -> None:
    clock, upstream = FakeClock(), Upstream()
    cache = Cache(MemoryBackend(clock=clock))
    assert await cache.get_or_fetch(K("case", 1), upstream, ttl=60) == {"call": 1}
    clock.now += 59.9
    assert await cache.get_or_fetch(K("case", 1), upstream, ttl=60) == {"call": 1}
    clock.now += 0.1
    assert await cache.get_or_fetch(K("case", 1), upstream, ttl=60) == {"call": 2}
    assert upstream.calls == 2


async def test_fresh_refetches_and_stores_the_new_value() -> None:
    cache, upstream = Cache(MemoryBackend()), Upstream()
    assert await cache.get_or_fetch(K("case", 1), upstream, ttl=60) == {"call": 1}
    assert await cache.get_or_fetch(K("case", 1), upstream, ttl=60, fresh=True) == {"call": 2}
    assert await cache.get_or_fetch(K("case", 1), upstream, ttl=60) == {"call": 2}
    assert upstream.calls == 2


async def test_fresh_callers_join_a_fresh_fetch_but_not_an_older_plain_one() -> None:
    cache, plain, fresh = Cache(MemoryBackend()), Upstream("plain", gated=True), Upstream("fresh", gated=True)
    results: dict[str, Any] = {}

    async def read(name: str, fetch: Upstream, is_fresh: bool) -> None:
        results[name] = await cache.get_or_fetch(K("case", 1), fetch, ttl=60, fresh=is_fresh)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read, "plain", plain, False)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(read, "fresh", fresh, True)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(read, "fresh again", Upstream("unused"), True)
        tg.start_soon(read, "plain again", Upstream("unused"), False)
        await anyio.wait_all_tasks_blocked()
        fresh.gate.set()
        plain.gate.set()
    assert (plain.calls, fresh.calls) == (1, 1)
    assert results == {"plain": "plain", "fresh": "fresh", "fresh again": "fresh", "plain again": "fresh"}


async def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached() -> None:
    cache = Cache(MemoryBackend())
    failing = Upstream(gated=True, error=RuntimeError("Sprinklr is unavailable"))
    errors: list[BaseException] = []

    async def read() -> None:
        try:
            await cache.get_or_fetch(K("case", 1), failing, ttl=60)
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        failing.gate.set()
    assert failing.calls == 1
    assert [str(error) for error in errors] == ["Sprinklr is unavailable"] * 5
    working = Upstream({"id": 1})
    assert await cache.get_or_fetch(K("case", 1), working, ttl=60) == {"id": 1}
    assert working.calls == 1


async def test_waiters_take_over_when_the_fetching_caller_is_cancelled() -> None:
    cache, abandoned, taken_over = Cache(MemoryBackend()), Upstream(gated=True), Upstream("second")
    result: list[Any] = []

    async def wait_for_it() -> None:
        result.append(await cache.get_or_fetch(K("case", 1), taken_over, ttl=60))

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as leader:
            async with anyio.create_task_group() as inner:
                inner.start_soon(cache.get_or_fetch, K("case", 1), abandoned, 60)
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(wait_for_it)  # lines up behind the leader's flight
                await anyio.wait_all_tasks_blocked()
                leader.cancel()
    # The waiter was neither cancelled nor left hanging: it fetched for itself.
    assert result == ["second"]
    assert (abandoned.calls, taken_over.calls) == (1, 1)


async def test_the_byte_bound_evicts_least_recently_used_first() -> None:
    backend = MemoryBackend(max_entries=100, max_bytes=1000)
    cache = Cache(backend)
    for n in range(5):
        await cache.remember(K("m", n), n, size=200, ttl=60)
    assert await backend.get(str(K("m", 0))) == 0  # now the most recently used
    await cache.remember(K("m", 5), 5, size=200, ttl=60)
    assert await backend.get(str(K("m", 1))) is MISSING
    assert set(await cache.get_many([K("m", n) for n in range(6)])) == {K("m", n) for n in (0, 2, 3, 4, 5)}
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.max_bytes) == (5, 1000, 1000)


async def test_memory_levels_off_at_both_bounds() -> None:
    backend = MemoryBackend(max_entries=50, max_bytes=10_000)
    for n in range(5000):
        await backend.set(f"k:{n}", {"n": n}, size=(n % 7) * 100, ttl=600)
        stats = backend.stats()
        assert stats.entries <= 50
        assert stats.bytes <= 10_000


async def test_values_that_cannot_be_stored_are_not_and_leave_no_older_copy() -> None:
    backend = MemoryBackend(max_bytes=1000)
    await backend.set("a", "old", size=10, ttl=60)
    await backend.set("a", "huge", size=5000, ttl=60)
    assert await backend.get("a") is MISSING
    await backend.set("b", "no ttl", size=10, ttl=0)
    assert await backend.get("b") is MISSING


async def test_get_many_returns_hits_only_and_counts_them() -> None:
    cache = Cache(MemoryBackend())
    await cache.remember(K("m", 1), None, size=10, ttl=60)
    await cache.remember(K("m", 2), {"text": "hi"}, size=10, ttl=60)
    assert await cache.get_many([K("m", 1), K("m", 2), K("m", 3)]) == {K("m", 1): None, K("m", 2): {"text": "hi"}}
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (2, 1)


def test_ttl_defaults_suit_each_kind_of_data_and_can_be_changed() -> None:
    ttl = TTL()
    assert (ttl.message, ttl.case, ttl.profile, ttl.search, ttl.associated) == (21_600, 60, 600, 30, 60)
    assert TTL(case=5).case == 5


@pytest.fixture
async def redis_backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    backend = RedisBackend(redis_url, prefix=f"sprinklr-mcp-test:{uuid.uuid4().hex}:cache:")
    yield backend
    await backend.aclose()


@pytest.mark.redis
async def test_the_redis_backend_round_trips_json_and_reads_in_bulk(redis_backend: RedisBackend) -> None:
    payload = {"caseNumber": 48213, "tags": ["vip", "ünïcode"], "closed": False, "owner": None, "score": 0.5}
    await redis_backend.set("case:1", payload, size=100, ttl=60)
    await redis_backend.set("case:2", None, size=4, ttl=60)
    assert await redis_backend.get("case:1") == payload
    assert await redis_backend.get("case:2") is None
    assert await redis_backend.get("case:3") is MISSING
    assert await redis_backend.get_many(["case:1", "case:2", "case:3"]) == {"case:1": payload, "case:2": None}
    assert await redis_backend.get_many([]) == {}
    assert redis_backend.stats() == BackendStats("redis", 0, 0, None, None)


@pytest.mark.redis
async def test_the_redis_backend_sets_the_ttl_in_milliseconds(redis_url: str) -> None:
    prefix = f"sprinklr-mcp-test:{uuid.uuid4().hex}:cache:"
    backend, raw = RedisBackend(redis_url, prefix=prefix), aioredis.Redis.from_url(redis_url)
    await backend.set("search:page", [1, 2], size=10, ttl=30)
    await backend.set("gone", [1], size=10, ttl=0.001)
    assert 29_000 < await raw.pttl(prefix + "search:page") <= 30_000
    with anyio.fail_after(2):
        while await backend.get("gone") is not MISSING:  # noqa: ASYNC110 - Redis expires on its own clock
            await anyio.sleep(0.005)
    await backend.aclose()
    await raw.aclose()


@pytest.mark.redis
async def test_a_cache_over_redis_shares_values_between_replicas(redis_url: str) -> None:
    prefix = f"sprinklr-mcp-test:{uuid.uuid4().hex}:cache:"
    one, other = Cache(RedisBackend(redis_url, prefix=prefix)), Cache(RedisBackend(redis_url, prefix=prefix))
    upstream = Upstream({"id": 1})
    assert await one.get_or_fetch(K("case", 1), upstream, ttl=60) == {"id": 1}
    assert await other.get_or_fetch(K("case", 1), upstream, ttl=60) == {"id": 1}
    assert upstream.calls == 1
    await one.aclose()
    await other.aclose()


async def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    backend: CacheBackend = RedisBackend("redis://127.0.0.1:1/0")
    cache, upstream = Cache(backend), Upstream({"id": 1})
    assert await cache.get_or_fetch(K("case", 1), upstream, ttl=60) == {"id": 1}
    assert await cache.get_many([K("case", 1)]) == {}
    await cache.aclose()
