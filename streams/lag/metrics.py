"""``/metrics``: lag, statuses and the sampler's own health in Prometheus' text format, from the database.

Every scrape builds a fresh ``CollectorRegistry`` with collectors that read the latest samples and statuses
(no global, mutable gauges; no broker round trip): the partition rows of each cluster's last successful
sweep, every group's and JetStream consumer's last evaluated status, and each cluster's last sweep. Statuses
are numbers as in Burrow (NOTFOUND 0, OK 1, WARN 2, ERR 3). Other capabilities add their families by
appending a collector class to ``COLLECTORS`` (the managed consumers' counters are one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Max
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from streams.lag.alerts import SEVERITY
from streams.lag.exposition import text_exposition
from streams.lag.history import sample_lag
from streams.lag.models import LagSample, LagSeries, LagStatus, LagSweep
from streams.workers.metrics import WorkerCollector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
STATUSES = ("NOTFOUND", "OK", "WARN", "ERR")


def _seconds(at: datetime) -> float:
    return at.timestamp()


def _put(family: Metric, value: float, **labels: str) -> None:
    """``add_metric`` without its per-call zip: a large scrape adds tens of thousands of samples."""
    family.samples.append(Sample(family.name, labels, float(value), None, None, None))


def _latest_rows(sweep_ids: list[int]) -> list[tuple[Any, ...]]:
    """(cluster, kind, consumer, source, partition, committed, end, pending, ack pending) of the sweeps' samples.

    One plain join: the ORM's row building doubles the cost of the largest read a scrape makes."""
    if not sweep_ids:
        return []
    sample = connection.ops.quote_name(LagSample._meta.db_table)
    series = connection.ops.quote_name(LagSeries._meta.db_table)
    marks = ", ".join(["%s"] * len(sweep_ids))
    # Only quoted table names and placeholders are put into the text; the ids are parameters.
    columns = "se.cluster, se.kind, se.consumer, se.source, se.partition, sa.committed, sa.end_offset, sa.pending"
    where = f"sa.sweep_id IN ({marks})"
    sql = f"SELECT {columns}, sa.ack_pending FROM {sample} sa JOIN {series} se ON se.id = sa.series_id WHERE {where}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, sweep_ids)
        return list(cursor.fetchall())


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
        # The end offset belongs to the partition, not to each group reading it: one series per partition.
        # Committed offsets are end minus lag; leaving them out halves a large scrape.
        end = GaugeMetricFamily(
            "streamdesk_kafka_partition_end_offset",
            "The partition's end offset (high watermark), at the last sample.",
            labels=["cluster", "topic", "partition"],
        )
        ends: set[tuple[str, str, int]] = set()
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
        for cluster, kind, consumer, source, partition, off, high, waiting, unacked in _latest_rows(sweep_ids):
            if kind == "kafka":
                known = sample_lag(off, high, None)
                if known is not None:
                    _put(lag, known, cluster=cluster, group=consumer, topic=source, partition=str(partition))
                if high is not None and (cluster, source, partition) not in ends:
                    ends.add((cluster, source, partition))
                    _put(end, high, cluster=cluster, topic=source, partition=str(partition))
            else:
                if waiting is not None:
                    _put(pending, waiting, cluster=cluster, stream=source, consumer=consumer)
                if unacked is not None:
                    _put(ack_pending, unacked, cluster=cluster, stream=source, consumer=consumer)
                if off is not None:
                    _put(ack_floor, off, cluster=cluster, stream=source, consumer=consumer)
        yield from (lag, end, pending, ack_pending, ack_floor)

    def _statuses(self) -> Iterator[Metric]:
        group_status = GaugeMetricFamily(
            "streamdesk_kafka_group_status",
            "Burrow's status of the consumer group: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR.",
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
        rows = LagStatus.objects.values_list("cluster", "kind", "stream", "consumer", "status")
        for cluster, kind, stream, consumer, status in rows.iterator(chunk_size=20_000):
            tally[(cluster, status)] += 1
            if kind == "kafka":
                # A group's lag is sum by (cluster, group) (streamdesk_kafka_partition_lag): not repeated here,
                # since every series costs a large scrape its share.
                _put(group_status, SEVERITY[status], cluster=cluster, group=consumer)
            else:
                _put(consumer_status, SEVERITY[status], cluster=cluster, stream=stream, consumer=consumer)
        for cluster in sorted({c for c, _ in tally}):
            for status in STATUSES[1:]:
                counts.add_metric([cluster, status], float(tally[(cluster, status)]))
        yield from (group_status, consumer_status, counts)


# Collector classes instantiated for every scrape.
COLLECTORS: list[type[Collector]] = [LagCollector, WorkerCollector]


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in COLLECTORS:
        registry.register(collector())
    return registry


def render() -> bytes:
    """The text exposition of everything, read from the database now."""
    return text_exposition(scrape_registry())
