"""A publisher in its own process for the tail benchmark, so it does not share a core's GIL with the
client being measured. Paced in 10 ms slices (``rate`` 0: as fast as it can). Prints one JSON line.

    python -m bench._publish nats URL SUBJECT COUNT RATE SIZE
    python -m bench._publish kafka BOOTSTRAP TOPIC COUNT RATE SIZE
    BENCH_SCHEMA_REGISTRY_URL=URL python -m bench._publish kafka-avro BOOTSTRAP TOPIC COUNT RATE SIZE

``kafka-avro`` writes the same fields as Avro through confluent-kafka's ``AvroSerializer`` and the
registry at ``BENCH_SCHEMA_REGISTRY_URL``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable

SLICE = 0.01


def body(index: int, size: int) -> bytes:
    head = b'{"i":%d,"t":%d,"pad":"' % (index, time.time_ns())
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


async def nats_main(url: str, subject: str, count: int, rate: float, size: int) -> float:
    import nats

    nc = await nats.connect(url, pending_size=8 * 1024 * 1024)
    started = time.perf_counter()
    per_slice = max(1, int(rate * SLICE)) if rate else 1000
    sent = 0
    while sent < count:
        for _ in range(min(per_slice, count - sent)):
            await nc.publish(subject, body(sent, size))
            sent += 1
        if rate:
            ahead = started + sent / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
        else:
            await nc.flush()
    await nc.flush()
    took = time.perf_counter() - started
    await nc.close()
    return took


AVRO_SCHEMA = {
    "type": "record",
    "name": "Tick",
    "namespace": "bench",
    "fields": [{"name": "i", "type": "long"}, {"name": "t", "type": "long"}, {"name": "pad", "type": "string"}],
}


def avro_body(topic: str) -> Callable[[int, int], bytes]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    registry = SchemaRegistryClient({"url": os.environ["BENCH_SCHEMA_REGISTRY_URL"]})
    serialize = AvroSerializer(registry, json.dumps(AVRO_SCHEMA))
    context = SerializationContext(topic, MessageField.VALUE)

    def make(index: int, size: int) -> bytes:
        value = serialize({"i": index, "t": time.time_ns(), "pad": "x" * max(0, size - 40)}, context)
        assert value is not None
        return value

    return make


def kafka_main(bootstrap: str, topic: str, count: int, rate: float, size: int, avro: bool = False) -> float:
    from confluent_kafka import Producer

    make = avro_body(topic) if avro else body

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "queue.buffering.max.messages": 1_000_000})
    started = time.perf_counter()
    per_slice = max(1, int(rate * SLICE)) if rate else 1000
    sent = 0
    while sent < count:
        for _ in range(min(per_slice, count - sent)):
            while True:
                try:
                    producer.produce(topic, make(sent, size), key=b"k%d" % (sent % 16))
                    break
                except BufferError:
                    producer.poll(0.01)
            sent += 1
        producer.poll(0)
        if rate:
            ahead = started + sent / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    producer.flush(60)
    return time.perf_counter() - started


def main() -> None:
    kind, target, name, count, rate, size = sys.argv[1:7]
    args = (target, name, int(count), float(rate), int(size))
    took = asyncio.run(nats_main(*args)) if kind == "nats" else kafka_main(*args, avro=kind == "kafka-avro")
    print(json.dumps({"sent": int(count), "seconds": took}), flush=True)


if __name__ == "__main__":
    main()
