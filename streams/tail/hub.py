"""The per-process registry of upstreams: one per source, shared by every socket that watches it.

An upstream reads from the broker on its own thread (Kafka) or on the cluster's NATS
loop, turns records into ``Item`` batches there, and hands each batch to the web
loop with one ``call_soon_threadsafe``; the web loop offers it to every subscriber.
Handing over never waits for a socket. What is handed over but not yet dispatched is
bounded: a Kafka or JetStream upstream simply stops reading until the web loop
catches up (the broker keeps the messages); a core NATS upstream cannot, so it drops
and says how many (``skip``). The hub closes an upstream when its last subscriber goes.

The hub also keeps the per-user limits of its process: open tail sockets
(``TAIL_MAX_SOCKETS_PER_USER``) and replays, which each hold an upstream of their own
(``TAIL_MAX_REPLAYS_PER_USER``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from streams.clusters import ClusterConfig
from streams.errors import InvalidInput, StreamdeskError
from streams.tail.messages import Item
from streams.tail.spec import SOURCE_KIND, Start, TailSpec
from streams.tail.subscriber import Subscriber

logger = logging.getLogger("streams.tail")

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


class TooMany(StreamdeskError):
    """A per-user or per-process limit of the live tail is reached."""

    status = 429


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.upstreams: dict[tuple[Any, ...], Upstream] = {}
        self.sockets: dict[Any, int] = {}

    # -- per-user limits -----------------------------------------------------------------

    def open_socket(self, owner: Any) -> bool:
        """Count one more socket of ``owner``; False (and nothing counted) past its limit."""
        count = self.sockets.get(owner, 0)
        if count >= settings.TAIL_MAX_SOCKETS_PER_USER:
            return False
        self.sockets[owner] = count + 1
        return True

    def close_socket(self, owner: Any) -> None:
        count = self.sockets.get(owner, 0) - 1
        if count > 0:
            self.sockets[owner] = count
        else:
            self.sockets.pop(owner, None)

    def replays_of(self, owner: Any) -> int:
        return sum(1 for up in self.upstreams.values() if up.owner == owner and not up.stopped)

    # -- upstreams -------------------------------------------------------------------------

    async def attach(
        self, config: ClusterConfig, spec: TailSpec, subscriber: Subscriber, *, owner: Any = None
    ) -> Upstream:
        """Join the upstream for ``spec`` (starting it when there is none) once it is in place;
        a replay counts against ``owner``'s limit."""
        if config.kind != SOURCE_KIND[spec.source]:
            raise InvalidInput(f"{config.slug} is a {config.kind} cluster: it has no {spec.source}s.", field="source")
        key = spec.upstream_key(config.slug)
        upstream = self.upstreams.get(key)
        if upstream is None or upstream.stopped:
            if len(self.upstreams) >= settings.TAIL_MAX_UPSTREAMS:
                raise TooMany(
                    f"This web process already runs {len(self.upstreams)} tails (STREAMDESK_TAIL_MAX_UPSTREAMS); "
                    "tails from now share one, replays each need their own."
                )
            replay = spec.start.kind != "now"
            if replay and owner is not None and self.replays_of(owner) >= settings.TAIL_MAX_REPLAYS_PER_USER:
                raise TooMany(
                    f"You already run {self.replays_of(owner)} replays in this web process, the most one user may "
                    "(STREAMDESK_TAIL_MAX_REPLAYS_PER_USER): close one, or tail from now.",
                    field="from",
                )
            upstream = _build(self, config, spec, key)
            if replay:
                upstream.owner = owner
            self.upstreams[key] = upstream
            upstream.begin()
        upstream.subscribers.append(subscriber)
        try:
            await asyncio.shield(upstream.ready)
        except BaseException:
            self.detach(upstream, subscriber)
            raise
        return upstream

    def detach(self, upstream: Upstream, subscriber: Subscriber) -> None:
        if subscriber in upstream.subscribers:
            upstream.subscribers.remove(subscriber)
        if not upstream.subscribers:
            self.forget(upstream)
            upstream.stop()

    def forget(self, upstream: Upstream) -> None:
        if self.upstreams.get(upstream.key) is upstream:
            del self.upstreams[upstream.key]

    def stats(self) -> list[dict[str, Any]]:
        return [
            {"key": key[:5], "subscribers": len(up.subscribers), "kind": type(up).__name__, "skipped": up.skipped}
            for key, up in self.upstreams.items()
        ]


def _build(hub: Hub, config: ClusterConfig, spec: TailSpec, key: tuple[Any, ...]) -> Upstream:
    if spec.source == "topic":
        from streams.tail.kafka import KafkaUpstream

        return KafkaUpstream(hub, config, spec, key)
    from streams.tail.nats import CoreUpstream, JetStreamUpstream

    if spec.source == "subject":
        return CoreUpstream(hub, config, spec, key)
    if spec.source == "kv":
        from streams.tail.kv import KeyValueUpstream

        return KeyValueUpstream(hub, config, spec, key)
    return JetStreamUpstream(hub, config, spec, key)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop (one per web process; tests run a loop each)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub(loop)
    return found
