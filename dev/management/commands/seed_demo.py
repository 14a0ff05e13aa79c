"""Demo data for a local Streamdesk: Kafka topics with a lagging consumer group, and a
JetStream stream with a durable consumer that has work pending.

Idempotent: what exists is left alone, so it runs on every ``make run`` (the embedded
Kafka keeps its data in memory and starts empty each time; JetStream keeps its own).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import nats
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from django.core.management.base import BaseCommand, CommandError, CommandParser
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from dev.management.commands._demo import (
    ORDER_EVENTS,
    DemoNames,
    add_target_arguments,
    consumer_config,
    kafka_bootstrap,
    nats_servers,
    order,
    payment,
    payment_record,
    producer_config,
    reading,
    shipment,
)

TIMEOUT = 10.0
# How far behind the end "billing" stays on each partition of "orders".
BILLING_LAG = (2, 1, 3)


class Command(BaseCommand):
    help = "Create the demo topics, consumer groups, JetStream stream and consumer (leaves existing ones alone)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_target_arguments(parser)
        parser.add_argument("--skip-kafka", action="store_true")
        parser.add_argument("--skip-nats", action="store_true")
        parser.add_argument("--skip-saved", action="store_true", help="no saved messages (they go in the database)")
        parser.add_argument("--skip-workers", action="store_true", help="no managed consumers (database)")

    def handle(self, *args: Any, **options: Any) -> None:
        names = DemoNames(options["prefix"])
        rng = random.Random(7)  # noqa: S311 - demo data, not secrets
        if not options["skip_kafka"]:
            bootstrap = kafka_bootstrap(options["allow_remote"])
            try:
                for line in seed_kafka(bootstrap, names, rng):
                    self.stdout.write(f"kafka: {line}")
            except KafkaException as exc:
                raise CommandError(f"Kafka at {bootstrap}: {exc.args[0].str() if exc.args else exc}") from None
        if not options["skip_nats"]:
            servers = nats_servers(options["allow_remote"])
            try:
                for line in asyncio.run(seed_nats(servers, names, rng)):
                    self.stdout.write(f"nats: {line}")
            except (OSError, TimeoutError, nats.errors.Error) as exc:
                raise CommandError(f"NATS at {','.join(servers)}: {exc or exc.__class__.__name__}") from None
        if not options["skip_saved"]:
            for line in seed_templates(names):
                self.stdout.write(f"saved messages: {line}")
        if not options["skip_workers"]:
            for line in seed_workers(names):
                self.stdout.write(f"managed consumers: {line}")


def seed_templates(names: DemoNames) -> list[str]:
    """A few saved messages ready to send from the publish pages (kept if they exist)."""
    from streams.publish.models import MessageTemplate

    wanted = [
        (
            "kafka",
            "an order",
            names.orders,
            {
                "key": "customer-{{randint:1:8}}",
                "value": '{"order_id": "{{uuid}}", "customer": "{{random:ada|grace|linus}}", '
                '"total": {{randint:5:250}}, "at": "{{timestamp}}"}',
                "encoding": "json",
                "headers": [["event", "created"], ["source", "streamdesk-demo"]],
                "partition": None,
            },
        ),
        (
            "nats",
            "a sensor reading",
            "sensors.temperature.lab-1",
            {"value": '{"celsius": {{randint:18:26}}, "at": "{{timestamp}}"}', "encoding": "json", "mode": "publish"},
        ),
        ("nats", "an echo request", "demo.echo", {"value": "hello", "encoding": "text", "mode": "request"}),
    ]
    made = []
    for cluster, name, target, fields in wanted:
        _, created = MessageTemplate.objects.get_or_create(
            cluster=cluster, name=name, defaults={"kind": cluster, "target": target, "fields": fields}
        )
        if created:
            made.append(name)
    return [f"created {', '.join(made)}"] if made else []


PAYMENT_SCHEMA = {
    "type": "object",
    "required": ["payment_id", "order_id", "status"],
    "properties": {
        "payment_id": {"type": "string"},
        "order_id": {"type": "string"},
        "status": {"enum": ["captured", "refunded", "failed"]},
    },
}


def seed_workers(names: DemoNames) -> list[str]:
    """Two managed consumers for runconsumers to run (kept if they exist): a Kafka orders -> NATS
    bridge, and a JSON Schema check of the payments whose poison messages go to a dead-letter topic."""
    from streams.workers.models import ManagedConsumer

    wanted = [
        (
            names.bridge,
            {
                "cluster": "kafka",
                "source_kind": "topic",
                "source": names.orders,
                "group": names.bridge,
                "handler": "forward",
                "config": {"cluster": "nats", "subject": names.bridge_subject},
                "start": "earliest",
            },
        ),
        (
            names.payment_check,
            {
                "cluster": "kafka",
                "source_kind": "topic",
                "source": names.payments,
                "group": names.payment_check,
                "handler": "validate",
                "config": {"schema": PAYMENT_SCHEMA, "forward": None},
                "start": "earliest",
                "dead_letter": {"cluster": "kafka", "topic": names.payments_dlq},
            },
        ),
    ]
    made = []
    for name, fields in wanted:
        _, created = ManagedConsumer.objects.get_or_create(name=name, defaults=fields)
        if created:
            made.append(name)
    return [f"created {', '.join(made)}"] if made else []


# -- Kafka ------------------------------------------------------------------------------------


def seed_kafka(bootstrap: str, names: DemoNames, rng: random.Random) -> list[str]:
    done: list[str] = []
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "streamdesk-demo", "socket.timeout.ms": 5000})
    existing = set(admin.list_topics(timeout=TIMEOUT).topics)
    wanted = {names.orders: 3, names.payments: 1, names.audit_log: 1, names.payments_dlq: 1}
    wanted |= {names.readings: 1, names.shipments: 2}
    missing = [NewTopic(name, num_partitions=count, replication_factor=1) for name, count in wanted.items()]
    missing = [topic for topic in missing if topic.topic not in existing]
    created: set[str] = set()
    if missing:
        for name, future in admin.create_topics(missing, operation_timeout=TIMEOUT, request_timeout=TIMEOUT).items():
            try:
                future.result(TIMEOUT)
                created.add(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    if created:
        counts = produce_seed(bootstrap, names, created, rng)
        done.append("created " + ", ".join(f"{name} ({counts[name]} messages)" for name in sorted(created)))
    else:
        done.append("demo topics already exist")
    done.extend(commit_groups(bootstrap, names))
    return done


def produce_seed(bootstrap: str, names: DemoNames, topics: set[str], rng: random.Random) -> dict[str, int]:
    producer = Producer(producer_config(bootstrap))
    counts = dict.fromkeys(topics, 0)
    failures: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    def send(topic: str, value: bytes | None, key: bytes | str | None = None, headers: Any = None) -> None:
        producer.produce(topic, value=value, key=key, headers=headers, on_delivery=delivered)
        producer.flush(TIMEOUT)
        counts[topic] += 1

    if names.orders in topics:
        for number in range(1, 25):
            customer, body = order(rng, number)
            headers = [
                ("source", rng.choice([b"web", b"mobile", b"partner-api"])),
                ("trace-id", rng.randbytes(8).hex()),
            ]
            send(names.orders, body, key=customer, headers=headers)
    if names.payments in topics:
        for number in range(1, 7):
            send(
                names.payments, payment(number), key=f"o-{number:06d}", headers=[("content-type", b"application/json")]
            )
        for number in (7, 8):
            send(
                names.payments,
                payment_record(rng, number),
                key=b"\x00\x01bin-key",
                headers=[("content-type", b"application/x-payment-record"), ("checksum", rng.randbytes(4))],
            )
    if names.readings in topics:
        for number in range(1, 13):
            sensor, body = reading(rng, number)
            send(names.readings, body, key=sensor)
        # A record cut short: the browser shows it raw and says why it does not decode.
        send(names.readings, reading(rng, 13)[1][:5], key="truncated")
    if names.shipments in topics:
        for number in range(1, 9):
            key, body = shipment(rng, number)
            send(names.shipments, body, key=key)
    if names.audit_log in topics:
        for line in (
            "ada signed in from 10.0.4.17",
            "grace changed the retention of orders to 7 days",
            "linus reset the offsets of group billing",
            "margaret created API token 'ci'",
        ):
            send(names.audit_log, line.encode())
        send(names.audit_log, None, key="tombstone-for-user-42")
        large = ("A large message, truncated on the page until you ask for all of it. " * 1500).encode()
        send(names.audit_log, large, key="large", headers=[("content-type", b"text/plain")])
    remaining = producer.flush(TIMEOUT)
    if failures or remaining:
        raise CommandError(f"Kafka did not take the demo messages: {failures[:1] or [f'{remaining} unsent']}")
    return counts


COORDINATOR_NOT_READY = frozenset(
    {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}
)


def committed_offsets(consumer: Consumer, partitions: list[TopicPartition]) -> list[TopicPartition]:
    """A broker that has just started (Apache Kafka creating its offsets topic) answers
    "not coordinator" for a while; the consumer does not retry that itself."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return list(consumer.committed(partitions, timeout=TIMEOUT))
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if not isinstance(err, KafkaError) or err.code() not in COORDINATOR_NOT_READY:
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def commit_groups(bootstrap: str, names: DemoNames) -> list[str]:
    """Commit offsets without joining the group (assign-and-commit), so no rebalance waits."""
    done: list[str] = []
    plans = {
        names.billing: (names.orders, 3, BILLING_LAG),
        names.ledger: (names.payments, 1, (0,)),
    }
    for group, (topic, partitions, lags) in plans.items():
        consumer = Consumer(consumer_config(bootstrap, group))
        try:
            committed = committed_offsets(consumer, [TopicPartition(topic, p) for p in range(partitions)])
            if any(tp.offset != OFFSET_INVALID for tp in committed):
                done.append(f"group {group} already has offsets")
                continue
            offsets = []
            total_lag = 0
            for partition, lag in zip(range(partitions), lags, strict=True):
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)
                offset = max(high - lag, 0)
                total_lag += high - offset
                offsets.append(TopicPartition(topic, partition, offset))
            consumer.commit(offsets=offsets, asynchronous=False)
            done.append(f"group {group} committed on {topic}, lag {total_lag}")
        finally:
            consumer.close()
    return done


# -- NATS / JetStream --------------------------------------------------------------------------


async def _quiet(exc: Exception) -> None:
    """Connection errors surface as exceptions from the calls; no need to log them twice."""


async def seed_nats(servers: list[str], names: DemoNames, rng: random.Random) -> list[str]:
    done: list[str] = []
    nc = await nats.connect(
        servers=servers, name="streamdesk-demo", connect_timeout=5, allow_reconnect=False, error_cb=_quiet
    )
    try:
        js = nc.jetstream(timeout=TIMEOUT)
        root = names.subject_root
        try:
            await js.stream_info(names.stream)
            done.append(f"stream {names.stream} already exists")
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=names.stream,
                    description="Demo orders (make run)",
                    subjects=[f"{root}.>"],
                    storage=StorageType.FILE,
                    max_msgs=100_000,
                    max_age=7 * 24 * 3600,
                )
            )
            count = 0
            for number in range(1, 21):
                _, body = order(rng, number)
                event = rng.choice(ORDER_EVENTS)
                headers = {"Nats-Msg-Id": f"seed-{number}", "source": rng.choice(["web", "mobile"])}
                await js.publish(f"{root}.{event}", body, headers=headers)
                count += 1
            await js.publish(f"{root}.returned", payment_record(rng, 21), headers={"Nats-Msg-Id": "seed-21"})
            await js.publish(f"{root}.notes", b"customer asked to leave the parcel with a neighbour")
            count += 2
            done.append(f"created stream {names.stream} on {root}.> ({count} messages)")
        try:
            await js.consumer_info(names.stream, names.shipper)
            done.append(f"consumer {names.shipper} already exists")
        except NotFoundError:
            await js.add_consumer(
                names.stream,
                ConsumerConfig(
                    durable_name=names.shipper,
                    description="Ships paid orders (demo)",
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=30,
                ),
            )
            # Take some work: most of it acknowledged, two left un-acknowledged, the rest pending.
            sub = await js.pull_subscribe_bind(durable=names.shipper, stream=names.stream)
            messages = await sub.fetch(8, timeout=TIMEOUT)
            for message in messages[:-2]:
                await message.ack_sync()
            await sub.unsubscribe()
            info = await js.consumer_info(names.stream, names.shipper)
            done.append(
                f"created consumer {names.shipper}: {info.num_pending} pending, {info.num_ack_pending} awaiting ack"
            )
        done.extend(await _seed_kv_and_objects(js, names))
    finally:
        await nc.close()
    return done


async def _seed_kv_and_objects(js: Any, names: DemoNames) -> list[str]:
    """A config bucket (the demo traffic keeps changing it) and an object store with a few files."""
    done = []
    try:
        await js.key_value(names.config_bucket)
        done.append(f"bucket {names.config_bucket} already exists")
    except NotFoundError:
        kv = await js.create_key_value(bucket=names.config_bucket, history=10, description="demo settings")
        await kv.put("app/feature=checkout.v2", b"on")
        await kv.put("app.db.host", b"db.internal")
        await kv.put("app.db.port", b"5432")
        await kv.put("orders.last", b"0")
        done.append(f"created bucket {names.config_bucket} (4 keys)")
    try:
        await js.object_store(names.files)
        done.append(f"object store {names.files} already exists")
    except NotFoundError:
        store = await js.create_object_store(names.files)
        await store.put("README.txt", b"Files the demo keeps in a NATS object store.\n")
        await store.put("reports/2026/orders=daily.csv", b"day,orders\n2026-01-01,42\n2026-01-02,57\n")
        await store.put("blobs/random.bin", bytes(range(256)) * 4096)
        done.append(f"created object store {names.files} (3 files)")
    return done
