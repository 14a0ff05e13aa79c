"""The managed consumers' counters in ``/metrics``, read from the database like everything there.

Totals are the consumer's running counts (they survive restarts); rate, latency and state come
from the instances whose heartbeats are still fresh. The desired and actual states are numbers:
0 stopped, 1 starting, 2 running, 3 paused, 4 failing, 5 lost.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.workers.models import ConsumerInstance, ManagedConsumer
from streams.workers.overview import build, lost_after
from streams.workers.state import Beat, is_live

STATES = ("stopped", "starting", "running", "paused", "failing", "lost")


class WorkerCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        labels = ["worker", "cluster", "source", "handler"]
        processed = CounterMetricFamily(
            "streamdesk_worker_processed", "Messages a managed consumer handled", labels=labels
        )
        failed = CounterMetricFamily("streamdesk_worker_failed", "Failed handler calls (retried)", labels=labels)
        dead = CounterMetricFamily(
            "streamdesk_worker_dead_lettered", "Messages sent to the dead letters", labels=labels
        )
        rate = GaugeMetricFamily("streamdesk_worker_rate", "Messages per second over live instances", labels=labels)
        latency = GaugeMetricFamily("streamdesk_worker_handler_latency_ms", "Mean handler time", labels=labels)
        instances = GaugeMetricFamily("streamdesk_worker_instances", "Instances with fresh heartbeats", labels=labels)
        state = GaugeMetricFamily(
            "streamdesk_worker_state",
            "Actual state: " + ", ".join(f"{i} {s}" for i, s in enumerate(STATES)),
            labels=labels,
        )
        now, window = timezone.now(), lost_after()
        by_consumer: dict[int, list[ConsumerInstance]] = {}
        for instance in ConsumerInstance.objects.all():
            by_consumer.setdefault(instance.consumer_id, []).append(instance)
        for consumer in ManagedConsumer.objects.all():
            view = build(consumer, by_consumer.get(consumer.pk, []), now)
            values = [consumer.name, consumer.cluster, consumer.source, consumer.handler]
            processed.add_metric(values, consumer.processed)
            failed.add_metric(values, consumer.failed)
            dead.add_metric(values, consumer.dead_lettered)
            rate.add_metric(values, view.rate)
            if view.latency_ms is not None:
                latency.add_metric(values, view.latency_ms)
            mine = by_consumer.get(consumer.pk, [])
            instances.add_metric(values, sum(1 for i in mine if is_live(Beat(i.state, i.heartbeat_at), now, window)))
            state.add_metric(values, STATES.index(view.state) if view.state in STATES else -1)
        yield from (processed, failed, dead, rate, latency, instances, state)
