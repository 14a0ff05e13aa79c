"""Kafka admin clients that answer as Apache Kafka did, for what the embedded broker cannot answer."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Node, TopicPartition
from confluent_kafka.admin import (
    BrokerMetadata,
    ClusterMetadata,
    ConfigEntry,
    ConfigSource,
    ConsumerGroupDescription,
    ConsumerGroupListing,
    ListConsumerGroupsResult,
    MemberAssignment,
    MemberDescription,
    PartitionMetadata,
    TopicMetadata,
)
from confluent_kafka.admin._listoffsets import ListOffsetsResultInfo

TOPIC, GROUP = "orders", "billing"
HIGH = {0: 120, 1: 80, 2: 50}


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


def refusal(code: int, reason: str) -> KafkaException:
    return KafkaException(KafkaError(code, reason))


class RecordedAdmin:
    """Answers as a three-broker Apache Kafka 3.7 cluster did; records the writes asked of it."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []
        self.group_state = "STABLE"
        self.members = True
        self.create_partitions_error: KafkaException | None = refusal(
            KafkaError.INVALID_PARTITIONS, "Topic currently has 3 partitions, which is higher than the requested 2."
        )
        self.delete_group_error: KafkaException | None = None
        self.alter_error: KafkaError | None = None
        self.offsets_error: KafkaException | None = None
        self.list_offsets_calls = 0
        self.reads: list[str] = []

    def poll(self, timeout: float = -1) -> int:
        return 0  # no client events were recorded

    def list_topics(self, timeout: float = -1) -> ClusterMetadata:
        md = ClusterMetadata()
        md.cluster_id, md.controller_id = "recorded", 1  # type: ignore[assignment]
        for i in (1, 2, 3):
            broker = BrokerMetadata()
            broker.id, broker.host, broker.port = i, f"kafka-{i}", 9092  # type: ignore[assignment]
            md.brokers[i] = broker
        topic = TopicMetadata()
        topic.topic = TOPIC
        for i in HIGH:
            p = PartitionMetadata()
            p.id, p.leader, p.replicas, p.isrs = i, i + 1, [i + 1, (i + 1) % 3 + 1, (i + 2) % 3 + 1], [i + 1]
            topic.partitions[i] = p
        md.topics[TOPIC] = topic
        return md

    def list_offsets(self, specs: dict[TopicPartition, Any], request_timeout: float = -1) -> dict[Any, Future[Any]]:
        self.list_offsets_calls += 1
        if self.offsets_error is not None:
            return {TopicPartition(tp.topic, tp.partition): done(self.offsets_error) for tp in specs}
        out = {}
        for tp, spec in specs.items():
            value = spec._value
            offset = 0 if value == -2 else HIGH[tp.partition] if value == -1 else 10
            out[TopicPartition(tp.topic, tp.partition, value)] = done(ListOffsetsResultInfo(offset, 0, 0))
        return out

    def describe_configs(self, resources: list[Any], request_timeout: float = -1) -> dict[Any, Future[Any]]:
        entries = {
            "cleanup.policy": ConfigEntry("cleanup.policy", "compact", source=ConfigSource.DYNAMIC_TOPIC_CONFIG),
            "retention.ms": ConfigEntry(
                "retention.ms", "604800000", source=ConfigSource.DEFAULT_CONFIG, is_default=True
            ),
            "sasl.jaas.config": ConfigEntry("sasl.jaas.config", "user=admin password=hunter2", is_sensitive=True),
        }
        return {resources[0]: done(entries)}

    def list_consumer_groups(self, request_timeout: float = -1) -> Future[Any]:
        listing = ConsumerGroupListing(GROUP, False, self.group_state)
        return done(ListConsumerGroupsResult(valid=[listing], errors=[]))

    def describe_consumer_groups(self, ids: list[str], request_timeout: float = -1) -> dict[str, Future[Any]]:
        self.reads.append("describe")
        members = []
        if self.members:
            members = [
                MemberDescription(
                    "consumer-1-5b1c", "billing-1", "/10.0.0.7", MemberAssignment([TopicPartition(TOPIC, 0)])
                ),
                MemberDescription(
                    "consumer-2-9f0e",
                    "billing-2",
                    "/10.0.0.8",
                    MemberAssignment([TopicPartition(TOPIC, 1), TopicPartition(TOPIC, 2)]),
                ),
            ]
        desc = ConsumerGroupDescription(GROUP, False, members, "range", self.group_state, Node(2, "kafka-2", 9092))
        return {g: done(desc) for g in ids}

    def close(self) -> None:
        """Standing in for the offsets reader too, which a closed adapter closes."""

    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float = -1) -> dict[str, Future[Any]]:
        out: dict[str, Future[Any]] = {}
        for request in requests:
            group = request.group_id
            self.reads.append("offsets")
            tps = [TopicPartition(TOPIC, 0, 100), TopicPartition(TOPIC, 1, 80)] if group == GROUP else []
            out[group] = done(ConsumerGroupTopicPartitions(group, tps))
        return out

    def alter_consumer_group_offsets(self, requests: list[Any], request_timeout: float = -1) -> dict[str, Future[Any]]:
        request = requests[0]
        self.writes.append(("alter", [(tp.partition, tp.offset) for tp in request.topic_partitions]))
        # Each answered partition carries its own error, as librdkafka reports them.
        answered = [
            SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=tp.offset, error=self.alter_error)
            for tp in request.topic_partitions
        ]
        return {request.group_id: done(ConsumerGroupTopicPartitions(request.group_id, answered))}  # type: ignore[arg-type]

    def delete_consumer_groups(self, ids: list[str], request_timeout: float = -1) -> dict[str, Future[Any]]:
        self.writes.append(("delete_group", ids))
        return {g: done(self.delete_group_error) if self.delete_group_error else done(None) for g in ids}

    def create_partitions(self, new: list[Any], **kwargs: Any) -> dict[str, Future[Any]]:
        self.writes.append(("create_partitions", [(n.topic, n.new_total_count) for n in new]))
        return {
            n.topic: done(self.create_partitions_error) if self.create_partitions_error else done(None) for n in new
        }


class SlowOffsetFetch:
    """OffsetFetch answers that take a moment each, counting how many are in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.asked: list[str] = []
        # group -> the refusals its next answers bring, in order (then an answer)
        self.refusals: dict[str, list[KafkaException]] = {}

    def poll(self, timeout: float = -1) -> int:
        return 0

    def close(self) -> None:
        """Standing in for the offsets reader too, which a closed adapter closes."""

    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float = -1) -> dict[str, Future[Any]]:
        """Like the offsets reader: any number of groups at once, each answered on its own."""
        return {request.group_id: self._one(request.group_id) for request in requests}

    def _one(self, group: str) -> Future[Any]:
        future: Future[Any] = Future()
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.asked.append(group)

        def answer() -> None:
            with self.lock:
                self.in_flight -= 1
                refused = self.refusals.get(group)
                refusal = refused.pop(0) if refused else None
            if refusal is not None:
                future.set_exception(refusal)
            else:
                future.set_result(ConsumerGroupTopicPartitions(group, [TopicPartition(TOPIC, 0, 5)]))

        threading.Timer(0.005, answer).start()
        return future
