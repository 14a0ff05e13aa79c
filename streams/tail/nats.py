"""NATS upstreams on the cluster's one connection (its private loop): the shared base and a core subject.

Core subject: one subscription (wildcards allowed). The server's SUB is confirmed by a
round trip before "subscribed" goes out. Core NATS keeps no history and cannot be
slowed down, so messages that arrive while the web loop is behind are dropped here,
before any filter, and counted for every socket (as are those nats-py drops when its
own pending limits overflow).

Messages are gathered on the NATS loop and handed to the web loop every ``FLUSH_SECONDS``
or ``FLUSH_COUNT`` messages, as one batch. A JetStream stream is read by
``streams.tail.jetstream`` on the same base.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from streams import adapters
from streams.errors import StreamdeskError
from streams.nats.adapter import NatsAdapter
from streams.schemas.decode import framed_ids
from streams.schemas.registry import registry_for
from streams.tail.messages import Item, nats_item
from streams.tail.spec import Start, is_system_subject
from streams.tail.upstream import Started, Upstream, UpstreamEvent

logger = logging.getLogger("streams.tail")

FLUSH_SECONDS = 0.01
FLUSH_COUNT = 1000
WATCH_SECONDS = 0.25
# nats-py's own queue for the subscription, before our callback; past it, it drops (and we count).
PENDING_MSGS = 200_000
PENDING_BYTES = 64 * 1024 * 1024


class NatsUpstream(Upstream):
    """Batching on the NATS loop, the connection watch, and closing; subclasses open and convert."""

    drops_when_behind = True

    def begin(self) -> None:
        self.conn: NatsAdapter = adapters.nats(self.config)
        self.nloop: asyncio.AbstractEventLoop | None = None
        self.nc: NatsClient | None = None
        self.sub: Subscription | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._lost = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        # Batches waiting for a schema registry lookup, handed on in order (see ``_flush``).
        self._decoding: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        self.loop.create_task(self._start())

    async def _start(self) -> None:
        try:
            started = await self.conn.call(self._open, what=self.what, timeout=2 * self.conn.timeout)
        except StreamdeskError as exc:
            self._settle(None, exc)
            return
        if self.stopped and self.nloop is not None:
            # Everyone left while it was opening: release what it opened.
            asyncio.run_coroutine_threadsafe(self._close(), self.nloop)
            return
        self._settle(started, None)

    @property
    def what(self) -> str:
        return f"tail {self.spec.name}"

    async def _open(self) -> Started:
        raise NotImplementedError

    def _item(self, entry: tuple[Any, ...]) -> Item:
        raise NotImplementedError

    async def _subscribe(self, subject: str) -> Subscription:
        assert self.nc is not None
        sub = await self.nc.subscribe(
            subject, cb=self._on_msg, pending_msgs_limit=PENDING_MSGS, pending_bytes_limit=PENDING_BYTES
        )
        self.conn.slow_consumer_handlers[sub._id] = self._note_lost
        return sub

    async def _on_msg(self, msg: Msg) -> None:
        raise NotImplementedError

    def unhanded(self) -> int:
        return len(self._pending)

    def _note_lost(self) -> None:
        self._lost += 1
        self._schedule_flush()

    def _collect(self, entry: tuple[Any, ...]) -> None:
        self._pending.append(entry)
        if len(self._pending) >= FLUSH_COUNT:
            self._flush()
        else:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None and self.nloop is not None:
            self._flush_handle = self.nloop.call_later(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        batch, self._pending = self._pending, []
        lost, self._lost = self._lost, 0
        if self.stopped:
            return
        if lost:
            self.hand_skipped(lost)
        if not batch:
            return
        if self.drops_when_behind and self.backlogged():
            self.hand_skipped(len(batch))
            return
        if self._decoding is not None or self._asks_registry(batch):
            # A registry lookup blocks for up to a deadline: not on this loop, which every NATS call shares.
            assert self.nloop is not None
            self._decoding = self.nloop.create_task(self._hand_decoded(batch, self._decoding))
            return
        self.hand([self._item(entry) for entry in batch])

    def _asks_registry(self, batch: list[tuple[Any, ...]]) -> bool:
        """Whether decoding the batch would wait for the schema registry (a framed payload of an id not yet known)."""
        found = registry_for(self.config)
        if found is None:
            return False
        return any(not found.answers_at_once(schema_id) for schema_id in framed_ids(entry[1] for entry in batch))

    async def _hand_decoded(self, batch: list[tuple[Any, ...]], before: asyncio.Task[None] | None) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])
            items = await asyncio.get_running_loop().run_in_executor(None, lambda: [self._item(e) for e in batch])
            if not self.stopped:
                self.hand(items)
        finally:
            if self._decoding is asyncio.current_task():
                self._decoding = None

    def _watch_started(self) -> None:
        self.nloop = asyncio.get_running_loop()
        self._watcher = self.nloop.create_task(self._watch())

    async def _watch(self) -> None:
        connected = True
        while not self.stopped:
            await asyncio.sleep(WATCH_SECONDS)
            nc = self.nc
            if nc is None or self.stopped:
                return
            if nc.is_closed:
                self.report(
                    UpstreamEvent("ended", "The NATS connection was closed.", retryable=True, resume=self._resume())
                )
                self.stopped = True
                return
            now = nc.is_connected
            if connected and not now:
                self._down_since = time.monotonic()
                self.report(UpstreamEvent("down", f"NATS is unreachable; {self._retry_text()}", retryable=True))
            elif now and not connected:
                gap = time.monotonic() - (self._down_since or time.monotonic())
                self._reconnected()
                self.report(UpstreamEvent("up", self._back_text(gap)))
            connected = now
            self._check()

    def _retry_text(self) -> str:
        return "reconnecting by itself."

    def _resume(self) -> Start | None:
        """Where a replay picks up on a new connection."""
        return None

    def _back_text(self, gap: float) -> str:
        return f"NATS is back after {gap:.1f} s."

    def _reconnected(self) -> None:
        """Called on the NATS loop when the connection is back."""

    def _check(self) -> None:
        """Called on the NATS loop every WATCH_SECONDS."""

    def stop(self) -> None:
        if self.stopped and self.nloop is None:
            return
        super().stop()
        if self.nloop is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._close(), self.nloop)
            except RuntimeError:  # the connection's loop is gone with it
                pass

    async def _close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._watcher is not None and self._watcher is not asyncio.current_task():
            self._watcher.cancel()
        sub, self.sub = self.sub, None
        if sub is not None:
            self.conn.slow_consumer_handlers.pop(sub._id, None)
            try:
                await sub.unsubscribe()
            except Exception:
                logger.debug("tail %s: unsubscribe failed", self.spec.name, exc_info=True)
        await self._release()

    async def _release(self) -> None:
        """Whatever else the upstream holds on the server."""


async def round_trip(nc: NatsClient, timeout: float) -> None:
    """A PING answered: the server has handled every earlier SUB. (A request to an unanswered inbox
    would do too, but not for a tail of ``>`` or ``_INBOX.>``, which is itself the request's responder.)"""
    await nc.flush(timeout)  # type: ignore[arg-type]  # annotated int; wait_for takes any number


class CoreUpstream(NatsUpstream):
    async def _open(self) -> Started:
        self.nc = await self.conn._client()
        self._watch_started()
        try:
            self.sub = await self._subscribe(self.spec.name)
            await round_trip(self.nc, self.conn.timeout)
        except BaseException:
            self.stopped = True
            await self._close()
            raise
        return Started({})

    async def _on_msg(self, msg: Msg) -> None:
        self._collect((msg.subject, msg.data, msg.headers, msg.reply, time.time()))

    def _item(self, entry: tuple[Any, ...]) -> Item:
        subject, data, headers, reply, received = entry
        return nats_item(
            subject,
            data,
            headers,
            reply=reply,
            seq=None,
            received=received,
            system=is_system_subject(subject),
            cluster=self.config,
            rules=self.mask_rules(subject),
        )

    def _retry_text(self) -> str:
        return "reconnecting by itself. Core NATS keeps no history: what is published meanwhile is missed."

    def _back_text(self, gap: float) -> str:
        return (
            f"NATS is back after {gap:.1f} s. Core NATS keeps no history, "
            "so messages published while it was unreachable were missed."
        )
