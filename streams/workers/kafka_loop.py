"""A managed consumer on a Kafka topic: a consumer group member with manual commits.

Each batch: ``consume()`` up to ``batch_size`` messages, group them by partition, call the
handler for each partition's messages in order, wait until every send (forwards, dead
letters) is confirmed, then commit, per partition, the offset after the last message that
is done. A message still being retried, or whose send failed, is never committed past:
its partition is sought back to it and it comes again (the messages after it whose sends
went through are not sent again). Should that seek fail, nothing the partition returns is
handled until a seek succeeds.

Pause keeps the membership: every assigned partition is paused, ``consume()`` keeps being
called (so the member stays in the group), and a rebalance's new assignment is paused again
in ``on_assign``. On resume every partition is sought to the next message to handle, so
nothing fetched during the pause is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from django.conf import settings

from streams.kafka.client import client_config
from streams.workers.loop import ConsumerLoop, State, backoff_seconds
from streams.workers.message import KafkaMessage, bound

logger = logging.getLogger("streams.workers")

POLL_SECONDS = 0.1
# What one message may take to handle, besides its retries, in the bound on a batch's duration.
HANDLER_ALLOWANCE_MS = 1000
MAX_POLL_INTERVAL_MS = 86_400_000  # librdkafka's own limit


class KafkaLoop(ConsumerLoop):
    consumer: Consumer | None = None
    # Next offset to hand to the handler, per partition of the current assignment.
    positions: dict[int, int]
    paused_applied: bool = False
    # What was last committed, per partition: a commit that would change nothing is not sent.
    _committed: dict[int, int]
    # Partitions whose seek failed, to the offset they must be sought to: until it is, what
    # they return is not handled (it is not what comes next).
    unsought: dict[int, int]
    _make: Callable[[Any], KafkaMessage] | None = None

    def coordinates(self, raw: Any) -> tuple[int, int]:
        return raw.partition(), raw.offset()

    def poll_interval_ms(self) -> int:
        """A batch is handled between two polls: librdkafka must not think the member hung meanwhile
        (it would leave the group, and another member would handle the batch again). The bound is
        what every message of a batch may take with all its retries' pauses."""
        spec = self.spec
        retries_ms = sum(
            backoff_seconds(a, spec.retry_backoff_ms, spec.retry_backoff_max_ms) * 1000
            for a in range(1, spec.max_retries + 1)
        )
        batch_ms = spec.batch_size * (HANDLER_ALLOWANCE_MS + retries_ms)
        return int(min(MAX_POLL_INTERVAL_MS, max(300_000, settings.WORKER_SESSION_TIMEOUT_MS, batch_ms)))

    def client_settings(self) -> dict[str, Any]:
        session = settings.WORKER_SESSION_TIMEOUT_MS
        return client_config(self.resolve(self.spec.cluster)) | {
            "client.id": f"streamdesk-{self.spec.name}",
            "group.id": self.spec.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": self.spec.start,
            "session.timeout.ms": session,
            "heartbeat.interval.ms": max(100, session // 10),
            "max.poll.interval.ms": self.poll_interval_ms(),
            "enable.partition.eof": False,
            # Group requests wait for a rebalance to finish, which takes seconds: the console's
            # tight deadline for page calls would time them out again and again.
            "socket.timeout.ms": max(30_000, session * 2),
        }

    def run_client(self) -> None:
        self.positions = {}
        self._committed = {}
        self.unsought = {}
        self.paused_applied = False
        consumer = self.make_consumer()
        self.consumer = consumer
        topic = self.spec.source
        try:
            consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
            if self.state == State.STARTING or self.state == State.FAILING:
                self.state = State.RUNNING if not self.want_paused else State.PAUSED
            while not self.stopping:
                self._apply_pause(consumer)
                if self.unsought:
                    self._seek_again(consumer)
                messages = consumer.consume(self.spec.batch_size, POLL_SECONDS)
                if self.outbox is not None:
                    self.outbox.poll()
                if not messages:
                    continue
                positions = self.positions
                if self.unsought:
                    good = [m for m in messages if self._usable(m)]
                else:
                    good = [m for m in messages if m.error() is None and m.partition() in positions]
                    if len(good) < len(messages):
                        good = [m for m in messages if self._usable(m)]
                if not good:
                    continue
                if self.halt:
                    # Fetched before the pause took hold: left for after it (resume seeks back to it).
                    self._leave(good)
                    continue
                self._process(consumer, good)
        finally:
            self.state = State.STOPPING
            self._commit(consumer)
            try:
                consumer.close()  # leaves the group: the others take the partitions at once
            except (KafkaException, RuntimeError):
                logger.debug("managed consumer %s: close failed", self.spec.name, exc_info=True)
            self.consumer = None

    def make_consumer(self) -> Consumer:
        return Consumer(self.client_settings())

    def _usable(self, msg: Any) -> bool:
        err = msg.error()
        if err is None:
            partition = msg.partition()
            return partition in self.positions and not (self.unsought and partition in self.unsought)
        if err.code() != KafkaError._PARTITION_EOF:
            self.note_error(f"Kafka: {err.str()}", None)
        return False

    # -- pause ----------------------------------------------------------------------------------

    def _apply_pause(self, consumer: Consumer) -> None:
        want = self.halt
        if want and not self.paused_applied:
            parts = consumer.assignment()
            if parts:
                consumer.pause(parts)
            self.paused_applied = True
        elif not want and self.paused_applied:
            parts = consumer.assignment()
            if parts:
                consumer.resume(parts)
                for tp in parts:
                    position = self.positions.get(tp.partition)
                    if position is not None and position >= 0:
                        self._seek(consumer, tp.partition, position)
            self.paused_applied = False
        if not self.stuck and not self.stopping and not self.troubled and not self.unsought:
            self.state = State.PAUSED if want else State.RUNNING

    # -- rebalance callbacks (run inside consume()) -----------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.positions.setdefault(tp.partition, -1)
        if self.paused_applied and partitions:
            consumer.pause(partitions)
        self._publish_assignment(consumer)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit(consumer, only={tp.partition for tp in partitions})
        self._drop(consumer, partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(consumer, partitions)

    def _drop(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        for partition in gone:
            # Another member may move it on: when it comes back, start from what the broker says.
            self.positions.pop(partition, None)
            self._committed.pop(partition, None)
            self.unsought.pop(partition, None)
        if self.redo or self.already_sent:
            self.forget(lambda where: isinstance(where, tuple) and where[0] in gone)
        self._publish_assignment(consumer, gone=gone)

    def _publish_assignment(self, consumer: Consumer, gone: set[int] | None = None) -> None:
        gone = gone or set()
        self.assignment = sorted([self.spec.source, p] for p in self.positions if p not in gone)

    # -- a batch -----------------------------------------------------------------------------------------

    def _process(self, consumer: Consumer, messages: Sequence[Any]) -> None:
        lanes: dict[int, list[Any]] = {}
        first = messages[0].partition()
        if len(self.positions) == 1:
            lanes[first] = list(messages)  # one partition assigned: every message is of it
        else:
            for msg in messages:
                lanes.setdefault(msg.partition(), []).append(msg)
        keys = list(lanes)
        make = self._make
        if make is None:
            spec = self.spec
            make = self._make = bound(KafkaMessage, cluster=spec.cluster, consumer=spec.name, config=self.config,
                                      outbox=self.outbox)  # fmt: skip

        ordered = [lanes[k] for k in keys]
        results = self.run_lanes(ordered, make)
        assert self.outbox is not None
        failed = self.outbox.confirm() if self.outbox.sent else {}
        dones, pause = self.settle(ordered, results, failed, in_order=True)
        for partition, lane, done in zip(keys, ordered, dones, strict=True):
            if partition in self.positions:
                if done:
                    self.positions[partition] = lane[done - 1].offset() + 1
                if done < len(lane):
                    # Not handled (paused, stopped, stuck, or its send failed): fetch it again.
                    self._seek(consumer, partition, lane[done].offset())
        self.count(results)
        self._commit(consumer)
        if pause:
            self.nap(pause)

    def _leave(self, messages: Sequence[Any]) -> None:
        """Messages fetched but not handled: the partition's position stays at the first of them."""
        for msg in messages:
            partition = msg.partition()
            if self.positions.get(partition, 0) < 0:
                self.positions[partition] = msg.offset()

    def _seek(self, consumer: Consumer, partition: int, offset: int) -> bool:
        self.positions[partition] = offset
        try:
            consumer.seek(TopicPartition(self.spec.source, partition, offset))
        except KafkaException as exc:
            # The fetch goes on from where it was, past messages not handled: nothing the partition
            # returns is handled (or committed past them) until a seek succeeds.
            self.unsought[partition] = offset
            self.note_error(f"seek to offset {offset} of partition {partition} failed: {exc}", None)
            return False
        self.unsought.pop(partition, None)
        return True

    def _seek_again(self, consumer: Consumer) -> None:
        if self.paused_applied:
            return  # resume seeks every partition
        for partition, offset in list(self.unsought.items()):
            if partition in self.positions and not self._seek(consumer, partition, offset):
                self.state = State.FAILING
                self.wait(0.5)

    def _commit(self, consumer: Consumer, *, only: set[int] | None = None) -> None:
        """Synchronous: once it returns, a crash cannot send these messages again."""
        offsets = [
            TopicPartition(self.spec.source, p, o)
            for p, o in self.positions.items()
            if o >= 0 and (only is None or p in only) and self._committed.get(p) != o
        ]
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET:
                return
            # Lost the partitions in a rebalance: the new owner handles them again (at least once).
            self.note_error(f"commit failed: {err.str() if isinstance(err, KafkaError) else exc}", None)
            return
        for tp in offsets:
            self._committed[tp.partition] = tp.offset
