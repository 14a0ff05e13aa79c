"""Which offsets the message browser reads, and which of what it read it shows.

Reads are bounded twice: by ``limit`` messages shown and, with a filter, by a
scan budget per request, so a needle that never matches cannot read a whole
topic. Several partitions share the limit; the answer is merged by time.

Offsets are not records: a transaction's commit or abort marker takes an offset
and is never delivered, ``read_committed`` skips aborted records, compaction
leaves holes. A window of N offsets may so hold fewer than N records; an
unfiltered read grows its window (back for the newest records, forward
otherwise) until it has its share or reaches the end of the partition.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.clusters import ClusterConfig
from streams.kafka.client import FATAL_READ_CODES, client_config
from streams.kafka.convert import message_from
from streams.kafka.types import BrowseResult, KafkaMessage, ReadRange, Watermark

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SCAN_BUDGET = 5000
FROM_CHOICES = ("beginning", "end", "offset", "timestamp")
ISOLATION_CHOICES = ("read_committed", "read_uncommitted")
DEFAULT_ISOLATION = "read_committed"
# Passes a read makes at most while its windows hold too few records.
MAX_PASSES = 8
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
            floor = ceiling = None
            if not filtered:
                floor, ceiling = (mark.low, None) if mode == "end" else (None, mark.high)
            ranges.append(
                ReadRange(partition=partition, start=start, end=end, keep=share, floor=floor, ceiling=ceiling)
            )
    return ranges


# (key, value) as read -> the (key, value) a filter searches in (the masked view, for some readers).
View = Callable[[bytes | None, bytes | None], tuple[bytes | None, bytes | None]]


def matches(key: bytes | None, value: bytes | None, needle: bytes | None, view: View | None = None) -> bool:
    """Substring match on the whole key and value, before any display cut."""
    if not needle:
        return True
    if view is not None:
        key, value = view(key, value)
    return needle in (key or b"") or needle in (value or b"")


def merge(messages: Iterable[KafkaMessage], limit: int, newest: bool) -> list[KafkaMessage]:
    """Messages of several partitions in time order, cut to ``limit`` from the right end."""
    ordered = sorted(messages, key=lambda m: (m.timestamp_ms or 0, m.partition, m.offset))
    return ordered[-limit:] if newest else ordered[:limit]


def grown(window: ReadRange, found: int, newest: bool) -> ReadRange | None:
    """The next window of a partition whose last one held ``found`` (< keep) records, or None.

    It is twice as wide as the last, so a long run of markers or aborted records
    takes a few passes, not one per record.
    """
    width = max(window.end - window.start, 1) * 2
    wanted = window.keep - found
    if wanted <= 0:
        return None
    if newest:
        if window.floor is None or window.start <= window.floor:
            return None
        start = max(window.floor, window.start - width)
        return ReadRange(window.partition, start, window.start, wanted, floor=window.floor)
    if window.ceiling is None or window.end >= window.ceiling:
        return None
    end = min(window.ceiling, window.end + width)
    return ReadRange(window.partition, window.end, end, wanted, ceiling=window.ceiling)


def read(
    config: ClusterConfig,
    topic: str,
    ranges: list[ReadRange],
    limit: int,
    newest: bool,
    needle: bytes | None,
    display_limit: int | None,
    budget: float,
    isolation: str = DEFAULT_ISOLATION,
    view: View | None = None,
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
        # read_committed stops at the last stable offset and drops aborted records;
        # control records (transaction markers) are never delivered either way.
        "isolation.level": isolation,
    }
    consumer = Consumer(conf)
    found: dict[int, list[KafkaMessage]] = {r.partition: [] for r in ranges}
    try:
        windows = list(ranges)
        for _ in range(MAX_PASSES):
            got, at_end = _read_pass(consumer, topic, windows, newest, needle, display_limit, deadline, result, view)
            for window in windows:
                # Windows of a partition are read newest-last or oldest-first; keep the order by offset.
                mine = got[window.partition]
                found[window.partition] = mine + found[window.partition] if newest else found[window.partition] + mine
            if not result.complete or needle is not None:
                break
            # Reading on past the end of a partition finds nothing more (read_committed ends at the
            # last stable offset, below the high watermark while a transaction is open).
            windows = [
                w
                for w in (
                    grown(w, len(got[w.partition]), newest) for w in windows if newest or w.partition not in at_end
                )
                if w is not None
            ]
            if not windows:
                break
    finally:
        consumer.close()
    kept = [found[r.partition][-r.keep :] if newest else found[r.partition][: r.keep] for r in ranges]
    result.messages = merge((m for msgs in kept for m in msgs), limit, newest)
    return result


def _read_pass(
    consumer: Consumer,
    topic: str,
    ranges: list[ReadRange],
    newest: bool,
    needle: bytes | None,
    display_limit: int | None,
    deadline: float,
    result: BrowseResult,
    view: View | None = None,
) -> tuple[dict[int, list[KafkaMessage]], set[int]]:
    """Read each window once: the matches of each partition in offset order, and the partitions read to their end."""
    tps = [TopicPartition(topic, r.partition, r.start) for r in ranges]
    consumer.assign(tps)
    # A partition paused at the end of an earlier pass stays paused across assign().
    consumer.resume([TopicPartition(topic, r.partition) for r in ranges])
    reading = {r.partition: r for r in ranges}
    kept: dict[int, deque[KafkaMessage]] = {r.partition: deque(maxlen=r.keep if newest else None) for r in ranges}
    at_end: set[int] = set()

    def finish(partition: int) -> None:
        if reading.pop(partition, None) is not None:
            consumer.pause([TopicPartition(topic, partition)])

    while reading:
        left = deadline - time.monotonic()
        if left <= 0:
            result.complete = False
            break
        # consume() waits for a full batch or the timeout: keep the timeout short.
        batch = consumer.consume(num_messages=500, timeout=min(left, 0.05))
        for msg in batch:
            partition = msg.partition()
            offset = msg.offset()
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF and partition is not None:
                    # Only while its window is read: the fetcher runs ahead of the window.
                    if partition in reading:
                        at_end.add(partition)
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
            if matches(msg.key(), msg.value(), needle, view):
                kept[partition].append(message_from(msg, display_limit))
                if not newest and len(kept[partition]) >= window.keep:
                    finish(partition)
                    continue
            if offset + 1 >= window.end:
                finish(partition)
        if not batch and reading:
            # Markers and skipped records move the position without a message: a window
            # that ends in them (and not at the end of the partition) is done all the same.
            for tp in consumer.position([TopicPartition(topic, p) for p in reading]):
                if tp.offset >= 0 and tp.offset >= reading[tp.partition].end:
                    finish(tp.partition)
    return {p: list(q) for p, q in kept.items()}, at_end


def count_records(
    config: ClusterConfig, spans: Sequence[tuple[str, int, int, int]], budget: float
) -> dict[tuple[str, int], int]:
    """Records a read_committed consumer would still receive in each ``(topic, partition, start, end)``.

    Offsets holding transaction markers or aborted records are not counted;
    offsets past the last stable offset (an open transaction) are, as they may
    yet be committed. A span not read to its end by the deadline is left out.
    """
    deadline = time.monotonic() + budget
    conf = client_config(config) | {
        "client.id": "streamdesk-browser",
        "group.id": BROWSER_GROUP,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 10,
        "isolation.level": "read_committed",
    }
    reading = {(t, p): (start, end) for t, p, start, end in spans if start < end}
    counts = dict.fromkeys(reading, 0)
    done: dict[tuple[str, int], int] = {}
    consumer = Consumer(conf)

    def finish(key: tuple[str, int], position: int | None = None) -> None:
        span = reading.pop(key, None)
        if span is None:
            return
        # Stopped short of the end at the last stable offset: what lies beyond may still be committed.
        done[key] = counts[key] + (max(span[1] - position, 0) if position is not None else 0)
        consumer.pause([TopicPartition(key[0], key[1])])

    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in reading.items()])
        while reading and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=500, timeout=min(max(deadline - time.monotonic(), 0), 0.05))
            for msg in batch:
                key = (msg.topic(), msg.partition())
                err = msg.error()
                if key not in reading:
                    continue
                end = reading[key][1]
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        finish(key, msg.offset())
                    elif err.fatal() or err.code() in FATAL_READ_CODES:
                        raise KafkaException(err)
                    continue
                offset = msg.offset() or 0
                if offset < end:
                    counts[key] += 1
                if offset + 1 >= end:
                    finish(key)
            if not batch and reading:
                for tp in consumer.position([TopicPartition(t, p) for t, p in reading]):
                    if tp.offset >= 0 and tp.offset >= reading[(tp.topic, tp.partition)][1]:
                        finish((tp.topic, tp.partition))
    finally:
        consumer.close()
    return done
