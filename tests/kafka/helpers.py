"""Put known state on the test Kafka broker with confluent-kafka, outside the console.

On tansu the producer sends one record per batch (``linger.ms=0``,
``batch.num.messages=1``): tansu answers ListOffsets(latest) with the base offset of
the last batch + 1, so watermarks and lag are only exact when every batch holds one
record. Elsewhere it batches as producers do, and the same assertions hold.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.brokers import KAFKA_BROKER
from tests.polling import wait_until

Header = tuple[str, bytes | None]


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    client = admin(bootstrap)  # kept referenced: a collected client cancels its futures
    futures = client.create_topics([NewTopic(name, partitions, 1)], operation_timeout=10, request_timeout=10)
    futures[name].result(10)
    wait_until(lambda: name in client.list_topics(timeout=5).topics, message=f"topic {name}")
    return name


def topics(bootstrap: str) -> set[str]:
    return set(admin(bootstrap).list_topics(timeout=5).topics)


def produce(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes | str | None],
    *,
    partition: int | None = None,
    key: bytes | str | None = None,
    headers: Sequence[Header] | None = None,
) -> int:
    """Send ``values`` (one record per batch on tansu); returns how many the broker acknowledged."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "message.max.bytes": 4_000_000}
    config.update({"linger.ms": 0, "batch.num.messages": 1} if KAFKA_BROKER == "tansu" else {"linger.ms": 50})
    producer = Producer(config)
    failures: list[Any] = []
    sent = 0
    for value in values:
        kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": _record_failure(failures)}
        if partition is not None:
            kwargs["partition"] = partition
        if headers is not None:
            kwargs["headers"] = list(headers)
        producer.produce(topic, **kwargs)
        producer.poll(0)
        sent += 1
    remaining = producer.flush(10)
    assert remaining == 0 and not failures, (remaining, failures)
    return sent


def _record_failure(failures: list[Any]) -> Any:
    def callback(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(err)

    return callback


def commit(bootstrap: str, group: str, offsets: Mapping[tuple[str, int], int]) -> None:
    """Commit offsets for ``group`` from outside it (the group must have no members)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        for tp in consumer.commit(offsets=tps, asynchronous=False) or ():
            if tp.error is not None:
                raise KafkaException(tp.error)
    finally:
        consumer.close()


# Answers of a group coordinator that is moving or loading, while another client commits: ask again.
COORDINATOR_BUSY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def committed(bootstrap: str, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        attempts = 0
        while True:
            try:
                answer = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
                return {tp.partition: tp.offset for tp in answer}
            except KafkaException as exc:
                attempts += 1
                if attempts >= 5 or exc.args[0].code() not in COORDINATOR_BUSY:
                    raise
            time.sleep(0.2)
    finally:
        consumer.close()


@contextmanager
def live_member(bootstrap: str, group: str, topic: str, timeout: float = 20) -> Iterator[Consumer]:
    """A consumer that has joined ``group`` and holds an assignment until the block ends."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])

        def assigned() -> bool:
            if consumer.assignment():
                return True
            consumer.poll(0.2)
            return False

        # The consumer's poll is the pause between checks.
        wait_until(assigned, timeout=timeout, interval=0, message=f"an assignment for {group}")
        yield consumer
    finally:
        consumer.close()
