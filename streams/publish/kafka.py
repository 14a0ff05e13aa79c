"""Publishing to Kafka: one message with its delivery confirmed, through the cluster's producer."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from streams.errors import BrokerError, BrokerUnavailable, InvalidInput, NotFound, StreamdeskError
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.client import UNAVAILABLE_CODES
from streams.publish.message import Outgoing

# Delivery failures that say something about the message rather than the broker.
_BAD_MESSAGE = {
    KafkaError.MSG_SIZE_TOO_LARGE: "value",
    KafkaError.INVALID_RECORD: "value",
    KafkaError._UNKNOWN_PARTITION: "partition",
}


@dataclass(frozen=True)
class Delivery:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None

    def as_api(self) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC) if self.timestamp_ms is not None else None
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": stamp.isoformat() if stamp else None,
            "timestamp_ms": self.timestamp_ms,
        }


def delivery_error(err: KafkaError, topic: str) -> StreamdeskError:
    """A failed delivery as one typed error."""
    code = err.code()
    if code in _BAD_MESSAGE:
        field = _BAD_MESSAGE[code]
        return InvalidInput(f"Kafka refused the message for {topic}: {err.str()}", field=field)
    if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
        return NotFound(f"No topic named {topic!r}: {err.str()}")
    if code == KafkaError._MSG_TIMED_OUT or code in UNAVAILABLE_CODES:
        return BrokerUnavailable(f"Kafka did not take the message in time: {err.str()}")
    return BrokerError(f"Publishing to {topic} failed: {err.str()}")


async def publish(adapter: KafkaAdapter, topic: str, message: Outgoing, partition: int | None) -> Delivery:
    """Send one message and wait for the broker's acknowledgement (partition, offset, time)."""
    deadline = adapter.timeout

    def send() -> Delivery:
        producer = adapter.producer
        done: Future[tuple[KafkaError | None, Message]] = Future()
        kwargs: dict[str, Any] = {
            "value": message.value,
            "key": message.key,
            "headers": list(message.headers) or None,
            "on_delivery": lambda err, msg: done.set_result((err, msg)),
        }
        if partition is not None:
            kwargs["partition"] = partition
        try:
            producer.produce(topic, **kwargs)
        except KafkaException as exc:
            raise delivery_error(exc.args[0], topic) from exc
        except BufferError:
            raise BrokerUnavailable("Kafka's send queue is full: the broker is not taking messages") from None
        # The producer times the message out after ``deadline``; wait a little past it for that verdict.
        give_up = time.monotonic() + deadline + 1
        while not done.done():
            left = give_up - time.monotonic()
            if left <= 0:
                raise BrokerUnavailable(f"Kafka did not confirm the message within {deadline:g} s")
            producer.poll(min(left, 0.05))
        err, msg = done.result()
        if err is not None:
            raise delivery_error(err, topic)
        kind, stamp = msg.timestamp()
        return Delivery(
            topic=topic,
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            timestamp_ms=stamp if kind and stamp is not None and stamp >= 0 else None,
        )

    return await adapter.call(send, what=f"publish to {topic}", timeout=deadline + 1.5)
