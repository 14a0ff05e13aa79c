"""One socket's side of a tail: a bounded queue, exact drop counts, batched frames and an ack window.

The upstream hands every batch to each subscriber at once (``offer``), on the web
loop, and never waits for it. The queue keeps the newest messages: past its bounds
(a number of messages and about a number of bytes) the oldest are dropped and counted
right there. A pump sends them in ``messages`` frames of up to ``frame_bytes`` or
whatever gathered within ``frame_interval``, and only while fewer than ``window``
frames are unacknowledged: the WebSocket server itself would buffer without limit
for a slow client, so the window is the only thing keeping its buffer small.

For every subscriber, at any moment: delivered + total_dropped + buffered = matched.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from streams.tail.filter import matches
from streams.tail.messages import Item

FRAME_BYTES = 64 * 1024


@dataclass(frozen=True)
class Limits:
    buffer_messages: int = 10_000
    buffer_bytes: int = 8 * 1024 * 1024
    window: int = 4
    frame_interval: float = 0.05
    frame_bytes: int = FRAME_BYTES

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            buffer_messages=settings.TAIL_BUFFER_MESSAGES,
            buffer_bytes=settings.TAIL_BUFFER_BYTES,
            window=settings.TAIL_ACK_WINDOW,
            frame_interval=settings.TAIL_FRAME_INTERVAL,
        )


Send = Callable[[str], Awaitable[None]]


class Subscriber:
    def __init__(
        self,
        send: Send,
        *,
        needle: bytes | None = None,
        limits: Limits | None = None,
        on_event: Callable[[Any], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.send = send
        self.needle = needle
        self.limits = limits or Limits.from_settings()
        self.on_event = on_event
        self.clock = clock
        self.buffer: deque[str] = deque()
        self.buffered_bytes = 0
        self.scanned = 0
        self.matched = 0
        self.delivered = 0
        self.total_dropped = 0
        self.unreported_dropped = 0
        self.sent_seq = 0
        self.acked_seq = 0
        self.paused = False
        self.closed = False
        self._unacked_since: deque[float] = deque()
        self._last_frame_at = float("-inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- fed by the upstream, on the web loop -------------------------------------------

    def offer(self, items: Sequence[Item]) -> None:
        if self.closed:
            return
        self.scanned += len(items)
        needle = self.needle
        buffer = self.buffer
        added = 0
        size = 0
        for item in items:
            if needle is None or matches(item.haystack, needle):
                buffer.append(item.json)
                size += len(item.json)
                added += 1
        if not added:
            return
        self.matched += added
        self.buffered_bytes += size
        self._trim()
        self._wake.set()

    def skip(self, count: int) -> None:
        """Messages lost before any filter saw them (the upstream could not keep up): they count
        as scanned, matched and dropped, so the sums stay exact."""
        if self.closed or count <= 0:
            return
        self.scanned += count
        self.matched += count
        self._drop(count)
        self._wake.set()

    def event(self, event: Any) -> None:
        if self.on_event is not None and not self.closed:
            self.on_event(event)

    def _trim(self) -> None:
        limits = self.limits
        buffer = self.buffer
        over = len(buffer) - limits.buffer_messages
        dropped = 0
        while over > 0 or (self.buffered_bytes > limits.buffer_bytes and len(buffer) > 1):
            self.buffered_bytes -= len(buffer.popleft())
            dropped += 1
            over -= 1
        if dropped:
            self._drop(dropped)

    def _drop(self, count: int) -> None:
        self.total_dropped += count
        self.unreported_dropped += count

    # -- flow control -------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self.sent_seq - self.acked_seq

    def ack(self, seq: int) -> None:
        seq = min(seq, self.sent_seq)
        if seq <= self.acked_seq:
            return
        for _ in range(seq - self.acked_seq):
            self._unacked_since.popleft()
        self.acked_seq = seq
        self._wake.set()

    def stalled_for(self) -> float:
        """Seconds the oldest unacknowledged frame has waited for its ack (0 when none waits)."""
        return self.clock() - self._unacked_since[0] if self._unacked_since else 0.0

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._wake.set()

    def _can_send(self) -> bool:
        return (
            not self.closed
            and not self.paused
            and bool(self.buffer or self.unreported_dropped)
            and self.in_flight < self.limits.window
        )

    def take_frame(self) -> str:
        """The next ``messages`` frame: as many queued messages as fit in ``frame_bytes`` (at least one)."""
        parts: list[str] = []
        size = 0
        buffer = self.buffer
        limit = self.limits.frame_bytes
        while buffer and (not parts or size + len(buffer[0]) <= limit):
            text = buffer.popleft()
            parts.append(text)
            size += len(text)
        self.buffered_bytes -= size
        self.delivered += len(parts)
        self.sent_seq += 1
        dropped, self.unreported_dropped = self.unreported_dropped, 0
        now = self.clock()
        self._unacked_since.append(now)
        self._last_frame_at = now
        return (
            f'{{"type":"messages","seq":{self.sent_seq},"items":[{",".join(parts)}],'
            f'"dropped":{dropped},"total_dropped":{self.total_dropped}}}'
        )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump())
            self._wake.set()

    async def _pump(self) -> None:
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            while self._can_send():
                # Batch by time: a small backlog waits for the frame interval to fill up.
                if self.buffered_bytes < self.limits.frame_bytes:
                    wait = self._last_frame_at + self.limits.frame_interval - self.clock()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        continue
                try:
                    await self.send(self.take_frame())
                except Exception:  # noqa: BLE001 - the socket went away; the session cleans up
                    self.closed = True
                    return

    def counts(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "scanned": self.scanned,
            "total_dropped": self.total_dropped,
            "delivered": self.delivered,
            "buffered": len(self.buffer),
            "in_flight": self.in_flight,
            "paused": self.paused,
        }

    async def close(self) -> None:
        self.closed = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.buffer.clear()
        self.buffered_bytes = 0
