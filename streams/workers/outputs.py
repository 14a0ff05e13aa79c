"""Producers to any cluster, for forwarding handlers and dead letters.

During a batch, sends are handed to the client (Kafka) or queued (NATS); ``confirm()``
then waits until every one is acknowledged (Kafka delivery reports, a NATS round trip
after core publishes, JetStream acks) and answers which source messages had a send that
failed. Only then does the loop commit offsets or acknowledge messages, and never past
a message whose send failed: that message is handled again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats
from confluent_kafka import KafkaError, KafkaException, Producer
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError

from streams.clusters import ClusterConfig
from streams.kafka.client import client_config
from streams.nats.connection import connect_options
from streams.nats.loopthread import LoopThread
from streams.workers.message import Destination, Headers

logger = logging.getLogger("streams.workers")

# A source message's id(): what its sends are known by until its batch is confirmed.
Token = int
Failures = dict[Token | str, str]
# In a confirm() answer: every send of the batch failed (a Kafka delivery did).
EVERYTHING = "*"


def nats_headers(headers: Headers) -> dict[str, str] | None:
    """NATS headers hold text, one value per name: repeated names are joined with ", "."""
    if not headers:
        return None
    out: dict[str, str] = {}
    for name, value in headers:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


class KafkaSink:
    """One producer to one Kafka cluster.

    Delivery is confirmed per batch (``flush``): a failed delivery fails the whole batch's sends,
    so the batch is handled again. Failures are rare, and one shared callback keeps the common
    case as cheap as a bare producer's.
    """

    def __init__(self, config: ClusterConfig, client_id: str, timeout: float) -> None:
        self.timeout = timeout
        self.producer = Producer(
            client_config(config)
            | {
                "client.id": client_id,
                "linger.ms": 5,
                "acks": "all",
                "message.timeout.ms": int(max(timeout, 1.0) * 1000),
            }
        )
        self.pending = 0
        self.failure: str | None = None
        self._on_delivery = self._delivered

    def _delivered(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None and self.failure is None:
            self.failure = f"delivery to {msg.topic()} failed: {err.str()}"

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        self.pending += 1
        client_headers: Any = headers or None
        while True:
            try:
                self.producer.produce(topic, value, key, headers=client_headers, on_delivery=self._on_delivery)
                return
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                reason = err.str() if isinstance(err, KafkaError) else str(exc)
                self.failure = self.failure or f"Kafka refused a message for {topic}: {reason}"
                return

    def confirm(self) -> str | None:
        """None when every send since the last call was delivered, else why not."""
        if not self.pending:
            return None
        left = self.producer.flush(self.timeout)
        self.pending = 0
        failure, self.failure = self.failure, None
        if left and failure is None:
            failure = f"Kafka did not confirm {left} message(s) within {self.timeout:g} s"
        return failure

    def poll(self) -> None:
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(min(self.timeout, 2.0))


class NatsSink:
    """A connection to one NATS cluster on a loop of its own; a batch's publishes go in one visit."""

    def __init__(self, config: ClusterConfig, client_id: str, timeout: float) -> None:
        self.config = config
        self.client_id = client_id
        self.timeout = timeout
        self.loop = LoopThread(name=f"out-{config.slug}")
        self.nc: NatsClient | None = None
        self.queue: list[tuple[str, bytes, dict[str, str] | None, bool, Token]] = []

    def send(self, subject: str, value: bytes | None, headers: Headers, jetstream: bool, token: Token) -> None:
        self.queue.append((subject, value or b"", nats_headers(headers), jetstream, token))

    async def _client(self) -> NatsClient:
        if self.nc is None or self.nc.is_closed:
            options = connect_options(self.config, self.timeout)
            options["name"] = self.client_id
            options["error_cb"] = _quiet
            options["max_reconnect_attempts"] = -1
            self.nc = await nats.connect(**options)
        return self.nc

    async def _ship(self, batch: list[tuple[str, bytes, dict[str, str] | None, bool, Token]]) -> Failures:
        nc = await self._client()
        failed: Failures = {}
        acks: list[tuple[Token, asyncio.Future[Any]]] = []
        core = False
        js = nc.jetstream(timeout=self.timeout)
        for subject, value, headers, jetstream, token in batch:
            try:
                if jetstream:
                    acks.append((token, await js.publish_async(subject, value, headers=headers)))
                else:
                    await nc.publish(subject, value, headers=headers)
                    core = True
            except Exception as exc:  # noqa: BLE001 - any failure fails that send
                failed.setdefault(token, f"publish to {subject} failed: {exc or exc.__class__.__name__}")
        if core:
            # The server handles a connection's messages in order: an answered round trip
            # after them means it took every one.
            try:
                await nc.request(nc.new_inbox(), b"", timeout=self.timeout)
            except NoRespondersError:
                pass
        for token, ack in acks:
            try:
                await asyncio.wait_for(ack, self.timeout)
            except Exception as exc:  # noqa: BLE001 - any failure fails that send
                failed.setdefault(token, f"JetStream did not acknowledge: {exc or exc.__class__.__name__}")
        return failed

    def confirm(self) -> Failures:
        batch, self.queue = self.queue, []
        if not batch:
            return {}
        try:
            return self.loop.call(lambda: self._ship(batch), self.timeout * 2 + 1)
        except Exception as exc:  # noqa: BLE001 - any failure fails the batch's sends
            reason = f"NATS {self.config.slug} did not take the messages: {exc or exc.__class__.__name__}"
            return {token: reason for *_, token in batch}

    def poll(self) -> None:
        return None

    def close(self) -> None:
        async def shutdown() -> None:
            if self.nc is not None and not self.nc.is_closed:
                await self.nc.close()

        try:
            self.loop.call(shutdown, 3)
        except Exception:
            logger.debug("closing the NATS output to %s failed", self.config.slug, exc_info=True)
        self.loop.stop()


async def _quiet(exc: Exception) -> None:
    logger.debug("nats output: %s", exc)


class Outbox:
    """Every send of one managed consumer, per destination cluster, confirmed together."""

    def __init__(self, resolve: Callable[[str], ClusterConfig], client_id: str, timeout: float) -> None:
        self._resolve = resolve
        self._client_id = client_id
        self._timeout = timeout
        self._kafka: dict[str, KafkaSink] = {}
        self._nats: dict[str, NatsSink] = {}
        self._last: tuple[Destination, KafkaSink | NatsSink] | None = None
        self.sent = 0

    def _sink(self, destination: Destination) -> KafkaSink | NatsSink:
        kind = "kafka" if destination.topic else "nats"
        table: dict[str, Any] = self._kafka if kind == "kafka" else self._nats
        sink = table.get(destination.cluster)
        if sink is None:
            config = self._resolve(destination.cluster)
            if config.kind != kind:
                raise ValueError(f"cluster {destination.cluster} is a {config.kind} cluster, not {kind}")
            sink = (KafkaSink if kind == "kafka" else NatsSink)(config, self._client_id, self._timeout)
            table[destination.cluster] = sink
        self._last = (destination, sink)
        return sink

    def send(
        self, destination: Destination, key: bytes | None, value: bytes | None, headers: Headers, token: Token
    ) -> None:
        self.sent += 1
        last = self._last
        # Handlers keep their destination (HandlerConfig.memo): the same object, message after message.
        sink = last[1] if last is not None and last[0] is destination else self._sink(destination)
        if isinstance(sink, KafkaSink):
            assert destination.topic is not None
            sink.send(destination.topic, key, value, headers)
            return
        if not destination.subject:
            raise ValueError("a destination needs a topic or a subject")
        if key is not None and not any(name == KEY_HEADER for name, _ in headers):
            headers = [*headers, (KEY_HEADER, key)]
        sink.send(destination.subject, value, headers, destination.jetstream, token)

    def confirm(self) -> Failures:
        """Wait for every send since the last call; the tokens of the source messages whose sends
        failed, or ``{EVERYTHING: reason}`` when a Kafka delivery failed."""
        failed: Failures = {}
        if not self.sent:
            return failed
        self.sent = 0
        for kafka in self._kafka.values():
            reason = kafka.confirm()
            if reason is not None:
                failed.setdefault(EVERYTHING, reason)
        for nats_sink in self._nats.values():
            for token, why in nats_sink.confirm().items():
                failed.setdefault(token, why)
        return failed

    def _sinks(self) -> list[KafkaSink | NatsSink]:
        return [*self._kafka.values(), *self._nats.values()]

    def poll(self) -> None:
        for sink in self._kafka.values():
            sink.poll()

    def close(self) -> None:
        for sink in self._sinks():
            try:
                sink.close()
            except Exception:
                logger.debug("closing an output failed", exc_info=True)


# A Kafka key has nowhere to go in a NATS message but a header.
KEY_HEADER = "streamdesk-key"
