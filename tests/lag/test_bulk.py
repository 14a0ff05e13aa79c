"""Rows written by ``executemany`` read back as the ORM wrote them: JSON, aware datetimes, NULLs, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.lag import bulk
from streams.lag.models import LagSeries, LagStatus

pytestmark = pytest.mark.django_db

FIELDS = tuple(f.attname for f in LagStatus._meta.concrete_fields if not f.primary_key)


def status(consumer: str, **values: object) -> list[object]:
    base = dict(cluster="c", kind="kafka", stream="", consumer=consumer, status="OK", severity=1, complete=1.0)
    base.update(total_lag=None, lag_unknown=0, partitions=3, uncommitted=0, ack_pending=None, topics=[])
    base.update(alerted_at=None, **values)
    return [base[name] for name in FIELDS]


def test_insert_update_delete_round_trip():
    at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    rows = [
        status(
            "g1",
            status="WARN",
            severity=2,
            total_lag=2**40,
            topics=["t-1", "ü"],
            at=at,
            since=at - timedelta(minutes=1),
        ),
        status("g2", complete=0.5, at=at, since=at),
    ]
    assert bulk.insert(LagStatus, FIELDS, rows) == 2
    found = {s.consumer: s for s in LagStatus.objects.all()}
    assert found["g1"].topics == ["t-1", "ü"] and found["g2"].topics == []
    assert found["g1"].at == at and found["g1"].since == at - timedelta(minutes=1)
    assert found["g1"].total_lag == 2**40 and found["g2"].total_lag is None and found["g2"].complete == 0.5
    assert found["g1"].alerted_at is None

    later = at + timedelta(seconds=30)
    assert bulk.update(LagStatus, ("total_lag", "topics", "alerted_at"), [(7, ["x"], later, found["g1"].pk)]) == 1
    g1 = LagStatus.objects.get(consumer="g1")
    assert (g1.total_lag, g1.topics, g1.alerted_at, g1.status) == (7, ["x"], later, "WARN")

    assert bulk.delete(LagStatus, [found["g2"].pk]) == 1
    assert list(LagStatus.objects.values_list("consumer", flat=True)) == ["g1"]


def test_insert_ignores_conflicts_when_told():
    fields = ("cluster", "kind", "consumer", "source", "partition")
    bulk.insert(LagSeries, fields, [("c", "kafka", "g", "t", 0)])
    bulk.insert(LagSeries, fields, [("c", "kafka", "g", "t", 0), ("c", "kafka", "g", "t", 1)], ignore_conflicts=True)
    assert sorted(LagSeries.objects.values_list("partition", flat=True)) == [0, 1]
