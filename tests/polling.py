"""Waiting for a condition that nothing signals: poll it until it holds or the time is up.

Where an event can be awaited (a frame, an ack, a message), await it instead of polling.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast, overload

T = TypeVar("T")

Message = str | Callable[[], str]


def _timed_out(message: Message, timeout: float, last: object) -> AssertionError:
    """``message`` may be a function: what it names (a log, say) is only known at the end."""
    said = message() if callable(message) else message
    return AssertionError(f"{said} did not happen within {timeout} s; last value: {last!r}")


def _holds(value: object, until: Callable[[Any], object] | None) -> bool:
    return bool(until(value) if until is not None else value)


def wait_until(
    predicate: Callable[[], T | None],
    *,
    until: Callable[[T], object] | None = None,
    timeout: float = 10.0,
    interval: float = 0.1,
    message: Message = "the condition",
) -> T:
    """The first truthy value of ``predicate()`` (or the first that ``until`` accepts, so that a
    timeout names the whole last answer); an AssertionError naming the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if _holds(value, until):
            return cast(T, value)
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout, value)
        time.sleep(interval)


@overload
async def wait_until_async(
    predicate: Callable[[], Awaitable[T | None]],
    *,
    until: Callable[[T], object] | None = None,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: Message = "the condition",
) -> T: ...


@overload
async def wait_until_async(
    predicate: Callable[[], T | None],
    *,
    until: Callable[[T], object] | None = None,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: Message = "the condition",
) -> T: ...


async def wait_until_async(
    predicate: Callable[[], Any],
    *,
    until: Callable[[Any], object] | None = None,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: Message = "the condition",
) -> Any:
    """``wait_until`` on the event loop; ``predicate`` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        value = await result if inspect.isawaitable(result) else result
        if _holds(value, until):
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(message, timeout, value)
        await asyncio.sleep(interval)
