"""From stored samples to Burrow's statuses: the window of each partition, the roll-up of each group.

A partition's window is built (``status.window_from_samples``) from its samples in the cluster's last
``LAG_WINDOW`` successful sweeps, and judged as of the newest of those sweeps: the status says what the
samples say, whatever time it is now. A JetStream consumer is one partition whose offset is its ack floor
(stream sequence) and whose lag is ``num_pending``; its samples become Burrow's inputs with the end offset
``ack floor + num_pending``, so that end minus offset is the pending count.

A partition is judged only once two samples have read its offset (``MIN_SAMPLES``): from one sample, any lag
reads as STALL (Burrow's rule for a single commit), so every lagging consumer would turn ERR on the first
sweep after Streamdesk starts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings

from streams.lag.models import LagSample, LagSeries, LagSweep
from streams.lag.status import GroupStatus, PartitionStatus, evaluate_group, partition_status, window_from_samples
from streams.lag.status import LagSample as WindowSample

MIN_SAMPLES = 2
KAFKA = "kafka"
NATS = "nats"

# (stream, consumer): the stream is blank for a Kafka group, whose partitions may span topics.
SubjectKey = tuple[str, str]


@dataclass(frozen=True)
class SeriesInfo:
    id: int
    kind: str
    consumer: str
    source: str
    partition: int

    @property
    def subject(self) -> SubjectKey:
        return ("", self.consumer) if self.kind == KAFKA else (self.source, self.consumer)


@dataclass(frozen=True)
class Evaluation:
    """A group's (or JetStream consumer's) Burrow status and the facts the pages show beside it."""

    kind: str
    stream: str
    consumer: str
    group: GroupStatus
    at: datetime | None
    topics: tuple[str, ...] = ()
    uncommitted: int = 0
    ack_pending: int | None = None

    @property
    def key(self) -> SubjectKey:
        return (self.stream, self.consumer)

    @property
    def status(self) -> str:
        return self.group.status

    @property
    def total_lag(self) -> int | None:
        """Summed over the partitions whose lag is known; None when none is."""
        known = [p.current_lag for p in self.group.partitions if p.current_lag is not None]
        return sum(known) if known else None

    @property
    def lag_unknown(self) -> int:
        """Partitions with a commit whose lag is unknown (no end offset was ever read)."""
        return sum(1 for p in self.group.partitions if p.current_lag is None and p.end is not None)

    def as_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.group.as_api(), "as_of": self.at, "window_size": settings.LAG_WINDOW}
        if self.kind == NATS:
            data.update(stream=self.stream, consumer=self.consumer, ack_pending=self.ack_pending)
        return data


def not_found(kind: str, stream: str, consumer: str) -> Evaluation:
    return Evaluation(kind, stream, consumer, evaluate_group(consumer, None), None)


def recent_sweeps(cluster: str, count: int) -> list[tuple[int, datetime]]:
    """The cluster's last ``count`` successful sweeps, oldest first."""
    rows = LagSweep.objects.filter(cluster=cluster, error="").order_by("-at", "-id").values_list("id", "at")[:count]
    return list(reversed(list(rows)))


def series_of(cluster: str, *, consumers: Iterable[str] | None = None) -> dict[int, SeriesInfo]:
    found = LagSeries.objects.filter(cluster=cluster)
    if consumers is not None:
        found = found.filter(consumer__in=list(consumers))
    return {row[0]: SeriesInfo(*row) for row in found.values_list("id", "kind", "consumer", "source", "partition")}


def window_sample(kind: str, t_ms: int, committed: int | None, end: int | None, pending: int | None) -> WindowSample:
    if kind == NATS:
        # The ack floor is the offset; the end is put where end minus offset is the pending count.
        end = None if committed is None or pending is None else committed + pending
    return {"t_ms": t_ms, "committed": committed, "end": end}


Row = tuple[int, int | None, int | None, int | None, int | None]


def _load(sweeps: Sequence[tuple[int, datetime]], series: dict[int, SeriesInfo], only: bool) -> dict[int, list[Row]]:
    """Rows per series, oldest sweep first: (sweep id, committed, end offset, pending, ack pending)."""
    rows = LagSample.objects.filter(sweep_id__in=[sweep_id for sweep_id, _ in sweeps])
    if only:
        rows = rows.filter(series_id__in=list(series))
    found: dict[int, list[Row]] = defaultdict(list)
    for series_id, *row in rows.values_list(
        "series_id", "sweep_id", "committed", "end_offset", "pending", "ack_pending"
    ).iterator(chunk_size=20_000):
        found[series_id].append(tuple(row))  # type: ignore[arg-type]
    order = {sweep_id: i for i, (sweep_id, _) in enumerate(sweeps)}
    for kept in found.values():
        kept.sort(key=lambda r: order[r[0]])
    return found


def evaluate(
    cluster: str,
    series: dict[int, SeriesInfo] | None = None,
    sweeps: Sequence[tuple[int, datetime]] | None = None,
) -> dict[SubjectKey, Evaluation]:
    """Every subject with samples in the newest of ``sweeps`` (default: the cluster's recent successful ones),
    restricted to ``series`` when given."""
    if sweeps is None:
        sweeps = recent_sweeps(cluster, settings.LAG_WINDOW)
    if not sweeps:
        return {}
    only = series is not None
    if series is None:
        series = series_of(cluster)
    return _judge(sweeps, series, _load(sweeps, series, only))


@dataclass
class Window:
    """The samples of a cluster's last successful sweeps, as this process last evaluated them."""

    sweeps: list[tuple[int, datetime]]
    rows: dict[int, list[Row]]


# Per cluster, in the process that sweeps: the next sweep's evaluation starts from it instead of reading the
# window back from the database, while it is still the window before that sweep.
_held: dict[str, Window] = {}


def forget() -> None:
    _held.clear()


def evaluate_sweep(
    cluster: str, sweep: tuple[int, datetime], fresh: dict[int, tuple[SeriesInfo, Row]]
) -> dict[SubjectKey, Evaluation]:
    """``evaluate(cluster)`` just after the successful sweep ``sweep`` stored the samples ``fresh`` (series id:
    its series and its row). The earlier sweeps' samples come from the window this process held after its last
    evaluation when the stored sweeps before this one are exactly the newest ones it holds; from the database
    otherwise (another Celery worker swept in between, the process restarted, a sweep was deleted)."""
    sweeps = recent_sweeps(cluster, settings.LAG_WINDOW)
    held = _held.pop(cluster, None)
    if not sweeps or sweeps[-1][0] != sweep[0]:
        return evaluate(cluster, sweeps=sweeps)  # another sweep is newer: judge what is stored
    earlier = sweeps[:-1]
    if (
        held is not None
        and len(held.sweeps) >= len(earlier)
        and held.sweeps[len(held.sweeps) - len(earlier) :] == earlier
    ):
        dropped = {sweep_id for sweep_id, _ in held.sweeps[: len(held.sweeps) - len(earlier)]}
        rows = held.rows
        if dropped:
            for series_id in list(rows):
                kept = rows[series_id]
                start = 0
                while start < len(kept) and kept[start][0] in dropped:
                    start += 1
                if start == len(kept):
                    del rows[series_id]
                elif start:
                    rows[series_id] = kept[start:]
    else:
        rows = _load(earlier, {}, False) if earlier else {}
    for series_id, (_, row) in fresh.items():
        rows.setdefault(series_id, []).append(row)
    _held[cluster] = Window(list(sweeps), rows)
    return _judge(sweeps, {series_id: info for series_id, (info, _) in fresh.items()}, rows)


def _judge(
    sweeps: Sequence[tuple[int, datetime]], series: dict[int, SeriesInfo], found: dict[int, list[Row]]
) -> dict[SubjectKey, Evaluation]:
    window_size = settings.LAG_WINDOW
    order = {sweep_id: i for i, (sweep_id, _) in enumerate(sweeps)}
    times_ms = [int(at.timestamp() * 1000) for _, at in sweeps]
    latest_id, latest_at = sweeps[-1]
    now_ms = times_ms[-1]
    allowed = settings.LAG_ALLOWED_LAG
    partitions: dict[SubjectKey, list[tuple[SeriesInfo, PartitionStatus, bool]]] = defaultdict(list)
    ack_pending: dict[SubjectKey, int | None] = {}
    for series_id, info in series.items():
        rows = found.get(series_id)
        if not rows:
            continue
        if rows[-1][0] != latest_id:
            continue  # not in the newest sweep: gone
        samples = [window_sample(info.kind, times_ms[order[s]], c, e, p) for s, c, e, p, _ in rows]
        window = window_from_samples(samples, window_size)
        result = partition_status(info.source, info.partition, window, now_ms, allowed)
        if sum(1 for s in samples if s["committed"] is not None) < MIN_SAMPLES:
            result = replace(result, status="OK")
        uncommitted = rows[-1][1] is None
        partitions[info.subject].append((info, result, uncommitted))
        if info.kind == NATS:
            ack_pending[info.subject] = rows[-1][4]
    return {key: _subject(key, rows, latest_at, ack_pending.get(key)) for key, rows in sorted(partitions.items())}


def _subject(
    key: SubjectKey, rows: list[tuple[SeriesInfo, PartitionStatus, bool]], at: datetime, ack_pending: int | None
) -> Evaluation:
    rows.sort(key=lambda r: (r[0].source, r[0].partition))
    kind = rows[0][0].kind
    stream, consumer = key
    group = evaluate_group(consumer, [status for _, status, _ in rows])
    topics = tuple(sorted({info.source for info, _, _ in rows})) if kind == KAFKA else ()
    uncommitted = sum(1 for *_, none in rows if none)
    return Evaluation(kind, stream, consumer, group, at, topics, uncommitted, ack_pending)


def evaluate_one(cluster: str, kind: str, stream: str, consumer: str) -> Evaluation:
    """One group's (or JetStream consumer's) status from the samples; NOTFOUND without any."""
    series = {
        i: info
        for i, info in series_of(cluster, consumers=[consumer]).items()
        if info.kind == kind and info.subject == (stream, consumer)
    }
    if not series:
        return not_found(kind, stream, consumer)
    found = evaluate(cluster, series)
    return found.get((stream, consumer)) or not_found(kind, stream, consumer)
