"""Which offsets the message browser reads, and which of what it read it shows.

Reads are bounded twice: by ``limit`` messages shown and, with a filter, by a
scan budget per request, so a needle that never matches cannot read a whole
topic. Several partitions share the limit; the answer is merged by time.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.clusters import ClusterConfig
from streams.kafka.client import FATAL_READ_CODES, client_config
from streams.kafka.convert import message_from
from streams.kafka.types import BrowseResult, KafkaMessage, ReadRange, Watermark

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SCAN_BUDGET = 5000
FROM_CHOICES = ("beginning", "end", "offset", "timestamp")
# librdkafka wants a group id even for assign(); this one is never joined nor committed to.
BROWSER_GROUP = "streamdesk-browser"


def read_ranges(
    mode: str,
    partitions: Sequence[int],
    watermarks: Mapping[int, Watermark],
    limit: int,
    *,
    offset: int | None = None,
    by_time: Mapping[int, int | None] | None = None,
    filtered: bool = False,
) -> list[ReadRange]:
    """The offsets to read in each partition for one page of the browser.

    ``end`` reads the newest records of each partition; the other modes read
    forward from their start. Without a filter each partition reads no more
    than its share of ``limit``; with one it scans up to its share of the budget.
    """
    if not partitions:
        return []
    share = max(1, math.ceil(limit / len(partitions)))
    span = max(share, math.ceil(SCAN_BUDGET / len(partitions))) if filtered else share
    ranges = []
    for partition in sorted(partitions):
        mark = watermarks.get(partition)
        if mark is None:
            continue
        if mode == "end":
            start = max(mark.low, mark.high - span)
            end = mark.high
        else:
            if mode == "offset":
                start = offset or 0
            elif mode == "timestamp":
                found = (by_time or {}).get(partition)
                start = mark.high if found is None or found < 0 else found
            else:
                start = mark.low
            start = min(max(start, mark.low), mark.high)
            end = min(mark.high, start + span)
        if start < end:
            ranges.append(ReadRange(partition=partition, start=start, end=end, keep=share))
    return ranges


def matches(key: bytes | None, value: bytes | None, needle: bytes | None) -> bool:
    """Substring match on the whole key and value, before any display cut."""
    if not needle:
        return True
    return needle in (key or b"") or needle in (value or b"")


def merge(messages: Iterable[KafkaMessage], limit: int, newest: bool) -> list[KafkaMessage]:
    """Messages of several partitions in time order, cut to ``limit`` from the right end."""
    ordered = sorted(messages, key=lambda m: (m.timestamp_ms or 0, m.partition, m.offset))
    return ordered[-limit:] if newest else ordered[:limit]


def read(
    config: ClusterConfig,
    topic: str,
    ranges: list[ReadRange],
    limit: int,
    newest: bool,
    needle: bytes | None,
    display_limit: int | None,
    budget: float,
) -> BrowseResult:
    deadline = time.monotonic() + budget
    result = BrowseResult()
    conf = client_config(config) | {
        "client.id": "streamdesk-browser",
        # librdkafka wants a group; it is never joined (assign, not subscribe) nor committed to.
        "group.id": BROWSER_GROUP,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        # The broker answers an empty fetch at once, so the end of a partition shows quickly.
        "fetch.wait.max.ms": 10,
    }
    consumer = Consumer(conf)
    try:
        consumer.assign([TopicPartition(topic, r.partition, r.start) for r in ranges])
        reading = {r.partition: r for r in ranges}
        kept: dict[int, deque[KafkaMessage]] = {r.partition: deque(maxlen=r.keep if newest else None) for r in ranges}

        def finish(partition: int) -> None:
            if reading.pop(partition, None) is not None:
                consumer.pause([TopicPartition(topic, partition)])

        while reading:
            left = deadline - time.monotonic()
            if left <= 0:
                result.complete = False
                break
            # consume() waits for a full batch or the timeout: keep the timeout short.
            for msg in consumer.consume(num_messages=500, timeout=min(left, 0.05)):
                partition = msg.partition()
                offset = msg.offset()
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF and partition is not None:
                        finish(partition)
                    elif err.fatal() or err.code() in FATAL_READ_CODES:
                        raise KafkaException(err)
                    continue
                window = reading.get(partition) if partition is not None else None
                if window is None or partition is None or offset is None:
                    continue
                if offset >= window.end:
                    finish(partition)
                    continue
                result.scanned += 1
                if matches(msg.key(), msg.value(), needle):
                    kept[partition].append(message_from(msg, display_limit))
                    if not newest and len(kept[partition]) >= window.keep:
                        finish(partition)
                        continue
                if offset + 1 >= window.end:
                    finish(partition)
    finally:
        consumer.close()
    result.messages = merge((m for q in kept.values() for m in q), limit, newest)
    return result
