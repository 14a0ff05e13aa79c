"""Purging a topic (DeleteRecords): everything, chosen partitions, or what lies before an offset or a time.

Kafka answers an offset past the end with OFFSET_OUT_OF_RANGE, so offsets are held to
each partition's high watermark; a time becomes offsets through ListOffsets (a
partition with no record at or after it is purged whole). Some brokers (tansu) drop
the connection on DeleteRecords: that is answered at once, not waited out. The request
itself is sent from a child process (``streams.kafka.isolated``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError

from streams.errors import BrokerUnavailable, InvalidInput
from streams.kafka import isolated
from streams.kafka.client import client_config, error_of

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
        try:
            lows, failures = isolated.delete_records(
                client_config(adapter.config), [(req.topic, p, o) for p, o in sorted(targets.items())], adapter.timeout
            )
        except isolated.ChildFailed as exc:
            raise BrokerUnavailable(
                f"DeleteRecords got no answer ({what}): {exc}. Some records may have been deleted; "
                "the topic page shows where each partition now starts."
            ) from exc
        for refused in failures.values():
            err = error_of(refused)
            if err is not None and err.code() in DROPPED:
                raise BrokerUnavailable(
                    f"DeleteRecords got no answer ({what}): the broker dropped the connection or named no "
                    f"leader; it may not support deleting records ({err.str()})."
                )
            raise refused
        return [Purged(partition=p, low=low) for p, low in sorted(lows.items())]

    try:
        # The child process starts in about 0.2 s before its request's own deadline begins.
        return await adapter.call(run, what=what, timeout=adapter.timeout + 2)
    finally:
        adapter.invalidate("wm", req.topic)
