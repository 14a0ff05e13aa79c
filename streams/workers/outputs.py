"""Producers to any cluster, for forwarding handlers and dead letters.

During a batch, sends are handed to the client (Kafka) or queued (NATS); ``confirm()``
then waits until every one is acknowledged (Kafka delivery reports, a NATS round trip
after core publishes, JetStream acks) and answers, per source message, which sends failed
and whether trying again could help (``SendFailure.permanent``). Only then does the loop
commit offsets or acknowledge messages, and never past a message whose send failed: a
transient failure has the message handled again; a permanent one (a message too large, an
unknown topic, a header the client refuses) counts as a failure of the handler (retries,
then the dead letter).

NATS header names must be RFC 7230 tokens: every other character of a name (and ``%``) is
percent-encoded as its UTF-8 bytes when a message is bridged (``bad name`` becomes
``bad%20name``), so no message is refused for a Kafka header name.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nats
from confluent_kafka import KafkaError, KafkaException, Producer
from nats.aio.client import Client as NatsClient
from nats.errors import BadHeaderError, BadSubjectError, MaxPayloadError, NoRespondersError
from nats.js.errors import APIError

from streams.clusters import ClusterConfig
from streams.kafka.client import client_config
from streams.nats.connection import connect_options
from streams.nats.loopthread import LoopThread
from streams.workers.message import Destination, Headers

logger = logging.getLogger("streams.workers")

# A source message's id(): what its sends are known by until its batch is confirmed.
Token = int


@dataclass(frozen=True)
class SendFailure:
    reason: str
    # Sending the same message again fails the same way (too large, unknown topic, refused header).
    permanent: bool = False


Failures = dict[Token, SendFailure]

# Errors that sending the same message again cannot fix; any other failure is retried as it is.
_PERMANENT_KAFKA = {
    getattr(KafkaError, name)
    for name in (
        "MSG_SIZE_TOO_LARGE",
        "RECORD_LIST_TOO_LARGE",
        "INVALID_RECORD",
        "CORRUPT_MESSAGE",
        "INVALID_TOPIC_EXCEPTION",
        "TOPIC_AUTHORIZATION_FAILED",
        "UNKNOWN_TOPIC_OR_PART",
        "INVALID_REQUIRED_ACKS",
        "_UNKNOWN_TOPIC",
        "_UNKNOWN_PARTITION",
        "_INVALID_ARG",
        "_MSG_SIZE_TOO_LARGE",
        "_INVALID_TYPE",
    )
    if hasattr(KafkaError, name)
}
_PERMANENT_NATS = (BadHeaderError, BadSubjectError, MaxPayloadError, NoRespondersError, TypeError, ValueError)

_TOKEN_CHARS = frozenset("!#$&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN_RE = re.compile(r"[!#$&'*+\-.^_`|~0-9A-Za-z]+")


@functools.lru_cache(maxsize=4096)
def nats_header_name(name: str) -> str:
    """``name`` as a valid NATS header name: characters outside RFC 7230's token set, and ``%``,
    percent-encoded (UTF-8). Reversible with ``urllib.parse.unquote``; names repeat, so cached."""
    if _TOKEN_RE.fullmatch(name):
        return name
    return "".join(c if c in _TOKEN_CHARS else "".join(f"%{b:02X}" for b in c.encode()) for c in name)


def nats_headers(headers: Headers) -> dict[str, str] | None:
    """NATS headers hold text, one value per name: repeated names are joined with ", "."""
    if not headers:
        return None
    out: dict[str, str] = {}
    for name, value in headers:
        name = nats_header_name(name)
        text = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


def kafka_failure(err: KafkaError | None, what: str) -> SendFailure:
    if not isinstance(err, KafkaError):
        return SendFailure(f"{what}: {err}", permanent=False)
    return SendFailure(f"{what}: {err.str()}", permanent=err.code() in _PERMANENT_KAFKA)


class KafkaSink:
    """One producer to one Kafka cluster.

    A failed delivery fails its source message alone; the batch's other messages are committed.
    Only failures are reported (a report costs a Python call and a copy of the message), through
    one callback: a report is matched to its source message by topic, key and value among the
    batch's sends, so the common case costs what a bare producer's does. (Sends with the same
    topic, key and value all fail with one of them: at least once, never lost.)
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
                # A topic the broker does not know fails its messages within the timeout, as unknown.
                "topic.metadata.propagation.max.ms": int(max(timeout, 1.0) * 1000) // 2,
                "delivery.report.only.error": True,
            }
        )
        self.sends: list[tuple[str, bytes | None, bytes | None, Token]] = []
        self.reports: list[tuple[KafkaError, str, Any, Any]] = []
        self.failures: Failures = {}
        self._produce = self.producer.produce
        self._on_delivery = self._delivered

    def _delivered(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.reports.append((err, msg.topic(), msg.key(), msg.value()))

    def send(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers, token: Token) -> None:
        client_headers: Any = headers or None
        while True:
            try:
                self._produce(topic, value, key, headers=client_headers, on_delivery=self._on_delivery)
                self.sends.append((topic, key, value, token))
                return
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                self.failures.setdefault(token, kafka_failure(err, f"Kafka refused a message for {topic}"))
                return
            except (TypeError, ValueError) as exc:
                reason = f"Kafka refused a message for {topic}: {exc}"
                self.failures.setdefault(token, SendFailure(reason, permanent=True))
                return

    def confirm(self) -> Failures:
        """The sends since the last call that failed, by source message."""
        if not self.sends and not self.failures:
            return {}
        left = self.producer.flush(self.timeout) if self.sends else 0
        if left:
            # Every undelivered message gets its delivery report (purged): it fails alone.
            self.producer.purge()
            self.producer.flush(min(self.timeout, 2.0))
        sends, self.sends = self.sends, []
        reports, self.reports = self.reports, []
        failures, self.failures = self.failures, {}
        if reports:
            by_content: dict[tuple[str, Any, Any], list[Token]] = {}
            for topic, key, value, token in sends:
                by_content.setdefault((topic, key or None, value or None), []).append(token)
            for err, topic, key, value in reports:
                failure = kafka_failure(err, f"delivery to {topic} failed")
                # Unmatched (it cannot be, but): every send of the batch fails, none is lost.
                tokens = by_content.get((topic, key or None, value or None)) or [t for *_, t in sends]
                for token in tokens:
                    failures.setdefault(token, failure)
        return failures

    def poll(self) -> None:
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush(min(self.timeout, 2.0))


Host = tuple[asyncio.AbstractEventLoop, NatsClient]


class NatsSink:
    """Publishes to one NATS cluster, a batch's publishes in one visit: on the consuming loop's own
    connection when the consumer reads that cluster (``host``; no second connection, no thread
    hop), else on a connection and loop of its own."""

    def __init__(self, config: ClusterConfig, client_id: str, timeout: float, host: Host | None = None) -> None:
        self.config = config
        self.client_id = client_id
        self.timeout = timeout
        self.host = host
        self._own_loop: LoopThread | None = None
        self.nc: NatsClient | None = None
        self.queue: list[tuple[str, bytes, dict[str, str] | None, bool, Token]] = []

    @property
    def loop(self) -> LoopThread:
        if self._own_loop is None:
            self._own_loop = LoopThread(name=f"out-{self.config.slug}")
        return self._own_loop

    def send(self, subject: str, value: bytes | None, headers: Headers, jetstream: bool, token: Token) -> None:
        self.queue.append((subject, value or b"", nats_headers(headers), jetstream, token))

    async def _client(self) -> NatsClient:
        if self.host is not None:
            return self.host[1]
        if self.nc is None or self.nc.is_closed:
            options = connect_options(self.config, self.timeout)
            options["name"] = self.client_id
            options["error_cb"] = _quiet
            # A server that does not answer fails this batch's sends now (and the next batch tries
            # again), rather than hanging in connect; once connected, reconnect without end.
            options["max_reconnect_attempts"] = 1
            options["reconnect_time_wait"] = 0
            nc = await nats.connect(**options)
            nc.options["max_reconnect_attempts"] = -1
            nc.options["reconnect_time_wait"] = 1
            self.nc = nc
        return self.nc

    async def _ship(self, batch: list[tuple[str, bytes, dict[str, str] | None, bool, Token]]) -> Failures:
        nc = await self._client()
        failed: Failures = {}
        acks: list[tuple[Token, str, asyncio.Future[Any]]] = []
        core: list[Token] = []
        js = nc.jetstream(timeout=self.timeout)
        for subject, value, headers, jetstream, token in batch:
            try:
                if jetstream:
                    acks.append((token, subject, await js.publish_async(subject, value, headers=headers)))
                else:
                    await nc.publish(subject, value, headers=headers)
                    core.append(token)
            except _PERMANENT_NATS as exc:
                failed.setdefault(token, SendFailure(f"publish to {subject} failed: {_text(exc)}", permanent=True))
            except Exception as exc:  # noqa: BLE001 - any other failure fails that send, for now
                failed.setdefault(token, SendFailure(f"publish to {subject} failed: {_text(exc)}"))
        if core:
            # The server handles a connection's messages in order: an answered round trip
            # after them means it took every one.
            try:
                await nc.request(nc.new_inbox(), b"", timeout=self.timeout)
            except NoRespondersError:
                pass
            except Exception as exc:  # noqa: BLE001 - the core publishes are unconfirmed
                for token in core:
                    failed.setdefault(token, SendFailure(f"NATS did not confirm the publishes: {_text(exc)}"))
        for token, subject, ack in acks:
            try:
                await asyncio.wait_for(ack, self.timeout)
            except NoRespondersError:
                reason = f"no JetStream stream takes subject {subject}"
                failed.setdefault(token, SendFailure(reason, permanent=True))
            except APIError as exc:
                # The stream refused this message (too large, a limit): sending it again changes nothing.
                reason = f"JetStream refused the message for {subject}: {_text(exc)}"
                failed.setdefault(token, SendFailure(reason, permanent=exc.code is not None and exc.code < 500))
            except Exception as exc:  # noqa: BLE001 - any failure fails that send
                failed.setdefault(token, SendFailure(f"JetStream did not acknowledge: {_text(exc)}"))
        return failed

    def confirm(self) -> Failures:
        batch, self.queue = self.queue, []
        if not batch:
            return {}
        try:
            host = self.host
            if host is None:
                return self.loop.call(lambda: self._ship(batch), self.timeout * 2 + 1)
            # Called from a worker thread while the host loop awaits it, so that loop is free.
            future = asyncio.run_coroutine_threadsafe(self._ship(batch), host[0])
            try:
                return future.result(self.timeout * 2 + 1)
            except TimeoutError:
                future.cancel()
                raise
        except Exception as exc:  # noqa: BLE001 - any failure fails the batch's sends
            failure = SendFailure(f"NATS {self.config.slug} did not take the messages: {_text(exc)}")
            return {token: failure for *_, token in batch}

    def poll(self) -> None:
        return None

    def close(self) -> None:
        async def shutdown() -> None:
            if self.nc is not None and not self.nc.is_closed:
                await self.nc.close()

        if self._own_loop is None:
            return  # nothing of its own: the host's connection belongs to the consuming loop
        try:
            self._own_loop.call(shutdown, 3)
        except Exception:
            logger.debug("closing the NATS output to %s failed", self.config.slug, exc_info=True)
        self._own_loop.stop()


async def _quiet(exc: Exception) -> None:
    logger.debug("nats output: %s", exc)


def _text(exc: BaseException) -> str:
    return str(exc) or exc.__class__.__name__


class Outbox:
    """Every send of one managed consumer, per destination cluster, confirmed together."""

    def __init__(self, resolve: Callable[[str], ClusterConfig], client_id: str, timeout: float) -> None:
        self._resolve = resolve
        self._client_id = client_id
        self._timeout = timeout
        self._kafka: dict[str, KafkaSink] = {}
        self._nats: dict[str, NatsSink] = {}
        self._last: tuple[Destination, KafkaSink | NatsSink] | None = None
        self._hosts: dict[str, Host] = {}
        self.sent = 0

    def host_nats(self, cluster: str, host: Host | None) -> None:
        """Sends to ``cluster`` go through this loop's connection (None: through one of their own)."""
        if host is None:
            self._hosts.pop(cluster, None)
        else:
            self._hosts[cluster] = host
        if cluster in self._nats:
            self._nats[cluster].host = host

    def _sink(self, destination: Destination) -> KafkaSink | NatsSink:
        kind = "kafka" if destination.topic else "nats"
        table: dict[str, Any] = self._kafka if kind == "kafka" else self._nats
        sink = table.get(destination.cluster)
        if sink is None:
            config = self._resolve(destination.cluster)
            if config.kind != kind:
                raise ValueError(f"cluster {destination.cluster} is a {config.kind} cluster, not {kind}")
            if kind == "kafka":
                sink = KafkaSink(config, self._client_id, self._timeout)
            else:
                sink = NatsSink(config, self._client_id, self._timeout, self._hosts.get(destination.cluster))
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
            topic = destination.topic
            assert topic is not None
            client_headers: Any = headers or None
            try:
                # KafkaSink.send, inlined for the common case (once per forwarded message).
                sink._produce(topic, value, key, headers=client_headers, on_delivery=sink._on_delivery)
            except Exception:  # noqa: BLE001 - nothing was queued: send() retries and records it
                sink.send(topic, key, value, headers, token)
            else:
                sink.sends.append((topic, key, value, token))
            return
        if not destination.subject:
            raise ValueError("a destination needs a topic or a subject")
        if key is not None and not any(name == KEY_HEADER for name, _ in headers):
            headers = [*headers, (KEY_HEADER, key)]
        sink.send(destination.subject, value, headers, destination.jetstream, token)

    def send_nats(self, destination: Destination, value: bytes, headers: dict[str, str], token: Token) -> None:
        """A send to a NATS subject with headers that are valid NATS headers already."""
        self.sent += 1
        last = self._last
        sink = last[1] if last is not None and last[0] is destination else self._sink(destination)
        if not isinstance(sink, NatsSink) or not destination.subject:
            raise ValueError("send_nats needs a NATS subject")
        sink.queue.append((destination.subject, value, headers or None, destination.jetstream, token))

    def confirm(self) -> Failures:
        """Wait for every send since the last call; the failed ones, by source message."""
        failed: Failures = {}
        if not self.sent:
            return failed
        self.sent = 0
        for sink in self._sinks():
            for token, why in sink.confirm().items():
                # A transient failure of one send and a permanent one of another: try again as it is.
                if token not in failed or failed[token].permanent:
                    failed[token] = why
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
