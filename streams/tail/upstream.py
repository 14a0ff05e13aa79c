"""What every upstream shares: its subscribers, the hand-off to the web loop, its lifecycle.

Subclasses (``streams.tail.kafka``, ``streams.tail.nats``, ``streams.tail.jetstream``) read from
the broker; the hub (``streams.tail.hub``) builds them and forgets them when they end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streams import masking
from streams.clusters import ClusterConfig
from streams.errors import StreamdeskError
from streams.tail.messages import Item
from streams.tail.spec import Start, TailSpec
from streams.tail.subscriber import Subscriber

if TYPE_CHECKING:
    from streams.tail.hub import Hub

# Handed to the web loop but not yet dispatched, at most.
BACKLOG_ITEMS = 20_000
BACKLOG_BYTES = 32 * 1024 * 1024
# What one more message is assumed to take in a replay's queue, when deciding how many to read.
ASSUMED_MESSAGE_BYTES = 4096


@dataclass(frozen=True)
class UpstreamEvent:
    """``down``: the broker is unreachable (the upstream retries by itself); ``up``: it is back
    (``notice`` says whether anything was missed); ``ended``: the upstream stopped for good."""

    kind: str
    message: str
    field: str | None = None
    retryable: bool = False
    # For a retryable end: where a replay should start again so that nothing is seen twice or missed.
    resume: Start | None = None


@dataclass
class Started:
    """What the upstream resolved the start to (per-partition offsets, a first sequence)."""

    position: dict[str, Any] = field(default_factory=dict)


class Upstream:
    """Base class: subscribers, the hand-off to the web loop, lifecycle. Subclasses read."""

    def __init__(self, hub: Hub, config: ClusterConfig, spec: TailSpec, key: tuple[Any, ...]) -> None:
        self.hub = hub
        self.config = config
        self.spec = spec
        self.key = key
        self.loop = hub.loop
        self.subscribers: list[Subscriber] = []
        self.ready: asyncio.Future[Started] = self.loop.create_future()
        self.stopped = False
        # Written by the reading side only / by the web loop only: their difference is the backlog.
        self.handed_items = 0
        self.handed_bytes = 0
        self.dispatched_items = 0
        self.dispatched_bytes = 0
        self.skipped = 0
        self.down = False
        # Who asked for a replay (its one socket's user): what the per-user replay limit counts.
        self.owner: Any = None

    # -- the reading side (any thread) -------------------------------------------------

    def mask_rules(self, subject: str | None = None) -> tuple[masking.Rule, ...]:
        """The masking rules covering a message of this source (on ``subject``, for NATS): every
        item carries them, and each socket that masks masks it (see ``Item.masked``)."""
        rules = masking.active()
        if not rules:
            return ()
        slug, name = self.config.slug, self.spec.name
        if self.spec.source == "topic":
            return rules.covering(slug, ("topics", name))
        if self.spec.source == "stream":
            return rules.covering(slug, ("streams", name), ("subjects", subject or ""))
        if self.spec.source == "kv":
            # As the bucket's pages mask it: by the bucket, its stream, and the key's subject.
            return rules.covering(slug, ("kv_buckets", name), ("streams", f"KV_{name}"), ("subjects", subject or ""))
        return rules.covering(slug, ("subjects", subject or name))

    @property
    def private(self) -> bool:
        """A replay belongs to one socket (see ``TailSpec.upstream_key``)."""
        return self.spec.start.kind != "now"

    def room(self) -> tuple[int, int] | None:
        """For a replay: how many more messages (and about how many bytes) its one socket's queue
        takes before it would drop; None for a shared upstream, which never waits for a socket."""
        if not self.private:
            return None
        try:
            socket = self.subscribers[0]  # read from the reading thread: the list may just have emptied
        except IndexError:
            return None
        limits = socket.limits
        messages = limits.buffer_messages - len(socket.buffer) - (self.handed_items - self.dispatched_items)
        size = limits.buffer_bytes - socket.buffered_bytes - (self.handed_bytes - self.dispatched_bytes)
        return messages, size

    def backlogged(self) -> bool:
        """Whether the web loop is behind with what was handed to it."""
        return (
            self.handed_items - self.dispatched_items > BACKLOG_ITEMS
            or self.handed_bytes - self.dispatched_bytes > BACKLOG_BYTES
        )

    def unhanded(self) -> int:
        """Messages read but not yet handed to the web loop."""
        return 0

    def batch_size(self, most: int) -> int:
        """How many messages to read next: ``most``, or fewer for a replay whose socket's queue is filling
        (its broker keeps the rest); 0 means wait."""
        if self.backlogged():
            return 0
        room = self.room()
        if room is None:
            return most
        messages, size = room
        return max(0, min(most, (messages - self.unhanded()) // 2, size // ASSUMED_MESSAGE_BYTES))

    def hand(self, items: list[Item]) -> None:
        if any(subscriber.mask for subscriber in list(self.subscribers)):
            # Masked here, on the reading side, while a socket that masks is watching: the web loop
            # then only picks the form each socket sees (one joining later masks on the loop).
            for item in items:
                if item.rules:
                    item.masked()
        size = sum(item.size for item in items)
        self.handed_items += len(items)
        self.handed_bytes += size
        self._call(self._deliver, items, size)

    def hand_skipped(self, count: int) -> None:
        self.skipped += count
        self._call(self._skip, count)

    def report(self, event: UpstreamEvent) -> None:
        self._call(self._event, event)

    def started(self, info: Started) -> None:
        self._call(self._settle, info, None)

    def failed(self, error: StreamdeskError) -> None:
        self._call(self._settle, None, error)

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the web loop is closed: nobody is left to tell
            self.stop()

    # -- the web loop ------------------------------------------------------------------

    def _deliver(self, items: Sequence[Item], size: int) -> None:
        self.dispatched_items += len(items)
        self.dispatched_bytes += size
        for subscriber in self.subscribers:
            subscriber.offer(items)

    def _skip(self, count: int) -> None:
        for subscriber in self.subscribers:
            subscriber.skip(count)

    def _event(self, event: UpstreamEvent) -> None:
        self.down = event.kind == "down"
        for subscriber in list(self.subscribers):
            subscriber.event(event)
        if event.kind == "ended":
            self.hub.forget(self)

    def _settle(self, info: Started | None, error: StreamdeskError | None) -> None:
        if self.ready.done():
            return
        if error is not None:
            self.ready.set_exception(error)
            self.hub.forget(self)
            self.stop()
        else:
            self.ready.set_result(info or Started())

    def begin(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop reading and release the broker side; never blocks the web loop."""
        self.stopped = True
