"""Backpressure for response bodies under Daphne.

Daphne hands every ``http.response.body`` to Twisted's transport at once and returns, so a
streaming response runs ahead of a slow client and its bytes pile up in the write buffer
without limit. Here ``send`` waits, after each body chunk, until that buffer has drained
below ``HIGH_WATER``: the response's iterator is not asked for its next chunk before then.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

HIGH_WATER = 1024 * 1024
POLL_SECONDS = 0.01

Scope = dict[str, Any]


def _buffered(send: Any) -> Any:
    """A callable giving the bytes waiting in the connection's write buffer, or None off Daphne."""
    if not isinstance(send, partial) or not send.args:
        return None
    protocol = send.args[0]
    channel = getattr(protocol, "channel", None)
    transport = getattr(channel, "transport", None)
    if transport is None or not hasattr(transport, "dataBuffer"):
        return None

    def size() -> int:
        # Twisted's FileDescriptor: the buffer being written, from ``offset``, plus writes not yet joined to it.
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    return size


class Backpressure:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        size = _buffered(send) if scope.get("type") == "http" else None
        if size is None:
            await self.app(scope, receive, send)
            return
        protocol = send.args[0]

        async def paced(message: dict[str, Any]) -> None:
            await send(message)
            if message.get("type") == "http.response.body" and message.get("more_body"):
                while size() > HIGH_WATER and not getattr(protocol, "finished", False) and protocol.channel:  # noqa: ASYNC110 - Twisted tells asyncio of no drain
                    await asyncio.sleep(POLL_SECONDS)

        await self.app(scope, receive, paced)
