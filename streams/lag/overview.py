"""Lag across every cluster: what is broken right now, then the consumers furthest behind.

A cluster with recent samples is answered from the database: its groups and JetStream consumers with their
Burrow status (ERR first), lag and sparkline, without a broker round trip. A cluster without them (just after
start, or while beat is not sampling) is read live, sorted by lag, without statuses. Each cluster is read on
its own, at the same time; one that does not answer gets its error in its own section and never hides the
others.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import F

from streams import adapters
from streams.clusters import ClusterConfig
from streams.errors import NotFound, StreamdeskError
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.groups import group_lags
from streams.kafka.lag import sort_by_lag
from streams.lag.history import sparklines
from streams.lag.models import LagStatus, LagSweep
from streams.nats.adapter import NatsAdapter
from streams.nats.types import ConsumerSummary

# Bounds the consumer-list requests in flight to one NATS server.
NATS_FANOUT = 16
SORTS = ("status", "lag")


async def kafka_laggards(adapter: KafkaAdapter, limit: int) -> tuple[list[dict[str, Any]], int, str | None]:
    md = await adapter.metadata()
    listings = await adapter.groups()
    lags, warning = await group_lags(adapter, md, [g.group for g in listings])
    ranked = sort_by_lag(lags.values())
    items: list[dict[str, Any]] = [
        {
            "group": g.group,
            "lag": g.total,
            "lag_unknown": g.lag_unknown > 0,
            "topics": g.topics,
            "uncommitted": g.uncommitted,
            "status": None,
            "sparkline": [],
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
    items: list[dict[str, Any]] = [
        {
            "stream": c.stream,
            "consumer": c.name,
            "lag": c.num_pending,
            "num_ack_pending": c.num_ack_pending,
            "num_redelivered": c.num_redelivered,
            "paused": c.paused,
            "status": None,
            "sparkline": [],
        }
        for c in found[:limit]
    ]
    return items, len(found), None


def samples_max_age() -> timedelta:
    """Samples older than this are not shown as current: beat may have stopped, so the broker is asked."""
    return timedelta(seconds=max(4 * settings.LAG_SAMPLE_SECONDS, 120.0))


def sampled_items(config: ClusterConfig, rows: list[LagStatus]) -> list[dict[str, Any]]:
    keys = [(row.stream, row.consumer) for row in rows]
    lines = sparklines(config.slug, keys, config.kind)
    items: list[dict[str, Any]] = []
    for row in rows:
        common = {
            "lag": row.total_lag,
            "status": row.status,
            "complete": row.complete,
            "since": row.since,
            "sparkline": lines.get((row.stream, row.consumer), []),
        }
        if config.kind == "kafka":
            items.append(
                {
                    "group": row.consumer,
                    "lag_unknown": row.lag_unknown > 0,
                    "topics": row.topics,
                    "uncommitted": row.uncommitted,
                    **common,
                }
            )
        else:
            items.append(
                {
                    "stream": row.stream,
                    "consumer": row.consumer,
                    "num_ack_pending": row.ack_pending,
                    "num_redelivered": None,
                    "paused": None,
                    **common,
                }
            )
    return items


def sampled_section(config: ClusterConfig, limit: int, sort: str) -> dict[str, Any] | None:
    """The cluster's section from its latest samples and statuses; None when there are none recent enough."""
    sweeps = LagSweep.objects.filter(cluster=config.slug).order_by("-at", "-id")
    last_ok = sweeps.filter(error="").values_list("at", flat=True).first()
    if last_ok is None or datetime.now(UTC) - last_ok > samples_max_age():
        return None
    last = sweeps.values_list("at", "error").first()
    warning = None
    if last is not None and last[1]:
        warning = f"The last sample failed ({last[1]}); showing the sample of {last_ok:%Y-%m-%d %H:%M:%S} UTC."
    statuses = LagStatus.objects.filter(cluster=config.slug)
    lag_order = F("total_lag").desc(nulls_last=True)
    order = ("-severity", lag_order, "stream", "consumer") if sort == "status" else (lag_order, "stream", "consumer")
    rows = list(statuses.order_by(*order)[:limit])
    return {
        "slug": config.slug,
        "kind": config.kind,
        "name": config.name,
        "error": None,
        "warning": warning,
        "items": sampled_items(config, rows),
        "total": statuses.count(),
        "source": "samples",
        "sampled_at": last_ok,
    }


async def cluster_lag(config: ClusterConfig, limit: int, sort: str = "status") -> dict[str, Any]:
    sampled = await sync_to_async(sampled_section)(config, limit, sort)
    if sampled is not None:
        return sampled
    section: dict[str, Any] = {
        "slug": config.slug,
        "kind": config.kind,
        "name": config.name,
        "error": None,
        "warning": None,
        "source": "live",
        "sampled_at": None,
    }
    try:
        if config.kind == "kafka":
            section["items"], section["total"], section["warning"] = await kafka_laggards(adapters.kafka(config), limit)
        else:
            section["items"], section["total"], section["warning"] = await nats_laggards(adapters.nats(config), limit)
    except StreamdeskError as exc:
        section.update(items=[], total=0, error=exc.message)
    return section


async def overview(configs: list[ClusterConfig], limit: int, sort: str = "status") -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(cluster_lag(c, limit, sort) for c in configs)))


def list_statuses(slug: str, kind: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Status and sparkline values of the rows on a list page: {(stream, consumer): {"status", "sparkline"}}."""
    consumers = sorted({c for _, c in keys})
    rows = LagStatus.objects.filter(cluster=slug, kind=kind, consumer__in=consumers).values_list(
        "stream", "consumer", "status"
    )
    found = {(s, c): status for s, c, status in rows}
    lines = sparklines(slug, keys, kind)
    return {key: {"status": found.get(key), "sparkline": lines.get(key, [])} for key in keys}


def status_ranking(slug: str, kind: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(severity, lag) of every sampled group or consumer of the cluster, for ordering a list by status."""
    rows = LagStatus.objects.filter(cluster=slug, kind=kind).values_list("stream", "consumer", "severity", "total_lag")
    return {(s, c): (severity, lag or 0) for s, c, severity, lag in rows}


def last_status(slug: str, kind: str, stream: str, consumer: str) -> str:
    """The status the last sweep gave the group or consumer; NOTFOUND when it has none."""
    found = LagStatus.objects.filter(cluster=slug, kind=kind, stream=stream, consumer=consumer)
    return found.values_list("status", flat=True).first() or "NOTFOUND"
