"""The /metrics text writer says exactly what prometheus_client's generate_latest says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from streams.lag import metrics
from streams.lag.exposition import text_exposition
from streams.lag.models import LagSample, LagSeries, LagStatus, LagSweep


class Hostile(Collector):
    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "streamdesk_test_lag", 'Help with \\ and\nnewline "quoted".', labels=["group", "tópic"]
        )
        gauge.add_metric(['a"b\\c\nd', "ünï"], 3)
        gauge.add_metric(["plain", ""], float("nan"))
        gauge.add_metric(["big", "x"], 1e21, timestamp=1700000000.5)
        gauge.add_metric(["neg", "y"], float("-inf"))
        yield gauge
        counter = CounterMetricFamily("streamdesk_test_sweeps", "Sweeps.", labels=["cluster"], created=1.5)
        counter.add_metric(["kafka"], 7, created=1700000000.0)
        yield counter
        yield InfoMetricFamily("streamdesk_test_build", "Build.", value={"version": "1.0"})
        yield GaugeMetricFamily("streamdesk_test_empty", "No samples.", labels=["cluster"])


def test_hostile_labels_names_and_values_are_written_as_generate_latest_writes_them() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Hostile())
    assert text_exposition(registry) == generate_latest(registry)


@pytest.mark.django_db
def test_a_scrape_of_samples_and_statuses_is_what_generate_latest_would_write() -> None:
    now = timezone.now()
    sweep = LagSweep.objects.create(cluster="kafka", kind="kafka", at=now)
    names = ['grp"1', "grp\\2", "grp\n3", "grüp-4"]
    series = LagSeries.objects.bulk_create(
        [
            LagSeries(cluster="kafka", kind="kafka", consumer=name, source="t", partition=p)
            for name in names
            for p in (0, 1)
        ]
    )
    LagSample.objects.bulk_create([LagSample(sweep=sweep, series=s, committed=1, end_offset=5) for s in series])
    LagStatus.objects.bulk_create(
        [
            LagStatus(
                cluster="kafka", kind="kafka", consumer=name, status="OK", severity=1, complete=1.0, at=now, since=now
            )
            for name in names
        ]
    )
    body = metrics.render()
    assert b'streamdesk_kafka_partition_lag{cluster="kafka",group="grp\\"1",partition="0",topic="t"} 4.0' in body
    assert body == generate_latest(metrics.scrape_registry())
