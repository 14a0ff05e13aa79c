"""A small in-process cache with single-flight loading.

Pages refresh often and several tabs ask for the same thing; within ``ttl``
seconds they share one broker round trip, and concurrent misses wait for the
one load already under way instead of starting their own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class TTLCache:
    def __init__(self, max_entries: int = 2048) -> None:
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._inflight: dict[Hashable, asyncio.Task[Any]] = {}
        self._lock = threading.Lock()
        # Bumped by every invalidation: a load that began before it may hold the
        # state from before a write, so its answer is returned but not kept.
        self._generation = 0
        self.max_entries = max_entries

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: Hashable, value: Any, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._data.pop(key, None)
            while len(self._data) >= self.max_entries:
                # Insertion order is age order: drop the oldest entry.
                del self._data[next(iter(self._data))]
            self._data[key] = (time.monotonic() + ttl, value)

    def invalidate(self, prefix: tuple[Any, ...] | None = None) -> None:
        """Drop everything, or every tuple key that starts with ``prefix`` (after a write)."""
        with self._lock:
            self._generation += 1
            if prefix is None:
                self._data.clear()
                self._inflight.clear()
                return
            n = len(prefix)
            for store in (self._data, self._inflight):
                for key in [k for k in store if isinstance(k, tuple) and k[:n] == prefix]:
                    del store[key]

    async def get_or_load(self, key: Hashable, ttl: float, load: Callable[[], Awaitable[T]]) -> T:
        hit = self.get(key)
        if hit is not None:
            return hit
        loop = asyncio.get_running_loop()
        with self._lock:
            task = self._inflight.get(key)
            if task is None or task.get_loop() is not loop:
                task = loop.create_task(_run(load))
                self._inflight[key] = task
                task.add_done_callback(self._finisher(key, ttl, self._generation))
        # The load is shared: one caller giving up (a closed browser tab) must not
        # cancel it for the others.
        return await asyncio.shield(task)

    def _finisher(self, key: Hashable, ttl: float, generation: int) -> Callable[[asyncio.Task[Any]], None]:
        def finish(task: asyncio.Task[Any]) -> None:
            with self._lock:
                if self._inflight.get(key) is task:
                    del self._inflight[key]
                current = self._generation == generation
            if task.cancelled() or task.exception() is not None or not current:
                return
            self.put(key, task.result(), ttl)

        return finish


async def _run(load: Callable[[], Awaitable[T]]) -> T:
    return await load()
