"""Every group's committed offsets, read from ``__consumer_offsets`` as Burrow reads them.

OffsetFetch asks one group per request and costs librdkafka about 400 µs of CPU an answer: a lag
sweep of 50,000 groups spends most of its 30 s interval there. The group coordinators write each
commit to the internal topic ``__consumer_offsets`` (a tombstone when offsets expire or a group is
deleted), so one consumer assigned to all of its partitions and kept at its end knows every group's
offsets; each sweep reads only the commits since the one before. It reads ``read_committed``: a
transaction's offsets count once the transaction commits, as OffsetFetch says.

Where the topic cannot be read (not listed, or not authorized), the sweep asks OffsetFetch instead.
"""

from __future__ import annotations

import struct
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams.kafka.types import TopicPartitionKey

TOPIC = "__consumer_offsets"
# Key record types (the key's leading int16): 0 and 1 are an offset commit (group, topic,
# partition), 2 a group's metadata; later ones belong to the newer group protocols.
OFFSET_COMMIT_KEYS = frozenset({0, 1})
CONSUME_BATCH = 10_000
POLL_SECONDS = 0.05

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
# Every version of OffsetCommitValue (0 to 4) starts with its version and the offset.
_VALUE_HEAD = struct.Struct(">hq")

UNREADABLE_CODES = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
    }
)


class Unreadable(Exception):
    """The topic cannot be read by this client (refused, or its partitions are gone)."""


def commit_key(key: bytes | None) -> tuple[str, str, int] | None:
    """(group, topic, partition) of an offset-commit record's key; None for any other record."""
    if key is None or len(key) < 2:
        return None
    try:
        (kind,) = _INT16.unpack_from(key, 0)
        if kind not in OFFSET_COMMIT_KEYS:
            return None
        (length,) = _INT16.unpack_from(key, 2)
        group_end = 4 + length
        (topic_length,) = _INT16.unpack_from(key, group_end)
        topic_end = group_end + 2 + topic_length
        (partition,) = _INT32.unpack_from(key, topic_end)
    except struct.error:
        return None
    if length < 0 or topic_length < 0 or topic_end + 4 != len(key):
        return None
    group = key[4:group_end].decode("utf-8", "replace")
    topic = sys.intern(key[group_end + 2 : topic_end].decode("utf-8", "replace"))
    return group, topic, partition


def commit_offset(value: bytes | None) -> int | None:
    """The committed offset of an offset-commit record's value; None for a tombstone (or a value
    too short to be one)."""
    if value is None or len(value) < _VALUE_HEAD.size:
        return None
    version, offset = _VALUE_HEAD.unpack_from(value, 0)
    return offset if version >= 0 else None


class CommittedOffsets:
    """Every group's offsets as the records read so far leave them."""

    def __init__(self) -> None:
        self.by_group: dict[str, dict[TopicPartitionKey, int]] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        found = commit_key(key)
        if found is None:
            return
        group, topic, partition = found
        offset = commit_offset(value)
        if offset is None:
            offsets = self.by_group.get(group)
            if offsets is not None:
                offsets.pop((topic, partition), None)
                if not offsets:
                    del self.by_group[group]
            return
        self.by_group.setdefault(group, {})[(topic, partition)] = offset

    def of(self, groups: Sequence[str]) -> dict[str, dict[TopicPartitionKey, int]]:
        """Copies, for ``groups`` only, as OffsetFetch answers: a group without commits has an empty map."""
        by_group = self.by_group
        none: dict[TopicPartitionKey, int] = {}
        return {g: dict(by_group.get(g, none)) for g in groups}


class OffsetsLog:
    """One consumer on ``__consumer_offsets``, never in a group, never committing; ``catch_up``
    reads to the ends the caller found and returns the groups' offsets. One read at a time."""

    def __init__(self, conf: Mapping[str, Any]) -> None:
        self._conf = {
            **conf,
            "group.id": "streamdesk-offsets-log-unused",  # librdkafka needs one; assign() never joins it
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            # Past a position the broker no longer holds: all of it again (a later record wins anyway).
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 52_428_800,
            # What librdkafka keeps fetching between sweeps stays small.
            "queued.max.messages.kbytes": 16_384,
            "fetch.queue.backoff.ms": 10,
        }
        self._lock = threading.Lock()
        self._consumer: Consumer | None = None
        self._partitions = 0
        # Per partition, how far the log is read: past the last record, or where the client said it
        # reached the end (past a transaction's markers, which are not records).
        self._reached: dict[int, int] = {}
        self.offsets = CommittedOffsets()
        self._closed = False

    def catch_up(
        self, ends: Mapping[int, int], groups: Sequence[str], deadline: float
    ) -> dict[str, dict[TopicPartitionKey, int]] | None:
        """The offsets of ``groups`` once every partition is read to its end in ``ends`` (partition
        -> last stable offset, asked just before); None when ``deadline`` (monotonic) came first
        (what was read is kept for the next call). Raises ``Unreadable``."""
        with self._lock:
            try:
                return self._catch_up(ends, groups, deadline)
            finally:
                if self._closed:
                    self._close_consumer()

    def _catch_up(
        self, ends: Mapping[int, int], groups: Sequence[str], deadline: float
    ) -> dict[str, dict[TopicPartitionKey, int]] | None:
        if self._closed:
            return None
        consumer = self._assigned(len(ends))
        reached, offsets = self._reached, self.offsets
        pending = {p for p, end in ends.items() if reached.get(p, 0) < end}
        while pending:
            left = deadline - time.monotonic()
            if left <= 0 or self._closed:
                return None
            for msg in consumer.consume(CONSUME_BATCH, min(POLL_SECONDS, left)):
                err = msg.error()
                p = msg.partition() or 0
                if err is None:
                    offsets.apply(msg.key(), msg.value())
                    at = (msg.offset() or 0) + 1
                elif err.code() == KafkaError._PARTITION_EOF:
                    # An end reached earlier may be queued still: only its offset says how far it is.
                    at = msg.offset() or 0
                elif err.code() in UNREADABLE_CODES:
                    raise Unreadable(err.str())
                else:
                    continue  # transient: librdkafka reconnects by itself; the deadline bounds it
                if at > reached.get(p, 0):
                    reached[p] = at
                if p in pending and at >= ends[p]:
                    pending.discard(p)
        return offsets.of(groups)

    def _assigned(self, partitions: int) -> Consumer:
        consumer = self._consumer
        if consumer is None:
            consumer = self._consumer = Consumer(dict(self._conf))
        if partitions > self._partitions:
            # Partitions are only ever added to this topic; each starts at its beginning.
            added = [TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(self._partitions, partitions)]
            try:
                consumer.incremental_assign(added)
            except KafkaException as exc:
                raise Unreadable(str(exc)) from exc
            self._partitions = partitions
        return consumer

    def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    def hand_over(self) -> list[object]:
        """Ends the log: its consumer, for the caller to destroy (``streams.kafka.reaper``), or
        none when a read is under way, which closes the consumer as it returns. Never waits."""
        self._closed = True
        if not self._lock.acquire(blocking=False):
            return []
        try:
            consumer, self._consumer = self._consumer, None
        finally:
            self._lock.release()
        return [consumer] if consumer is not None else []
