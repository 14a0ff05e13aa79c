"""A managed consumer on a Kafka topic: a consumer group member with manual commits.

Each batch: ``consume()`` up to ``batch_size`` messages, group them by partition, call the
handler for each partition's messages in order, wait until every send (forwards, dead
letters) is confirmed, then commit, per partition, the offset after the last message that
is done. A message still being retried, or whose send failed, is never committed past:
its partition is sought back to it and it comes again.

Pause keeps the membership: every assigned partition is paused, ``consume()`` keeps being
called (so the member stays in the group), and a rebalance's new assignment is paused again
in ``on_assign``. On resume every partition is sought to the next message to handle, so
nothing fetched during the pause is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from django.conf import settings

from streams.kafka.client import client_config
from streams.workers.loop import ConsumerLoop, LaneResult, State
from streams.workers.message import KafkaMessage
from streams.workers.outputs import EVERYTHING, Failures

logger = logging.getLogger("streams.workers")

POLL_SECONDS = 0.1
# After a failed send, before the batch is handled again.
SEND_RETRY_SECONDS = 1.0


class KafkaLoop(ConsumerLoop):
    consumer: Consumer | None = None
    # Next offset to hand to the handler, per partition of the current assignment.
    positions: dict[int, int]
    paused_applied: bool = False
    # What was last committed, per partition: a commit that would change nothing is not sent.
    _committed: dict[int, int]

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
            "max.poll.interval.ms": max(300_000, session),
            "enable.partition.eof": False,
            # Group requests wait for a rebalance to finish, which takes seconds: the console's
            # tight deadline for page calls would time them out again and again.
            "socket.timeout.ms": max(30_000, session * 2),
        }

    def run_client(self) -> None:
        self.positions = {}
        self._committed = {}
        self.paused_applied = False
        consumer = Consumer(self.client_settings())
        self.consumer = consumer
        topic = self.spec.source
        try:
            consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
            if self.state == State.STARTING or self.state == State.FAILING:
                self.state = State.RUNNING if not self.want_paused else State.PAUSED
            while not self.stopping:
                self._apply_pause(consumer)
                messages = consumer.consume(self.spec.batch_size, POLL_SECONDS)
                if self.outbox is not None:
                    self.outbox.poll()
                if not messages:
                    continue
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

    def _usable(self, msg: Any) -> bool:
        err = msg.error()
        if err is None:
            return msg.partition() in self.positions
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
                        try:
                            consumer.seek(TopicPartition(tp.topic, tp.partition, position))
                        except KafkaException as exc:
                            self.note_error(f"seek after resume failed: {exc}", None)
            self.paused_applied = False
        if not self.stuck and not self.stopping:
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
        for tp in partitions:
            # Another member may move it on: when it comes back, start from what the broker says.
            self.positions.pop(tp.partition, None)
            self._committed.pop(tp.partition, None)
        self._publish_assignment(consumer, gone={tp.partition for tp in partitions})

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.positions.pop(tp.partition, None)
            self._committed.pop(tp.partition, None)
        self._publish_assignment(consumer, gone={tp.partition for tp in partitions})

    def _publish_assignment(self, consumer: Consumer, gone: set[int] | None = None) -> None:
        gone = gone or set()
        self.assignment = sorted([self.spec.source, p] for p in self.positions if p not in gone)

    # -- a batch -----------------------------------------------------------------------------------------

    def _process(self, consumer: Consumer, messages: Sequence[Any]) -> None:
        lanes: dict[int, list[Any]] = {}
        for msg in messages:
            lanes.setdefault(msg.partition(), []).append(msg)
        keys = list(lanes)
        cluster, name, config, outbox = self.spec.cluster, self.spec.name, self.config, self.outbox

        def make(msg: Any) -> KafkaMessage:
            return KafkaMessage(msg, cluster, name, config, outbox)

        results = self.run_lanes([lanes[k] for k in keys], make)
        assert self.outbox is not None
        failed = self.outbox.confirm()
        for reason in list(failed.values())[:1]:
            self.note_error(f"a send failed, so the batch will be handled again: {reason}", None)
        for partition, result in zip(keys, results, strict=True):
            lane = lanes[partition]
            done = 0 if EVERYTHING in failed else _done_count(lane, result, failed)
            if partition in self.positions:
                if done:
                    self.positions[partition] = lane[done - 1].offset() + 1
                if done < len(lane):
                    # Not handled (paused, stopped, stuck, or its send failed): fetch it again.
                    self._seek(consumer, partition, lane[done].offset())
        self.count(results)
        self._commit(consumer)
        if failed:
            self.wait(SEND_RETRY_SECONDS)

    def _leave(self, messages: Sequence[Any]) -> None:
        """Messages fetched but not handled: the partition's position stays at the first of them."""
        for msg in messages:
            partition = msg.partition()
            if self.positions.get(partition, 0) < 0:
                self.positions[partition] = msg.offset()

    def _seek(self, consumer: Consumer, partition: int, offset: int) -> None:
        self.positions[partition] = offset
        try:
            consumer.seek(TopicPartition(self.spec.source, partition, offset))
        except KafkaException as exc:
            # A paused partition cannot always be sought; resume seeks to the position anyway.
            logger.debug("managed consumer %s: seek failed: %s", self.spec.name, exc)

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


def _done_count(lane: Sequence[Any], result: LaneResult, failed: Failures) -> int:
    """How many of the lane's messages, from its start, are done and may be committed: those
    the handler finished, up to the first whose send (forward, dead letter) failed."""
    if failed:
        for index in range(result.done):
            if id(lane[index]) in failed:
                return index
    return result.done
