"""Producers to any cluster, for forwarding handlers and dead letters.

During a batch, sends are handed to the client (Kafka) or queued (NATS); ``confirm()``
then waits until every one is acknowledged (Kafka delivery reports, a NATS round trip
after core publishes, JetStream acks) and answers which source messages had a send that
failed. Only then does the loop commit offsets or acknowledge messages, and never past
a message whose send failed: that message is handled again.
"""

from __future__ import annotations

import asyncio
import functools
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

Token = Any
Failures = dict[Token, str]


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
    """One producer to one Kafka cluster; delivery failures are kept per source message."""

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
        self.outstanding: dict[Token, int] = {}
        self.failed: Failures = {}

    def _delivered(self, token: Token, err: KafkaError | None, msg: Any) -> None:
        left = self.outstanding.get(token, 1) - 1
        if left:
            self.outstanding[token] = left
        else:
            self.outstanding.pop(token, None)
        if err is not None:
            self.failed.setdefault(token, f"delivery to {msg.topic()} failed: {err.str()}")

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers, token: Token) -> None:
        callback = functools.partial(self._delivered, token)
        client_headers: Any = headers or None
        self.outstanding[token] = self.outstanding.get(token, 0) + 1
        while True:
            try:
                self.producer.produce(topic, value, key, headers=client_headers, on_delivery=callback)
                return
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:
                self._delivered(token, exc.args[0] if exc.args else KafkaError(KafkaError._FAIL), _Named(topic))
                return

    def confirm(self) -> Failures:
        if self.outstanding:
            self.producer.flush(self.timeout)
        failed, self.failed = self.failed, {}
        for token in self.outstanding:
            failed.setdefault(token, f"Kafka did not confirm delivery within {self.timeout:g} s")
        self.outstanding = {}
        return failed

    def poll(self) -> None:
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(min(self.timeout, 2.0))


class _Named:
    """Stands for a message in a failure report when the producer refused it outright."""

    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


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
        self.sent = 0

    def _sink(self, cluster: str, kind: str) -> KafkaSink | NatsSink:
        table: dict[str, Any] = self._kafka if kind == "kafka" else self._nats
        sink = table.get(cluster)
        if sink is None:
            config = self._resolve(cluster)
            if config.kind != kind:
                raise ValueError(f"cluster {cluster} is a {config.kind} cluster, not {kind}")
            sink = (KafkaSink if kind == "kafka" else NatsSink)(config, self._client_id, self._timeout)
            table[cluster] = sink
        return sink

    def send(
        self, destination: Destination, key: bytes | None, value: bytes | None, headers: Headers, token: Token
    ) -> None:
        self.sent += 1
        if destination.topic:
            sink = self._kafka.get(destination.cluster) or self._sink(destination.cluster, "kafka")
            assert isinstance(sink, KafkaSink)
            sink.send(destination.topic, key, value, headers, token)
            return
        if not destination.subject:
            raise ValueError("a destination needs a topic or a subject")
        nats_sink = self._nats.get(destination.cluster) or self._sink(destination.cluster, "nats")
        assert isinstance(nats_sink, NatsSink)
        if key is not None and not any(name == KEY_HEADER for name, _ in headers):
            headers = [*headers, (KEY_HEADER, key)]
        nats_sink.send(destination.subject, value, headers, destination.jetstream, token)

    def confirm(self) -> Failures:
        """Wait for every send since the last call; the tokens of the source messages whose sends failed."""
        failed: Failures = {}
        if not self.sent:
            return failed
        self.sent = 0
        for sink in self._sinks():
            for token, reason in sink.confirm().items():
                failed.setdefault(token, reason)
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
