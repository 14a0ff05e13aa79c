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
from typing import Any

from django.conf import settings

from streams.clusters import ClusterConfig
from streams.errors import InvalidInput, StreamdeskError
from streams.tail.spec import SOURCE_KIND, TailSpec
from streams.tail.subscriber import Subscriber
from streams.tail.upstream import Upstream

logger = logging.getLogger("streams.tail")


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
    if spec.source == "subject":
        from streams.tail.nats import CoreUpstream

        return CoreUpstream(hub, config, spec, key)
    if spec.source == "kv":
        from streams.tail.kv import KeyValueUpstream

        return KeyValueUpstream(hub, config, spec, key)
    from streams.tail.jetstream import JetStreamUpstream

    return JetStreamUpstream(hub, config, spec, key)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop (one per web process; tests run a loop each)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub(loop)
    return found
