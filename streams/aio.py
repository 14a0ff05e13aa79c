"""Small asyncio helpers shared by the domain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def gather_strict(*calls: Awaitable[Any]) -> list[Any]:
    """Await independent calls together; a failure raises the first in argument order.

    All of them are awaited to the end, so an early 404 (unknown group) wins over a
    later one (unknown topic) and no failure is left unretrieved.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
