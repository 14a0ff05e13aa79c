"""Short-lived caching with single-flight loads (pure logic)."""

from __future__ import annotations

import asyncio

import pytest

from streams.ttlcache import TTLCache


async def test_concurrent_misses_share_one_load():
    cache = TTLCache()
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(cache.get_or_load("k", 10, load) for _ in range(5)))
    assert results == [42] * 5 and calls == 1
    assert await cache.get_or_load("k", 10, load) == 42 and calls == 1


async def test_failures_are_not_cached():
    cache = TTLCache()

    async def fail() -> int:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await cache.get_or_load("k", 10, fail)

    async def ok() -> int:
        return 1

    assert await cache.get_or_load("k", 10, ok) == 1


async def test_expiry_and_prefix_invalidation():
    cache = TTLCache()
    cache.put(("kafka", "topics"), 1, ttl=10)
    cache.put(("kafka", "groups"), 2, ttl=10)
    cache.put(("nats", "streams"), 3, ttl=10)
    cache.put("short", 4, ttl=0.01)
    await asyncio.sleep(0.02)
    assert cache.get("short") is None
    cache.invalidate(("kafka",))
    assert cache.get(("kafka", "topics")) is None and cache.get(("nats", "streams")) == 3


def test_bounded_size():
    cache = TTLCache(max_entries=3)
    for i in range(10):
        cache.put(i, i, ttl=10)
    assert sum(cache.get(i) is not None for i in range(10)) <= 3


async def test_one_caller_giving_up_does_not_cancel_the_others():
    cache = TTLCache()
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "answer"

    first = asyncio.ensure_future(cache.get_or_load("k", 10, load))
    second = asyncio.ensure_future(cache.get_or_load("k", 10, load))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == "answer"
    assert first.cancelled()
    assert cache.get("k") == "answer"


async def test_a_load_begun_before_an_invalidation_is_not_kept():
    cache = TTLCache()
    release = asyncio.Event()
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        mine = loads
        await release.wait()
        return mine

    stale = asyncio.ensure_future(cache.get_or_load(("t", "x"), 10, load))
    await asyncio.sleep(0)
    cache.invalidate(("t",))  # a write happened while the load was under way
    fresh = asyncio.ensure_future(cache.get_or_load(("t", "x"), 10, load))
    await asyncio.sleep(0)
    release.set()
    assert await stale == 1 and await fresh == 2  # the later caller did not join the stale load
    assert cache.get(("t", "x")) == 2  # the stale answer was never stored over the fresh one
