"""One lag sweep per cluster: read every group's (or JetStream consumer's) position, store it, judge it.

Kafka: ListGroups, Metadata, one OffsetFetch per group (32 at the broker at once) and two ListOffsets for every
partition committed to, through the same adapter reads as the pages, always fresh, and a row for each partition
``group_lag`` would list (``committed_rows``). NATS: every consumer of
every stream (``all_consumers``). The clusters are read at the same time; then each sweep is written in one
transaction (a sweep row and its sample rows, inserted by ``executemany``: ``bulk``), evaluated (``evaluate``)
and its status changes recorded and alerted (``alerts``). A cluster that does not answer gets a sweep row with
the error and no samples: a gap, never zeros.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import transaction

from streams import adapters
from streams.aio import gather_strict
from streams.clusters import ClusterConfig
from streams.errors import StreamdeskError
from streams.kafka.groups import partitions_of, read_watermarks
from streams.kafka.lag import committed_rows, topics_of
from streams.lag import alerts, bulk, evaluate
from streams.lag.models import MAX_NAME, LagSample, LagSeries, LagSweep
from streams.lag.overview import all_consumers

logger = logging.getLogger("streams.lag")

SERIES_FIELDS = ("cluster", "kind", "consumer", "source", "partition")
SAMPLE_FIELDS = ("sweep_id", "series_id", "committed", "end_offset", "pending", "ack_pending")


class SampleRow(NamedTuple):
    consumer: str
    source: str
    partition: int
    committed: int | None
    end_offset: int | None = None
    pending: int | None = None
    ack_pending: int | None = None


@dataclass
class Reading:
    """What one cluster answered (or why it did not) at ``at``."""

    config: ClusterConfig
    at: datetime
    rows: list[SampleRow] = field(default_factory=list)
    subjects: int = 0
    error: str = ""
    warning: str = ""
    seconds: float = 0.0

    def __repr__(self) -> str:
        # asyncio.run() formats the repr of its task's result when it restores the SIGINT handler: a
        # sweep's rows written out in full would cost a second at 50,000 groups.
        return f"<Reading {self.config.slug} at {self.at.isoformat()}: {len(self.rows)} rows, error {self.error!r}>"


@dataclass(frozen=True)
class SweepResult:
    cluster: str
    ok: bool
    rows: int
    subjects: int
    seconds: float
    error: str
    changes: int


async def read_kafka(config: ClusterConfig) -> tuple[list[SampleRow], int, str]:
    adapter = adapters.kafka(config)
    md, listings = await gather_strict(adapter.metadata(fresh=True), adapter.groups(fresh=True))
    names = [g.group for g in listings]
    committed = await adapter.committed_for_sweep(names, md)
    topics = topics_of(committed.values())
    marks, warning = await read_watermarks(
        adapter, [md.topics[t] for t in sorted(topics) if t in md.topics], fresh=True
    )
    layout = partitions_of(md, topics)
    rows: list[SampleRow] = []
    subjects = 0
    for group in names:
        found = committed_rows(committed.get(group, {}), marks, layout)
        if found:
            subjects += 1
            rows.extend(SampleRow(group, topic, partition, offset, high) for topic, partition, offset, high in found)
    return rows, subjects, warning or ""


async def read_nats(config: ClusterConfig) -> tuple[list[SampleRow], int, str]:
    adapter = adapters.nats(config)
    # A sample is a fresh read: the few-second page cache must not stand in for it.
    adapter.invalidate("streams")
    adapter.invalidate("consumers")
    found = await all_consumers(adapter)
    rows = [
        SampleRow(c.name, c.stream, 0, c.ack_floor_stream_seq, None, c.num_pending, c.num_ack_pending) for c in found
    ]
    return rows, len(rows), ""


async def read_cluster(config: ClusterConfig, at: datetime) -> Reading:
    started = time.monotonic()
    reading = Reading(config, at)
    try:
        reader = read_kafka if config.kind == "kafka" else read_nats
        reading.rows, reading.subjects, reading.warning = await reader(config)
    except StreamdeskError as exc:
        reading.error = exc.message
    except Exception as exc:  # one cluster's failure is recorded, never stops the others
        logger.exception("lag sweep of %s failed", config.slug)
        reading.error = f"{exc.__class__.__name__}: {exc}"
    reading.seconds = time.monotonic() - started
    return reading


def _series_ids(cluster: str, kind: str, rows: Sequence[SampleRow]) -> dict[tuple[str, str, int], int]:
    def known() -> dict[tuple[str, str, int], int]:
        series = LagSeries.objects.filter(cluster=cluster, kind=kind)
        found = series.values_list("id", "consumer", "source", "partition")
        return {(c, s, p): i for i, c, s, p in found.iterator(chunk_size=20_000)}

    ids = known()
    missing = {(r.consumer, r.source, r.partition) for r in rows} - ids.keys()
    if missing:
        bulk.insert(
            LagSeries,
            SERIES_FIELDS,
            ((cluster, kind, c, s, p) for c, s, p in sorted(missing)),
            ignore_conflicts=True,  # another Celery worker's sweep of the same cluster may have just added them
        )
        ids = known()
    return ids


def store(reading: Reading) -> tuple[LagSweep, dict[int, tuple[evaluate.SeriesInfo, evaluate.Row]]]:
    """The sweep row and its samples, in one transaction; the sweep and what it stored (series id: the series and
    its sample row, as the evaluation reads them)."""
    config = reading.config
    rows = [r for r in reading.rows if len(r.consumer) <= MAX_NAME and len(r.source) <= MAX_NAME]
    with transaction.atomic():
        previous = (
            LagSweep.objects.filter(cluster=config.slug)
            .order_by("-id")
            .values_list("sweeps_total", "errors_total")
            .first()
        )
        sweeps_total, errors_total = previous or (0, 0)
        ids = _series_ids(config.slug, config.kind, rows) if not reading.error else {}
        sweep = LagSweep.objects.create(
            cluster=config.slug,
            kind=config.kind,
            at=reading.at,
            error=reading.error[:2000],
            warning=reading.warning[:2000],
            subjects=reading.subjects,
            rows=0 if reading.error else len(rows),
            sweeps_total=sweeps_total + 1,
            errors_total=errors_total + (1 if reading.error else 0),
        )
        fresh: dict[int, tuple[evaluate.SeriesInfo, evaluate.Row]] = {}
        if not reading.error:
            kind = config.kind
            for r in rows:
                series_id = ids[(r.consumer, r.source, r.partition)]
                info = evaluate.SeriesInfo(series_id, kind, r.consumer, r.source, r.partition)
                fresh[series_id] = (info, (sweep.pk, r.committed, r.end_offset, r.pending, r.ack_pending))
            bulk.insert(LagSample, SAMPLE_FIELDS, ((row[0], i, *row[1:]) for i, (_, row) in fresh.items()))
    return sweep, fresh


def sample(configs: Sequence[ClusterConfig], at: datetime | None = None) -> list[SweepResult]:
    """Sweep ``configs`` (read at the same time), then store, evaluate and alert each. ``at`` stamps the samples
    (tests and benchmarks pass one; default now)."""
    when = at or datetime.now(UTC)

    async def read_all() -> list[Reading]:
        return list(await asyncio.gather(*(read_cluster(c, when) for c in configs)))

    results = []
    with collector_paused():
        for reading in asyncio.run(read_all()) if configs else []:
            results.append(_settle(reading, when, time.monotonic()))
    return results


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a sweep is read, written and judged: the sweep allocates hundreds of
    thousands of small objects next to the held window, and each of its passes would walk them all (at 50,000
    groups some 1,500 passes cost 2.5 s of the read, and a third of the evaluation). Whatever cycles it leaves
    are collected once the collector resumes."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _settle(reading: Reading, when: datetime, started: float) -> SweepResult:
    """Store, evaluate and alert one cluster's reading."""
    sweep, fresh = store(reading)
    changes = 0
    if sweep.ok:
        evaluations = evaluate.evaluate_sweep(reading.config.slug, (sweep.pk, sweep.at), fresh)
        changes = alerts.apply(reading.config, evaluations, when)
    else:
        logger.warning("lag sweep of %s: %s", reading.config.slug, reading.error)
    # What must fit in the interval: the broker reads, the writes and the evaluation.
    sweep.duration_ms = (reading.seconds + time.monotonic() - started) * 1000
    LagSweep.objects.filter(pk=sweep.pk).update(duration_ms=sweep.duration_ms)
    return SweepResult(
        reading.config.slug, sweep.ok, sweep.rows, sweep.subjects, sweep.duration_ms / 1000, sweep.error, changes
    )


def sample_all(at: datetime | None = None) -> list[SweepResult]:
    return sample(adapters.clusters(fresh=True), at)
