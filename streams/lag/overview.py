"""Lag across every cluster: the Kafka groups and JetStream consumers furthest behind.

Each cluster is read on its own, at the same time; one that does not answer
gets its error in its own section and never hides the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from streams import registry
from streams.clusters import ClusterConfig
from streams.errors import NotFound, StreamdeskError
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.groups import group_lags
from streams.kafka.lag import sort_by_lag
from streams.nats.adapter import NatsAdapter
from streams.nats.types import ConsumerSummary

# Bounds the consumer-list requests in flight to one NATS server.
NATS_FANOUT = 16


async def kafka_laggards(adapter: KafkaAdapter, limit: int) -> tuple[list[dict[str, Any]], int, str | None]:
    md = await adapter.metadata()
    listings = await adapter.groups()
    lags, warning = await group_lags(adapter, md, [g.group for g in listings])
    ranked = sort_by_lag(lags.values())
    items = [
        {
            "group": g.group,
            "lag": g.total,
            "lag_unknown": g.lag_unknown > 0,
            "topics": g.topics,
            "uncommitted": g.uncommitted,
        }
        for g in ranked[:limit]
    ]
    return items, len(ranked), warning


async def all_consumers(adapter: NatsAdapter) -> list[ConsumerSummary]:
    """Every consumer of every stream, at most NATS_FANOUT lists in flight."""
    streams = await adapter.streams()
    gate = asyncio.Semaphore(NATS_FANOUT)

    async def consumers_of(stream: str) -> list[ConsumerSummary]:
        async with gate:
            try:
                return list(await adapter.consumers(stream))
            except NotFound:  # deleted since the stream list was read
                return []

    return [c for batch in await asyncio.gather(*(consumers_of(s.name) for s in streams)) for c in batch]


async def nats_laggards(adapter: NatsAdapter, limit: int) -> tuple[list[dict[str, Any]], int, str | None]:
    found = await all_consumers(adapter)
    found.sort(key=lambda c: (-c.num_pending, -c.num_ack_pending, c.stream, c.name))
    items = [
        {
            "stream": c.stream,
            "consumer": c.name,
            "lag": c.num_pending,
            "num_ack_pending": c.num_ack_pending,
            "num_redelivered": c.num_redelivered,
            "paused": c.paused,
        }
        for c in found[:limit]
    ]
    return items, len(found), None


async def cluster_lag(config: ClusterConfig, limit: int) -> dict[str, Any]:
    section: dict[str, Any] = {
        "slug": config.slug,
        "kind": config.kind,
        "name": config.name,
        "error": None,
        "warning": None,
    }
    try:
        if config.kind == "kafka":
            section["items"], section["total"], section["warning"] = await kafka_laggards(registry.kafka(config), limit)
        else:
            section["items"], section["total"], section["warning"] = await nats_laggards(registry.nats(config), limit)
    except StreamdeskError as exc:
        section.update(items=[], total=0, error=exc.message)
    return section


async def overview(configs: list[ClusterConfig], limit: int) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(cluster_lag(c, limit) for c in configs)))
