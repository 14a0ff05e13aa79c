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
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}
        self._lock = threading.Lock()
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
            if len(self._data) >= self.max_entries:
                now = time.monotonic()
                for stale in [k for k, (exp, _) in self._data.items() if exp < now] or list(self._data)[:1]:
                    self._data.pop(stale, None)
            self._data[key] = (time.monotonic() + ttl, value)

    def invalidate(self, prefix: tuple[Any, ...] | None = None) -> None:
        """Drop everything, or every tuple key that starts with ``prefix`` (after a write)."""
        with self._lock:
            if prefix is None:
                self._data.clear()
                return
            n = len(prefix)
            for key in [k for k in self._data if isinstance(k, tuple) and k[:n] == prefix]:
                del self._data[key]

    async def get_or_load(self, key: Hashable, ttl: float, load: Callable[[], Awaitable[T]]) -> T:
        hit = self.get(key)
        if hit is not None:
            return hit
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(key)
        if pending is not None and pending.get_loop() is loop:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = loop.create_future()
        self._inflight[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        future.set_result(value)
        self.put(key, value, ttl)
        return value
