"""``/metrics``: lag, statuses and the sampler's own health in Prometheus' text format, from the database.

Every scrape builds a fresh ``CollectorRegistry`` with collectors that read the latest samples and statuses
(no global, mutable gauges; no broker round trip): the partition rows of each cluster's last successful
sweep, every group's and JetStream consumer's last evaluated status, and each cluster's last sweep. Statuses
are numbers as in Burrow (NOTFOUND 0, OK 1, WARN 2, ERR 3). Other capabilities add their families by
appending a collector class to ``COLLECTORS`` (the managed consumers' counters, once they exist).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Max
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from streams.lag.alerts import SEVERITY
from streams.lag.history import sample_lag
from streams.lag.models import LagSample, LagStatus, LagSweep

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
STATUSES = ("NOTFOUND", "OK", "WARN", "ERR")


def _seconds(at: datetime) -> float:
    return at.timestamp()


class LagCollector(Collector):
    """Everything the lag sampler knows, read once per scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from self._sweeps()
        latest_ok = dict(
            LagSweep.objects.filter(error="").values("cluster").annotate(last=Max("id")).values_list("cluster", "last")
        )
        yield from self._partitions(list(latest_ok.values()))
        yield from self._statuses()

    def _sweeps(self) -> Iterator[Metric]:
        duration = GaugeMetricFamily(
            "streamdesk_lag_sweep_duration_seconds",
            "How long the cluster's last lag sweep took: broker reads, writes and evaluation.",
            labels=["cluster"],
        )
        up = GaugeMetricFamily(
            "streamdesk_lag_sweep_up", "1 if the cluster's last lag sweep read the brokers, else 0.", labels=["cluster"]
        )
        last = GaugeMetricFamily(
            "streamdesk_lag_sweep_last_timestamp_seconds",
            "When the cluster was last sampled (Unix time).",
            labels=["cluster"],
        )
        last_ok = GaugeMetricFamily(
            "streamdesk_lag_sweep_last_success_timestamp_seconds",
            "When the cluster was last sampled successfully (Unix time).",
            labels=["cluster"],
        )
        sweeps = CounterMetricFamily("streamdesk_lag_sweeps", "Lag sweeps of the cluster.", labels=["cluster"])
        errors = CounterMetricFamily(
            "streamdesk_lag_sweep_errors", "Lag sweeps of the cluster that failed.", labels=["cluster"]
        )
        newest = LagSweep.objects.values("cluster").annotate(last=Max("id")).values_list("last", flat=True)
        rows = LagSweep.objects.filter(id__in=list(newest)).values_list(
            "cluster", "at", "duration_ms", "error", "sweeps_total", "errors_total"
        )
        succeeded = LagSweep.objects.filter(error="").values("cluster").annotate(at=Max("at"))
        good = dict(succeeded.values_list("cluster", "at"))
        for cluster, at, duration_ms, error, total, failed in sorted(rows):
            duration.add_metric([cluster], duration_ms / 1000)
            up.add_metric([cluster], 0.0 if error else 1.0)
            last.add_metric([cluster], _seconds(at))
            if cluster in good:
                last_ok.add_metric([cluster], _seconds(good[cluster]))
            sweeps.add_metric([cluster], float(total))
            errors.add_metric([cluster], float(failed))
        yield from (duration, up, last, last_ok, sweeps, errors)

    def _partitions(self, sweep_ids: list[int]) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "streamdesk_kafka_partition_lag",
            "End offset minus committed offset of the group on the partition, at the last sample.",
            labels=["cluster", "group", "topic", "partition"],
        )
        committed = GaugeMetricFamily(
            "streamdesk_kafka_partition_committed_offset",
            "The group's committed offset on the partition, at the last sample.",
            labels=["cluster", "group", "topic", "partition"],
        )
        end = GaugeMetricFamily(
            "streamdesk_kafka_partition_end_offset",
            "The partition's end offset (high watermark), at the last sample.",
            labels=["cluster", "group", "topic", "partition"],
        )
        pending = GaugeMetricFamily(
            "streamdesk_jetstream_consumer_lag",
            "The JetStream consumer's pending messages (num_pending), at the last sample.",
            labels=["cluster", "stream", "consumer"],
        )
        ack_pending = GaugeMetricFamily(
            "streamdesk_jetstream_consumer_ack_pending",
            "Messages delivered to the JetStream consumer and not yet acknowledged, at the last sample.",
            labels=["cluster", "stream", "consumer"],
        )
        ack_floor = GaugeMetricFamily(
            "streamdesk_jetstream_consumer_ack_floor",
            "The JetStream consumer's ack floor (stream sequence), at the last sample.",
            labels=["cluster", "stream", "consumer"],
        )
        rows = (
            LagSample.objects.filter(sweep_id__in=sweep_ids)
            .values_list(
                "sweep__cluster",
                "series__kind",
                "series__consumer",
                "series__source",
                "series__partition",
                "committed",
                "end_offset",
                "pending",
                "ack_pending",
            )
            .order_by("sweep__cluster", "series__consumer", "series__source", "series__partition")
        )
        for cluster, kind, consumer, source, partition, off, high, waiting, unacked in rows.iterator(chunk_size=20_000):
            if kind == "kafka":
                labels = [cluster, consumer, source, str(partition)]
                known = sample_lag(off, high, None)
                if known is not None:
                    lag.add_metric(labels, float(known))
                if off is not None:
                    committed.add_metric(labels, float(off))
                if high is not None:
                    end.add_metric(labels, float(high))
            else:
                labels = [cluster, source, consumer]
                if waiting is not None:
                    pending.add_metric(labels, float(waiting))
                if unacked is not None:
                    ack_pending.add_metric(labels, float(unacked))
                if off is not None:
                    ack_floor.add_metric(labels, float(off))
        yield from (lag, committed, end, pending, ack_pending, ack_floor)

    def _statuses(self) -> Iterator[Metric]:
        group_status = GaugeMetricFamily(
            "streamdesk_kafka_group_status",
            "Burrow's status of the consumer group: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR.",
            labels=["cluster", "group"],
        )
        group_lag = GaugeMetricFamily(
            "streamdesk_kafka_group_lag",
            "The group's lag summed over the partitions whose lag is known.",
            labels=["cluster", "group"],
        )
        consumer_status = GaugeMetricFamily(
            "streamdesk_jetstream_consumer_status",
            "Burrow's status of the JetStream consumer: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR.",
            labels=["cluster", "stream", "consumer"],
        )
        counts = GaugeMetricFamily(
            "streamdesk_lag_consumers",
            "Groups and JetStream consumers of the cluster in each status.",
            labels=["cluster", "status"],
        )
        tally: Counter[tuple[str, str]] = Counter()
        rows = LagStatus.objects.order_by("cluster", "stream", "consumer").values_list(
            "cluster", "kind", "stream", "consumer", "status", "total_lag"
        )
        for cluster, kind, stream, consumer, status, total in rows.iterator(chunk_size=20_000):
            tally[(cluster, status)] += 1
            if kind == "kafka":
                group_status.add_metric([cluster, consumer], float(SEVERITY[status]))
                if total is not None:
                    group_lag.add_metric([cluster, consumer], float(total))
            else:
                consumer_status.add_metric([cluster, stream, consumer], float(SEVERITY[status]))
        for cluster in sorted({c for c, _ in tally}):
            for status in STATUSES[1:]:
                counts.add_metric([cluster, status], float(tally[(cluster, status)]))
        yield from (group_status, group_lag, consumer_status, counts)


# Collector classes instantiated for every scrape; other capabilities append theirs.
COLLECTORS: list[type[Collector]] = [LagCollector]


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in COLLECTORS:
        registry.register(collector())
    return registry


def render() -> bytes:
    """The text exposition of everything, read from the database now."""
    return generate_latest(scrape_registry())
