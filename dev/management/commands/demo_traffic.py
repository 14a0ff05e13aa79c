"""A gentle trickle of demo traffic so a local Streamdesk has something alive to show.

Each tick sends one order to Kafka and one order event to JetStream; every few seconds a
sensor reading (plain Avro) and a shipment (plain Protobuf) to Kafka; now and then a
payment (and, more rarely, a binary "poison" payment that the demo's ``validate`` managed
consumer dead-letters), a sensor reading on core NATS, and it answers requests on ``demo.echo``.
Every few seconds the demo consumers catch up part of the way (group ``billing``
commits, durable ``shipper`` acknowledges), so their lag moves but never reaches zero,
while group ``ledger`` keeps up with the payments.

Runs until SIGTERM or SIGINT (or ``--duration``), then flushes and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nats
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, Producer, TopicPartition
from django.core.management.base import BaseCommand, CommandError, CommandParser
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.micro import ServiceConfig, add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig

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

logger = logging.getLogger("streamdesk.demo")
BROKER_TIMEOUT = 5.0


class Traffic:
    """One producer per broker and the two demo consumers; each step is a method a test can call."""

    def __init__(self, names: DemoNames, bootstrap: str, servers: list[str], seed: int | None = None) -> None:
        self.names = names
        self.bootstrap = bootstrap
        self.servers = servers
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.number = 0
        self.sent = {"kafka": 0, "nats": 0}
        self.errors = 0
        self.last_error = ""
        self.producer: Producer | None = None
        self.billing: Consumer | None = None
        self.ledger: Consumer | None = None
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None

    async def start(self) -> None:
        self.producer = Producer(producer_config(self.bootstrap))
        self.billing = Consumer(consumer_config(self.bootstrap, self.names.billing))
        self.ledger = Consumer(consumer_config(self.bootstrap, self.names.ledger))
        self.nc = await nats.connect(
            servers=self.servers,
            name="streamdesk-demo",
            connect_timeout=BROKER_TIMEOUT,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=self._nats_error,
        )
        self.js = self.nc.jetstream(timeout=BROKER_TIMEOUT)
        # A NATS micro service, so that the Services page has something to list.
        service = await add_service(
            self.nc, ServiceConfig(name="demo-echo", version="1.0.0", description="Echoes requests back as JSON")
        )
        await service.add_endpoint(EndpointConfig(name="echo", subject=self.names.echo, handler=self._echo))

    async def _nats_error(self, exc: Exception) -> None:
        logger.debug("nats: %s", exc)

    async def _echo(self, request: Request) -> None:
        answer = {"echo": request.data.decode(errors="replace"), "at": datetime.now(UTC).isoformat()}
        await request.respond(json.dumps(answer).encode())

    def _note(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        message = f"{what}: {exc or exc.__class__.__name__}"
        if message != self.last_error:
            logger.warning("%s", message)
            self.last_error = message

    async def step(self) -> None:
        """One tick: an order to each broker, sometimes a payment and a sensor reading."""
        self.number += 1
        customer, body = order(self.rng, self.number)
        assert self.producer is not None and self.js is not None and self.nc is not None
        try:
            headers: list[tuple[str, str | bytes | None]] = [
                ("source", self.rng.choice([b"web", b"mobile"])),
                ("trace-id", self.rng.randbytes(8).hex()),
            ]
            self.producer.produce(self.names.orders, value=body, key=customer, headers=headers)
            if self.number % 5 == 0:
                self.producer.produce(self.names.payments, value=payment(self.number), key=customer)
            if self.number % 20 == 0:
                # Now and then a poison payment: the demo's validate consumer dead-letters it.
                self.producer.produce(self.names.payments, value=payment_record(self.rng, self.number), key=customer)
            if self.number % 3 == 0:
                sensor, body = reading(self.rng, self.number)
                self.producer.produce(self.names.readings, value=body, key=sensor)
            if self.number % 4 == 0:
                key, body = shipment(self.rng, self.number)
                self.producer.produce(self.names.shipments, value=body, key=key)
            self.producer.poll(0)
            self.sent["kafka"] += 1
        except (KafkaException, BufferError) as exc:
            self._note("kafka produce", exc)
        try:
            event = self.rng.choice(ORDER_EVENTS)
            await self.js.publish(f"{self.names.subject_root}.{event}", body, headers={"source": "demo"})
            room = self.rng.choice(["lab", "office", "server-room"])
            sample = {"room": room, "celsius": round(self.rng.gauss(21, 2), 2)}
            await self.nc.publish(f"{self.names.sensors}.temperature.{room}", json.dumps(sample).encode())
            if self.number % 10 == 0:
                # The config bucket's "orders.last" key moves on with the traffic.
                await self.js.publish(f"$KV.{self.names.config_bucket}.orders.last", str(self.number).encode())
            self.sent["nats"] += 1
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            self._note("nats publish", exc)

    async def settle(self) -> None:
        """Let the demo consumers catch up part of the way."""
        try:
            await asyncio.to_thread(self._advance_billing)
        except KafkaException as exc:
            self._note("kafka commit", exc)
        try:
            await self._advance_shipper()
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            self._note("jetstream consumer", exc)

    def _advance_billing(self) -> None:
        """``billing`` stays a few messages behind on orders; ``ledger`` keeps up with payments."""
        assert self.billing is not None and self.ledger is not None
        self._advance(self.billing, self.names.orders, lambda high: max(high - self.rng.randint(1, 4), 0))
        self._advance(self.ledger, self.names.payments, lambda high: high)

    def _advance(self, consumer: Consumer, topic: str, target_for: Callable[[int], int]) -> None:
        metadata = consumer.list_topics(topic, timeout=BROKER_TIMEOUT)
        partitions = sorted(metadata.topics[topic].partitions) if topic in metadata.topics else []
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=BROKER_TIMEOUT)
        moves = []
        for tp in committed:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=BROKER_TIMEOUT)
            target = target_for(high)
            if tp.offset == OFFSET_INVALID or target > tp.offset:
                moves.append(TopicPartition(topic, tp.partition, target))
        if moves:
            consumer.commit(offsets=moves, asynchronous=False)

    async def _advance_shipper(self) -> None:
        assert self.js is not None
        try:
            info = await self.js.consumer_info(self.names.stream, self.names.shipper)
        except NotFoundError:
            return
        take = min(info.num_pending - self.rng.randint(2, 6), 50)
        if take <= 0:
            return
        sub = await self.js.pull_subscribe_bind(durable=self.names.shipper, stream=self.names.stream)
        try:
            messages = await sub.fetch(take, timeout=BROKER_TIMEOUT)
            for index, message in enumerate(messages):
                # Now and then one stays un-acknowledged and is redelivered after ack_wait.
                if index or self.rng.random() > 0.2:
                    await message.ack()
        except nats.errors.TimeoutError:
            pass
        finally:
            await sub.unsubscribe()

    async def close(self) -> None:
        if self.producer is not None:
            await asyncio.to_thread(self.producer.flush, BROKER_TIMEOUT)
        for consumer in (self.billing, self.ledger):
            if consumer is not None:
                consumer.close()
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.drain()


class Command(BaseCommand):
    help = "Send a gentle trickle of demo messages to the local Kafka and NATS until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rate", type=float, default=1.0, help="orders per second to each broker (default 1)")
        parser.add_argument("--settle-every", type=float, default=8.0, help="seconds between consumer catch-ups")
        parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: run on)")
        add_target_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("streamdesk.demo").setLevel(logging.INFO)
        traffic = Traffic(
            DemoNames(options["prefix"]),
            kafka_bootstrap(options["allow_remote"]),
            nats_servers(options["allow_remote"]),
        )
        rate = max(options["rate"], 0.01)
        asyncio.run(self.run(traffic, 1.0 / rate, options["settle_every"], options["duration"]))
        self.stdout.write(f"demo traffic stopped: {self.summary(traffic)}")

    @staticmethod
    def summary(traffic: Traffic) -> str:
        return f"{traffic.sent['kafka']} Kafka and {traffic.sent['nats']} NATS orders sent, {traffic.errors} errors"

    async def run(self, traffic: Traffic, interval: float, settle_every: float, duration: float) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        handled: list[int] = []
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
                handled.append(signum)
        try:
            try:
                await asyncio.wait_for(traffic.start(), 3 * BROKER_TIMEOUT)
            except (OSError, TimeoutError, nats.errors.Error, KafkaException) as exc:
                raise CommandError(f"demo traffic could not connect: {exc or exc.__class__.__name__}") from None
            started = last_settle = last_report = time.monotonic()
            self.stdout.write(f"demo traffic: one order every {interval:g} s to Kafka and NATS")
            while not stop.is_set():
                await traffic.step()
                now = time.monotonic()
                if now - last_settle >= settle_every:
                    await traffic.settle()
                    last_settle = now
                if now - last_report >= 60:
                    self.stdout.write(f"demo traffic: {self.summary(traffic)}")
                    last_report = now
                if duration and now - started >= duration:
                    break
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except TimeoutError:
                    pass
        finally:
            for handled_signum in handled:
                loop.remove_signal_handler(handled_signum)
            await traffic.close()
