"""Lag over time from the samples: history points, sparklines, downsampling and retention.

A point's lag is the group's lag at one sweep: the sum over its partitions of the end offset minus the committed
offset (at least 0), or a JetStream consumer's pending count. It is None (a gap) when the sweep failed, when the
subject was missing from a sweep after it had been seen, when a committed partition's end offset was not read,
and wherever the samples stop for longer than two and a half intervals (beat stopped, say): a gap is never
drawn as zero.

Samples older than ``STREAMDESK_LAG_RAW_HOURS`` are folded into buckets of ``STREAMDESK_LAG_ROLLUP_SECONDS``
(the highest offsets, counts and lag of each series in the bucket), and buckets older than
``STREAMDESK_LAG_ROLLUP_DAYS`` are dropped. A bucket's point is the sum of its partitions' highest lags: the
worst the bucket saw, or a little above it when the partitions peaked at different times.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, Case, Count, Exists, F, Max, OuterRef, Value, When
from django.db.models.functions import Greatest

from streams.lag.evaluate import KAFKA, SubjectKey
from streams.lag.models import LagRollup, LagSample, LagSeries, LagSweep

logger = logging.getLogger("streams.lag")

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
SPARK_SAMPLES = 40
GAP_FACTOR = 2.5


@dataclass(frozen=True)
class Point:
    t: datetime
    lag: int | None

    def as_api(self) -> dict[str, Any]:
        return {"t": self.t, "lag": self.lag}


def sample_lag(committed: int | None, end: int | None, pending: int | None) -> int | None:
    """One row's lag: JetStream's pending count, or Kafka's end minus committed (at least 0); None when unknown."""
    if pending is not None:
        return pending
    if committed is None or end is None:
        return None
    return max(end - committed, 0)


def _sum(lags: list[int | None]) -> int | None:
    if not lags or any(lag is None for lag in lags):
        return None
    return sum(lag for lag in lags if lag is not None)


def subject_series(cluster: str, kind: str, stream: str, consumer: str) -> list[int]:
    found = LagSeries.objects.filter(cluster=cluster, kind=kind, consumer=consumer)
    if kind != KAFKA:
        found = found.filter(source=stream)
    return list(found.values_list("id", flat=True))


def _committed_lags(rows: Iterable[tuple[Any, int | None, int | None, int | None]]) -> dict[Any, list[int | None]]:
    """Lag per key from (key, committed, end, pending) rows; partitions without a commit are left out."""
    found: dict[Any, list[int | None]] = defaultdict(list)
    for key, committed, end, pending in rows:
        if committed is None and pending is None:
            found.setdefault(key, [])
            continue
        found[key].append(sample_lag(committed, end, pending))
    return found


def raw_points(cluster: str, series_ids: Sequence[int], since: datetime, until: datetime) -> list[Point]:
    sweeps = list(
        LagSweep.objects.filter(cluster=cluster, at__gte=since, at__lte=until)
        .order_by("at", "id")
        .values_list("id", "at", "error")
    )
    if not sweeps or not series_ids:
        return []
    ids = [s[0] for s in sweeps]
    rows = LagSample.objects.filter(series_id__in=list(series_ids), sweep_id__gte=min(ids), sweep_id__lte=max(ids))
    lags = _committed_lags(rows.values_list("sweep_id", "committed", "end_offset", "pending"))
    points: list[Point] = []
    last_seen = 0
    for sweep_id, at, error in sweeps:
        if sweep_id in lags:
            points.append(Point(at, _sum(lags[sweep_id])))
            last_seen = len(points)
        elif points:
            # After the subject was first seen: a failed sweep, or a sweep it was missing from.
            points.append(Point(at, None))
            if error:
                last_seen = len(points)
    # Sweeps since the subject went missing (it is gone) end the line rather than draw a gap; failures stay.
    return points[:last_seen]


def rollup_points(series_ids: Sequence[int], since: datetime, before: datetime) -> list[Point]:
    rows = (
        LagRollup.objects.filter(series_id__in=list(series_ids), t__gte=since, t__lt=before)
        .order_by("t")
        .values_list("t", "lag_max")
    )
    by_t: dict[datetime, list[int | None]] = defaultdict(list)
    for t, lag in rows:
        by_t[t].append(lag)
    return [Point(t, _sum(lags)) for t, lags in sorted(by_t.items())]


def with_gaps(points: list[Point], step_seconds: float) -> list[Point]:
    """A None point wherever the samples stop for longer than GAP_FACTOR steps."""
    out: list[Point] = []
    limit = timedelta(seconds=step_seconds * GAP_FACTOR)
    for point in points:
        if out and out[-1].lag is not None and point.t - out[-1].t > limit:
            out.append(Point(out[-1].t + timedelta(seconds=step_seconds), None))
        out.append(point)
    return out


def history(cluster: str, kind: str, stream: str, consumer: str, since: datetime, until: datetime) -> list[Point]:
    """The subject's lag from ``since`` to ``until``: buckets where the raw samples were folded, then samples."""
    series_ids = subject_series(cluster, kind, stream, consumer)
    if not series_ids:
        return []
    first_raw = LagSweep.objects.filter(cluster=cluster).order_by("at").values_list("at", flat=True).first()
    folded_until = min(until, first_raw) if first_raw else until
    older = rollup_points(series_ids, since, folded_until) if since < folded_until else []
    recent = raw_points(cluster, series_ids, since, until)
    points = with_gaps(older, settings.LAG_ROLLUP_SECONDS)
    if points and recent:
        points = with_gaps([*points, recent[0]], settings.LAG_ROLLUP_SECONDS)[:-1]
    return points + with_gaps(recent, settings.LAG_SAMPLE_SECONDS)


def sparklines(
    cluster: str, subjects: Iterable[SubjectKey], kind: str, count: int = SPARK_SAMPLES
) -> dict[SubjectKey, list[int | None]]:
    """The lag of each subject at the cluster's last ``count`` sweeps, oldest first (None: a gap)."""
    wanted = set(subjects)
    if not wanted:
        return {}
    sweeps = list(LagSweep.objects.filter(cluster=cluster).order_by("-at", "-id").values_list("id", "error")[:count])[
        ::-1
    ]
    if not sweeps:
        return {}
    series = LagSeries.objects.filter(cluster=cluster, kind=kind, consumer__in=sorted({c for _, c in wanted}))
    subject_of: dict[int, SubjectKey] = {}
    for series_id, consumer, source in series.values_list("id", "consumer", "source"):
        key = ("", consumer) if kind == KAFKA else (source, consumer)
        if key in wanted:
            subject_of[series_id] = key
    rows = LagSample.objects.filter(sweep_id__in=[s[0] for s in sweeps], series_id__in=list(subject_of))
    lags = _committed_lags(
        ((subject_of[series_id], sweep_id), committed, end, pending)
        for series_id, sweep_id, committed, end, pending in rows.values_list(
            "series_id", "sweep_id", "committed", "end_offset", "pending"
        )
    )
    out: dict[SubjectKey, list[int | None]] = {}
    for key in wanted:
        line = [_sum(lags[(key, sweep_id)]) if (key, sweep_id) in lags else None for sweep_id, _ in sweeps]
        while line and line[0] is None:
            line.pop(0)
        out[key] = line
    return out


# -- downsampling and retention ------------------------------------------------------------------------------------


def _row_lag() -> Case:
    return Case(
        When(pending__isnull=False, then=F("pending")),
        When(
            committed__isnull=False,
            end_offset__isnull=False,
            then=Greatest(F("end_offset") - F("committed"), Value(0)),
        ),
        default=Value(None),
        output_field=BigIntegerField(),
    )


def _bucket(at: datetime, seconds: int) -> datetime:
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


@dataclass(frozen=True)
class Pruned:
    buckets: int
    samples: int
    sweeps: int
    rollups_dropped: int
    series_dropped: int


def downsample(now: datetime | None = None) -> Pruned:
    """Fold every whole bucket older than the raw retention into rollups, drop old rollups and unused series."""
    now = now or datetime.now(UTC)
    size = settings.LAG_ROLLUP_SECONDS
    boundary = _bucket(now - timedelta(hours=settings.LAG_RAW_HOURS), size)
    old = LagSweep.objects.filter(at__lt=boundary).values_list("id", "at")
    buckets: dict[datetime, list[int]] = defaultdict(list)
    for sweep_id, at in old.iterator():
        buckets[_bucket(at, size)].append(sweep_id)
    folded = sweeps = 0
    for start, ids in sorted(buckets.items()):
        with transaction.atomic():
            samples = LagSample.objects.filter(sweep_id__in=ids)
            aggregated = samples.values("series_id").annotate(
                hi_committed=Max("committed"),
                hi_end=Max("end_offset"),
                hi_pending=Max("pending"),
                hi_ack_pending=Max("ack_pending"),
                lag=Max(_row_lag()),
                n=Count("id"),
            )
            LagRollup.objects.bulk_create(
                [
                    LagRollup(
                        series_id=row["series_id"],
                        t=start,
                        committed=row["hi_committed"],
                        end_offset=row["hi_end"],
                        pending=row["hi_pending"],
                        ack_pending=row["hi_ack_pending"],
                        lag_max=row["lag"],
                        samples=row["n"],
                    )
                    for row in aggregated
                ],
                batch_size=5000,
                ignore_conflicts=True,
            )
            folded += samples.delete()[0]
            sweeps += LagSweep.objects.filter(id__in=ids).delete()[0]
    dropped = LagRollup.objects.filter(t__lt=now - timedelta(days=settings.LAG_ROLLUP_DAYS)).delete()[0]
    unused = LagSeries.objects.filter(
        ~Exists(LagSample.objects.filter(series_id=OuterRef("pk"))),
        ~Exists(LagRollup.objects.filter(series_id=OuterRef("pk"))),
    )
    series_dropped = unused.delete()[0]
    return Pruned(len(buckets), folded, sweeps, dropped, series_dropped)
