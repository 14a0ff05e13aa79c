"""Purging a topic (DeleteRecords): everything, chosen partitions, or what lies before an offset or a time.

Kafka answers an offset past the end with OFFSET_OUT_OF_RANGE, so offsets are held to
each partition's high watermark; a time becomes offsets through ListOffsets (a
partition with no record at or after it is purged whole). Some brokers (tansu) drop
the connection on DeleteRecords: that is answered at once, not waited out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, TopicPartition

from streams.errors import BrokerUnavailable, InvalidInput
from streams.kafka.client import error_of, gather_futures

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter

# librdkafka's "everything up to the high watermark".
OFFSET_END = -1
DROPPED = frozenset({KafkaError._TRANSPORT, KafkaError._NOENT})


@dataclass(frozen=True)
class PurgeRequest:
    topic: str
    partitions: tuple[int, ...] | None = None
    before_offset: int | None = None
    before_time: datetime | None = None

    @property
    def params(self) -> dict[str, Any]:
        before: dict[str, Any] | None = None
        if self.before_offset is not None:
            before = {"offset": self.before_offset}
        elif self.before_time is not None:
            before = {"time": self.before_time.isoformat()}
        return {"partitions": list(self.partitions) if self.partitions is not None else None, "before": before}


@dataclass(frozen=True)
class Purged:
    partition: int
    low: int


async def purge(adapter: KafkaAdapter, req: PurgeRequest) -> list[Purged]:
    """Delete the records ``req`` names; the answer is each partition's new low watermark."""
    info = await adapter.topic(req.topic)
    known = info.partition_ids
    chosen = list(req.partitions) if req.partitions is not None else known
    unknown = [p for p in chosen if p not in known]
    if unknown:
        raise InvalidInput(f"{req.topic} has no partition {unknown[0]} (it has {len(known)}).", field="partitions")
    targets: dict[int, int] = dict.fromkeys(chosen, OFFSET_END)
    if req.before_offset is not None:
        marks = await adapter.watermarks([info], fresh=True)
        for p in chosen:
            mark = marks.get((req.topic, p))
            high = mark.high if mark is not None else req.before_offset
            targets[p] = min(req.before_offset, high)
    elif req.before_time is not None:
        found = await adapter.offsets_for_time(req.topic, chosen, int(req.before_time.timestamp() * 1000))
        targets = {p: OFFSET_END if (offset := found.get(p)) is None else offset for p in chosen}
    what = f"purge {req.topic}"

    def run() -> list[Purged]:
        futures = adapter.admin.delete_records(
            [TopicPartition(req.topic, p, o) for p, o in sorted(targets.items())],
            request_timeout=adapter.timeout,
            operation_timeout=adapter.timeout,
        )
        results, failures = gather_futures(futures, time.monotonic() + adapter.timeout)
        for exc in failures.values():
            err = error_of(exc)
            if err is not None and err.code() in DROPPED:
                raise BrokerUnavailable(
                    f"DeleteRecords got no answer ({what}): the broker dropped the connection or named no "
                    f"leader; it may not support deleting records ({err.str()})."
                )
            raise exc
        return sorted(
            (Purged(partition=tp.partition, low=int(answer.low_watermark)) for tp, answer in results.items()),
            key=lambda p: p.partition,
        )

    try:
        return await adapter.call(run, what=what)
    finally:
        adapter.invalidate("wm", req.topic)
