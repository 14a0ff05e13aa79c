"""Downsampling and retention: raw samples older than the raw retention fold into buckets, old buckets go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.lag import history
from streams.lag.models import LagRollup, LagSample, LagSeries, LagSweep

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BUCKET = 300


def raw_sweep(at: datetime, rows: dict[LagSeries, tuple[int | None, int | None]], *, error: str = "") -> LagSweep:
    sweep = LagSweep.objects.create(cluster="kafka", kind="kafka", at=at, error=error)
    if not error:
        LagSample.objects.bulk_create(
            LagSample(sweep=sweep, series=series, committed=committed, end_offset=end)
            for series, (committed, end) in rows.items()
        )
    return sweep


@pytest.fixture
def lag_settings(settings):
    settings.LAG_RAW_HOURS = 24
    settings.LAG_ROLLUP_SECONDS = BUCKET
    settings.LAG_ROLLUP_DAYS = 30
    settings.LAG_SAMPLE_SECONDS = 30
    return settings


def test_old_samples_fold_into_buckets_and_recent_ones_stay(lag_settings):
    p0 = LagSeries.objects.create(cluster="kafka", kind="kafka", consumer="billing", source="orders", partition=0)
    p1 = LagSeries.objects.create(cluster="kafka", kind="kafka", consumer="billing", source="orders", partition=1)
    start = datetime(2026, 2, 28, 10, 0, 0, tzinfo=UTC)  # 26 h before NOW, on a bucket boundary
    for i in range(20):  # two buckets of ten samples, 30 s apart
        at = start + timedelta(seconds=30 * i)
        if i == 4:
            raw_sweep(at, {}, error="broker down")
            continue
        raw_sweep(at, {p0: (i, 10 + 2 * i), p1: (None if i < 3 else 5, 8)})
    recent = NOW - timedelta(hours=1)
    raw_sweep(recent, {p0: (100, 104), p1: (7, 8)})

    done = history.downsample(NOW)
    assert (done.buckets, done.sweeps) == (2, 20)
    assert LagSweep.objects.count() == 1 and LagSample.objects.count() == 2
    rollups = {(r.series_id, r.t): r for r in LagRollup.objects.all()}
    first = rollups[(p0.pk, start)]
    # Partition 0 at sample i: committed i, end 10 + 2i, lag 10 + i; nine samples (one sweep failed).
    assert (first.committed, first.end_offset, first.lag_max, first.samples) == (9, 28, 19, 9)
    second = rollups[(p1.pk, start + timedelta(seconds=BUCKET))]
    assert (second.committed, second.end_offset, second.lag_max, second.samples) == (5, 8, 3, 10)
    assert rollups[(p1.pk, start)].lag_max == 3  # the samples without a commit have no lag

    points = history.history("kafka", "kafka", "", "billing", NOW - timedelta(days=2), NOW)
    lags = [(p.t, p.lag) for p in points]
    # Bucket points (summed highest lags of the partitions), a gap where the samples stop, then the raw sample.
    assert lags[0] == (start, 19 + 3)
    assert lags[1] == (start + timedelta(seconds=BUCKET), 29 + 3)
    assert lags[2][1] is None
    assert lags[-1] == (recent, 4 + 1)

    # Running it again finds nothing more to fold.
    again = history.downsample(NOW)
    assert (again.buckets, again.samples) == (0, 0) and LagRollup.objects.count() == 4


def test_old_buckets_and_unused_series_are_dropped(lag_settings):
    kept = LagSeries.objects.create(cluster="kafka", kind="kafka", consumer="a", source="t", partition=0)
    gone = LagSeries.objects.create(cluster="kafka", kind="kafka", consumer="b", source="t", partition=0)
    LagRollup.objects.create(series=kept, t=NOW - timedelta(days=29), lag_max=1, samples=1)
    LagRollup.objects.create(series=gone, t=NOW - timedelta(days=31), lag_max=1, samples=1)
    done = history.downsample(NOW)
    assert done.rollups_dropped == 1 and done.series_dropped == 1
    assert list(LagSeries.objects.values_list("consumer", flat=True)) == ["a"]


def test_a_bucket_still_within_the_raw_retention_is_left_whole(lag_settings):
    series = LagSeries.objects.create(cluster="kafka", kind="kafka", consumer="c", source="t", partition=0)
    edge = NOW - timedelta(hours=24)  # NOW is on a bucket boundary, so this bucket starts exactly here
    raw_sweep(edge - timedelta(seconds=30), {series: (1, 2)})
    raw_sweep(edge + timedelta(seconds=30), {series: (1, 3)})
    done = history.downsample(NOW)
    assert done.buckets == 1 and LagSample.objects.count() == 1
