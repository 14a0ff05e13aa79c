"""A private event loop on a daemon thread, for clients bound to one loop (nats-py).

Django runs each async request on whichever loop the server (or the test client)
provides; a long-lived nats-py connection must stay on the loop that created it.
Callers on any loop submit coroutines here and await the result with a deadline.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def run(self, factory: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run ``factory()`` on the private loop; cancel it there if the deadline passes."""
        future = asyncio.run_coroutine_threadsafe(_as_coro(factory), self._loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except (TimeoutError, asyncio.CancelledError):
            future.cancel()
            raise

    def call(self, factory: Callable[[], Awaitable[T]], timeout: float) -> T:
        """The blocking form, for sync callers (Celery tasks, management commands)."""
        future = asyncio.run_coroutine_threadsafe(_as_coro(factory), self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2)


async def _as_coro(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()
