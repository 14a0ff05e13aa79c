"""One socket's side of a tail: a bounded queue, exact drop counts, batched frames and an ack window.

The upstream hands every batch to each subscriber at once (``offer``), on the web
loop, and never waits for it. The queue keeps the newest messages: past its bounds
(a number of messages and about a number of bytes) the oldest are dropped and counted
right there. A pump sends them in ``messages`` frames of up to ``frame_bytes`` or
whatever gathered within ``frame_interval``, and only while fewer than ``window``
frames are unacknowledged: the WebSocket server itself would buffer without limit
for a slow client, so the window is the only thing keeping its buffer small. Each
frame carries an unguessable ``token`` and an ack counts only when it echoes the
token of the frame it names, so only a client that has read a frame can open the
window (a script acking numbers blindly gets no more than the window).

For every subscriber, at any moment: delivered + total_dropped + buffered = matched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from streams.tail.filter import matches
from streams.tail.messages import Item

FRAME_BYTES = 64 * 1024
# Bytes of randomness in each frame's ack token (secrets.token_urlsafe: 16 characters).
TOKEN_BYTES = 12


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
        hide_system: bool = False,
        mask: bool = False,
        on_covered: Callable[[], None] | None = None,
    ) -> None:
        self.send = send
        self.needle = needle
        # Messages on reply inboxes and $-subjects are not this socket's to see: not even counted.
        self.hide_system = hide_system
        # Its user may not unmask: messages masking rules cover are sent (and filtered) masked.
        self.mask = mask
        # Told once, at the first covered message this socket sees unmasked (the read is audited).
        self.on_covered = on_covered
        self.saw_covered = False
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
        # One (sent at, token) per unacknowledged frame, oldest first.
        self._unacked: deque[tuple[float, str]] = deque()
        self.refused_acks = 0
        self.paused_at: float | None = None
        self._last_frame_at = float("-inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- fed by the upstream, on the web loop -------------------------------------------

    def offer(self, items: Sequence[Item]) -> None:
        if self.closed:
            return
        needle = self.needle
        hide = self.hide_system
        buffer = self.buffer
        added = 0
        hidden = 0
        size = 0
        mask = self.mask
        for item in items:
            if hide and item.system:
                hidden += 1
                continue
            if item.rules:
                if mask:
                    item = item.masked()
                elif not self.saw_covered:
                    self.saw_covered = True
                    if self.on_covered is not None:
                        self.on_covered()
            if needle is None or matches(item.haystack, needle):
                buffer.append(item.json)
                size += len(item.json)
                added += 1
        self.scanned += len(items) - hidden
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

    def ack(self, seq: int, token: object) -> bool:
        """Frames up to ``seq`` are handled, if ``token`` is that frame's: False (and nothing opens)
        when it is not. An ack of a frame already acknowledged changes nothing."""
        if seq <= self.acked_seq:
            return True
        # compare_digest refuses non-ASCII text: such a token is wrong anyway.
        if seq > self.sent_seq or not isinstance(token, str) or not token.isascii():
            self.refused_acks += 1
            return False
        unacked = self._unacked
        if not secrets.compare_digest(unacked[seq - self.acked_seq - 1][1], token):
            self.refused_acks += 1
            return False
        for _ in range(seq - self.acked_seq):
            unacked.popleft()
        self.acked_seq = seq
        self._wake.set()
        return True

    def stalled_for(self) -> float:
        """Seconds the oldest unacknowledged frame has waited for its ack (0 when none waits)."""
        return self.clock() - self._unacked[0][0] if self._unacked else 0.0

    def paused_for(self) -> float:
        """Seconds since the client paused (0 when it is not paused)."""
        return self.clock() - self.paused_at if self.paused_at is not None else 0.0

    def pause(self) -> None:
        self.paused = True
        if self.paused_at is None:
            self.paused_at = self.clock()

    def resume(self) -> None:
        self.paused = False
        self.paused_at = None
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
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._unacked.append((now, token))
        self._last_frame_at = now
        return (
            f'{{"type":"messages","seq":{self.sent_seq},"token":"{token}","items":[{",".join(parts)}],'
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
            "refused_acks": self.refused_acks,
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
