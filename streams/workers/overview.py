"""Managed consumers as the console shows them: definition, derived state, instances, counters, lag."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from streams import adapters
from streams.errors import NotFound, StreamdeskError
from streams.workers.models import ConsumerInstance, ManagedConsumer
from streams.workers.state import Beat, derive_state, is_live

SPARK_POINTS = 60


@dataclass
class WorkerView:
    consumer: ManagedConsumer
    instances: list[ConsumerInstance]
    state: str
    lag: int | None = None
    lag_error: str | None = None
    rate: float = 0.0
    latency_ms: float | None = None
    spark: list[float] = field(default_factory=list)

    @property
    def live(self) -> list[ConsumerInstance]:
        return [i for i in self.instances if i.state not in ConsumerInstance.GONE]

    @property
    def config_json(self) -> str:
        return json.dumps(self.consumer.config, indent=2, sort_keys=True)

    @property
    def source_label(self) -> str:
        return "topic" if self.consumer.source_kind == ManagedConsumer.SourceKind.TOPIC else "stream"

    @property
    def spark_points(self) -> str:
        """The rate sparkline as SVG polyline points (100 x 20 box)."""
        values = self.spark or [0.0]
        top = max(values) or 1.0
        step = 100 / max(len(values) - 1, 1)
        return " ".join(f"{i * step:.1f},{20 - 18 * v / top:.1f}" for i, v in enumerate(values))

    def as_api(self) -> dict[str, Any]:
        c = self.consumer
        return {
            "name": c.name,
            "cluster": c.cluster,
            # The contract's "source" is the topic or stream; its kind and filter are beside it.
            "source": c.source,
            "source_kind": c.source_kind,
            "filter_subject": c.filter_subject or None,
            c.source_kind: c.source,
            "group": c.group,
            "durable": c.durable if c.source_kind == ManagedConsumer.SourceKind.STREAM else None,
            "handler": c.handler,
            "config": c.config,
            "start": c.start,
            "batch_size": c.batch_size,
            "concurrency": c.concurrency,
            "max_retries": c.max_retries,
            "retry_backoff_ms": c.retry_backoff_ms,
            "retry_backoff_max_ms": c.retry_backoff_max_ms,
            "dead_letter": c.dead_letter,
            "desired": c.desired,
            "state": self.state,
            "generation": c.generation,
            "pause_mode": c.pause_mode or None,
            "instances": [
                {
                    "id": i.instance_id,
                    "host": i.host,
                    "pid": i.pid,
                    "state": i.state,
                    "started_at": i.started_at,
                    "heartbeat_at": i.heartbeat_at,
                    "assignment": i.assignment,
                    "processed": i.processed,
                    "failed": i.failed,
                    "dead_lettered": i.dead_lettered,
                    "rate": i.rate,
                    "latency_ms": i.latency_ms,
                    "last_error": i.last_error or None,
                    "generation": i.generation,
                }
                for i in self.live
            ],
            "processed": c.processed,
            "failed": c.failed,
            "dead_lettered": c.dead_lettered,
            "lag": self.lag,
            "lag_error": self.lag_error,
            "rate": round(self.rate, 1),
            "latency_ms": self.latency_ms,
            "last_error": c.last_error or None,
            "last_error_at": c.last_error_at if c.last_error else None,
            "last_error_origin": c.last_error_origin if c.last_error else None,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        }


def lost_after() -> timedelta:
    return timedelta(seconds=settings.WORKER_LOST_AFTER_SECONDS)


def build(consumer: ManagedConsumer, instances: list[ConsumerInstance], now: datetime) -> WorkerView:
    window = lost_after()
    beats = [Beat(i.state, i.heartbeat_at) for i in instances]
    state = derive_state(consumer.desired, beats, now, window)
    live = [i for i in instances if is_live(Beat(i.state, i.heartbeat_at), now, window)]
    rate = sum(i.rate for i in live)
    latencies = [(i.latency_ms, i.rate) for i in live if i.latency_ms is not None]
    latency = round(sum(lat for lat, _ in latencies) / len(latencies), 3) if latencies else None
    spark = [0.0] * SPARK_POINTS
    for instance in live:
        rates = [float(r) for r in (instance.rates or [])][-SPARK_POINTS:]
        for index, value in enumerate(rates):
            spark[SPARK_POINTS - len(rates) + index] += value
    view = WorkerView(consumer, [i for i in instances], state, rate=rate, latency_ms=latency, spark=spark)
    # Instances shown are the live ones; the others only explain "lost".
    view.instances = live
    return view


async def _lag(view: WorkerView) -> None:
    c = view.consumer
    try:
        config = await adapters.aget_config(c.cluster)
        if c.source_kind == ManagedConsumer.SourceKind.TOPIC:
            adapter = adapters.kafka(config)
            info = await adapter.topic(c.source)
            committed = (await adapter.committed([c.group])).get(c.group, {})
            marks = await adapter.watermarks([info])
            total = 0
            for partition in info.partition_ids:
                mark = marks.get((c.source, partition))
                if mark is None:
                    continue
                offset = committed.get((c.source, partition))
                start = offset if offset is not None and offset >= 0 else (mark.low if c.start == "earliest" else None)
                if start is not None:
                    total += max(mark.high - start, 0)
            view.lag = total
        else:
            consumer = await adapters.nats(config).consumer(c.source, c.durable)
            view.lag = consumer.num_pending
    except NotFound:
        view.lag_error = "not created on the broker yet"
    except StreamdeskError as exc:
        view.lag_error = exc.message


async def workers(name: str | None = None, *, with_lag: bool = True) -> list[WorkerView]:
    found = ManagedConsumer.objects.all()
    if name is not None:
        found = found.filter(name=name)
    consumers = [c async for c in found]
    if name is not None and not consumers:
        raise NotFound(f"No managed consumer named {name!r}.")
    by_consumer: dict[int, list[ConsumerInstance]] = {c.pk: [] for c in consumers}
    async for instance in ConsumerInstance.objects.filter(consumer__in=consumers):
        by_consumer[instance.consumer_id].append(instance)
    now = timezone.now()
    views = [build(c, by_consumer[c.pk], now) for c in consumers]
    if with_lag and views:
        await asyncio.gather(*(_lag(v) for v in views))
    return views


async def worker(name: str, *, with_lag: bool = True) -> WorkerView:
    return (await workers(name, with_lag=with_lag))[0]
