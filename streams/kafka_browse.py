"""Which offsets the message browser reads, and which of what it read it shows.

Reads are bounded twice: by ``limit`` messages shown and, with a filter, by a
scan budget per request, so a needle that never matches cannot read a whole
topic. Several partitions share the limit; the answer is merged by time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from streams.brokers.kafka_types import KafkaMessage, ReadRange, Watermark

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SCAN_BUDGET = 5000
FROM_CHOICES = ("beginning", "end", "offset", "timestamp")


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
