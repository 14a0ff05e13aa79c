"""Backpressure for response bodies under Daphne.

Daphne hands every ``http.response.body`` to Twisted's transport at once and returns, so a
streaming response runs ahead of a slow client and its bytes pile up in the write buffer
without limit. Here the response registers a push producer on its request, Twisted's own flow
control: the transport pauses it once more than its ``bufferSize`` (64 KiB) waits to be written and
resumes it once all of it has gone to the socket. After each body chunk that paused it, ``send``
waits for the resume: the response's iterator is not asked for its next chunk before then. The
kernel's socket buffer keeps the client reading while the next chunk is made, and nothing else
runs in the process while the chunk is handed over (no thread of the response holds the GIL
against the loop writing it).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

# Only a safety net: the wait re-checks the connection this often should no resume come.
CHECK_SECONDS = 1.0

Scope = dict[str, Any]


def _buffered(send: Any) -> Any:
    """A callable giving the bytes waiting in the connection's write buffer, or None off Daphne."""
    if not isinstance(send, partial) or not send.args:
        return None
    protocol = send.args[0]
    channel = getattr(protocol, "channel", None)
    transport = getattr(channel, "transport", None)
    if transport is None or not hasattr(transport, "dataBuffer") or not hasattr(protocol, "registerProducer"):
        return None

    def size() -> int:
        # Twisted's FileDescriptor: the buffer being written, from ``offset``, plus writes not yet joined to it.
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    return size


class _Drain:
    """A push producer (``twisted.internet.interfaces.IPushProducer``) that only records whether the
    transport wants it to wait."""

    def __init__(self, paused: bool) -> None:
        self.writable = asyncio.Event()
        if not paused:
            self.writable.set()

    def pauseProducing(self) -> None:
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        # The connection is gone: nothing is waited for any more.
        self.writable.set()


class Backpressure:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        size = _buffered(send) if scope.get("type") == "http" else None
        if size is None:
            await self.app(scope, receive, send)
            return
        protocol = send.args[0]
        drain: _Drain | None = None

        def gone() -> bool:
            return bool(getattr(protocol, "finished", False)) or getattr(protocol, "channel", None) is None

        def release() -> None:
            # Before the last body: Twisted's request complains of a producer still registered when it finishes.
            nonlocal drain
            if drain is not None and getattr(protocol, "producer", None) is drain:
                if gone():
                    protocol.producer = None
                else:
                    protocol.unregisterProducer()
            drain = None

        async def paced(message: dict[str, Any]) -> None:
            nonlocal drain
            if message.get("type") != "http.response.body":
                await send(message)
                return
            if not message.get("more_body"):
                release()
                await send(message)
                return
            if drain is None and not gone() and getattr(protocol, "producer", None) is None:
                drain = _Drain(paused=bool(getattr(protocol.channel, "_waitingForTransport", False)))
                protocol.registerProducer(drain, True)
            await send(message)
            while drain is not None and not drain.writable.is_set() and size() > 0 and not gone():
                try:
                    await asyncio.wait_for(drain.writable.wait(), CHECK_SECONDS)
                except TimeoutError:
                    continue

        try:
            await self.app(scope, receive, paced)
        finally:
            release()
