"""The message a handler is given, whichever broker it came from.

``key`` and ``value`` are bytes (or None); ``text`` and ``json()`` decode the value; headers
come as ``[(name, bytes)]`` with ``header(name)`` for one. Kafka messages carry
``topic``/``partition``/``offset``, JetStream messages ``stream``/``subject``/``seq``.
``attempt`` counts deliveries to the handler (1 the first time). ``send()`` produces to any
cluster; what it sends is confirmed before the message is committed or acknowledged.

Broker fields are read from the client's message on first use: a handler that never looks
at the headers never pays for converting them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from streams import jsontext

if TYPE_CHECKING:
    from streams.workers.outputs import Outbox

Headers = list[tuple[str, bytes]]
T = TypeVar("T")
M = TypeVar("M", bound="Message")

ORIGIN_PREFIX = "streamdesk-origin-"
ORIGIN_CLUSTER = ORIGIN_PREFIX + "cluster"
ORIGIN_TOPIC = ORIGIN_PREFIX + "topic"
ORIGIN_PARTITION = ORIGIN_PREFIX + "partition"
ORIGIN_OFFSET = ORIGIN_PREFIX + "offset"
ORIGIN_STREAM = ORIGIN_PREFIX + "stream"
ORIGIN_SUBJECT = ORIGIN_PREFIX + "subject"
ORIGIN_SEQ = ORIGIN_PREFIX + "seq"
CONSUMER_HEADER = "streamdesk-consumer"


class HandlerConfig(dict[str, Any]):
    """A handler's config (a plain dict to read) with a place for what a handler derives from
    it once per consumer rather than once per message (a compiled schema, a destination)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo: dict[Hashable, Any] = {}

    def memoized(self, key: Hashable) -> Any:
        """What ``memo`` made for ``key``, or None (the hot path: no closure to build)."""
        return self._memo.get(key)

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        try:
            found: T = self._memo[key]
        except KeyError:
            found = self._memo[key] = build()
        return found


@dataclass(frozen=True)
class Destination:
    """Where a message goes: a Kafka topic, or a NATS subject (published to JetStream when ``jetstream``)."""

    cluster: str
    topic: str | None = None
    subject: str | None = None
    jetstream: bool = False

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Destination:
        return cls(
            cluster=str(data["cluster"]),
            topic=data.get("topic") or None,
            subject=data.get("subject") or None,
            jetstream=bool(data.get("jetstream", False)),
        )

    @property
    def target(self) -> str:
        return self.topic or self.subject or ""

    def describe(self) -> str:
        kind = "topic" if self.topic else "JetStream subject" if self.jetstream else "subject"
        return f"{kind} {self.target} on {self.cluster}"


class Message:
    """Base of both brokers' messages; subclasses fill the fields from their client's message."""

    __slots__ = ("_headers", "_msg", "_outbox", "attempt", "cluster", "config", "consumer")

    # Kafka
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    # JetStream
    stream: str | None = None
    subject: str | None = None
    seq: int | None = None

    def __init__(
        self, msg: Any, cluster: str, consumer: str, config: Mapping[str, Any], outbox: Outbox | None = None
    ) -> None:
        self._msg = msg
        self.cluster = cluster
        self.consumer = consumer
        self.config = config
        self.attempt = 1
        self._outbox = outbox
        self._headers: Headers | None = None

    # -- what every handler reads ------------------------------------------------------------

    @property
    def key(self) -> bytes | None:
        raise NotImplementedError

    @property
    def value(self) -> bytes | None:
        raise NotImplementedError

    @property
    def timestamp_ms(self) -> int | None:
        return None

    def _read_headers(self) -> Headers:
        raise NotImplementedError

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = self._read_headers()
        return self._headers

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name`` (case-sensitive), or None."""
        found = None
        for header_name, value in self.headers:
            if header_name == name:
                found = value
        return found

    @property
    def text(self) -> str:
        """The value as UTF-8 text (UnicodeDecodeError when it is not); an empty string for no value."""
        return (self.value or b"").decode("utf-8")

    def json(self) -> Any:
        """The value parsed as JSON (ValueError when it is not)."""
        return jsontext.loads(self.value or b"")

    @property
    def key_text(self) -> str | None:
        key = self.key
        return None if key is None else key.decode("utf-8")

    def origin(self) -> dict[str, Any]:
        """Where this message came from, as the dead-letter headers and the console name it."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    # -- producing ------------------------------------------------------------------------------

    def send(
        self,
        destination: Destination,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Produce to ``destination``; delivery is confirmed before this message counts as done."""
        if self._outbox is None:
            raise RuntimeError("this message was not given an outbox (it is not running in a managed consumer)")
        self._outbox.send(destination, key, value, headers or [], id(self._msg))

    def provenance(self) -> Headers:
        """Headers naming where this message came from (``streamdesk-origin-*``) and the consumer."""
        headers = [(ORIGIN_PREFIX + name, str(value).encode()) for name, value in self.origin().items()]
        headers.append((CONSUMER_HEADER, self.consumer.encode()))
        return headers

    def copied_headers(self) -> Headers:
        """The original headers followed by the provenance headers: what a forward sends."""
        return [*self.headers, *self.provenance()]

    def forward(self, destination: Destination) -> None:
        """Send a copy to ``destination``: key, value, the original headers and the provenance ones."""
        self.send(destination, key=self.key, value=self.value, headers=self.copied_headers())

    @classmethod
    def forward_lane(cls, lane: Sequence[Any], destination: Destination) -> int:
        """``forward`` for a lane of client messages at once, on a class made by ``bound``: how many
        were sent, from the first (the caller handles the rest one by one, as usual)."""
        return 0

    def _sending(self) -> Outbox:
        if self._outbox is None:
            raise RuntimeError("this message was not given an outbox (it is not running in a managed consumer)")
        return self._outbox


def bound(cls: type[M], **fields: Any) -> Callable[[Any], M]:
    """A subclass of ``cls`` whose instances share one consumer's fields (``cluster``,
    ``consumer``, ``config``, the outbox...): made once per loop, it makes each message with a
    few stores instead of a call up the constructors."""
    shared = {("_outbox" if name == "outbox" else name): value for name, value in fields.items()}

    def __init__(self: M, msg: Any) -> None:
        self._msg = msg
        self.attempt = 1
        self._headers = None

    return type(cls.__name__, (cls,), {"__slots__": (), "__init__": __init__, **shared})


class KafkaMessage(Message):
    __slots__ = ()

    @property
    def key(self) -> bytes | None:
        key: bytes | None = self._msg.key()
        return key

    @property
    def value(self) -> bytes | None:
        value: bytes | None = self._msg.value()
        return value

    @property
    def topic(self) -> str | None:  # type: ignore[override]
        topic: str | None = self._msg.topic()
        return topic

    @property
    def partition(self) -> int | None:  # type: ignore[override]
        partition: int | None = self._msg.partition()
        return partition

    @property
    def offset(self) -> int | None:  # type: ignore[override]
        offset: int | None = self._msg.offset()
        return offset

    @property
    def timestamp_ms(self) -> int | None:
        kind, stamp = self._msg.timestamp()
        return stamp if kind and stamp is not None and stamp >= 0 else None

    def _read_headers(self) -> Headers:
        return [(name, value if value is not None else b"") for name, value in self._msg.headers() or ()]

    def origin(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "topic": self.topic, "partition": self.partition, "offset": self.offset}

    def copied_headers(self) -> Headers:
        # The hot path of every Kafka forward: the client's own header list, no conversion.
        msg = self._msg
        return [
            *(msg.headers() or ()),
            (ORIGIN_CLUSTER, self.cluster.encode()),
            (ORIGIN_TOPIC, msg.topic().encode()),
            (ORIGIN_PARTITION, str(msg.partition()).encode()),
            (ORIGIN_OFFSET, str(msg.offset()).encode()),
            (CONSUMER_HEADER, self.consumer.encode()),
        ]

    def forward(self, destination: Destination) -> None:
        # The hot path of every Kafka forward: straight from the client's message to the outbox.
        msg = self._msg
        outbox = self._outbox or self._sending()
        headers = [
            *(msg.headers() or ()),
            (ORIGIN_CLUSTER, self.cluster.encode()),
            (ORIGIN_TOPIC, msg.topic().encode()),
            (ORIGIN_PARTITION, str(msg.partition()).encode()),
            (ORIGIN_OFFSET, str(msg.offset()).encode()),
            (CONSUMER_HEADER, self.consumer.encode()),
        ]
        outbox.send(destination, msg.key(), msg.value(), headers, id(msg))

    @classmethod
    def forward_lane(cls, lane: Sequence[Any], destination: Destination) -> int:
        # On a bound class these are plain class attributes; on KafkaMessage itself, slots.
        outbox, cluster_name, consumer_name = (getattr(cls, name, None) for name in ("_outbox", "cluster", "consumer"))
        if not isinstance(cluster_name, str) or not isinstance(consumer_name, str) or outbox is None:
            return 0
        send = outbox.send
        cluster, consumer = cluster_name.encode(), consumer_name.encode()
        done = 0
        try:
            for msg in lane:
                headers = [
                    *(msg.headers() or ()),
                    (ORIGIN_CLUSTER, cluster),
                    (ORIGIN_TOPIC, msg.topic().encode()),
                    (ORIGIN_PARTITION, str(msg.partition()).encode()),
                    (ORIGIN_OFFSET, str(msg.offset()).encode()),
                    (CONSUMER_HEADER, consumer),
                ]
                send(destination, msg.key(), msg.value(), headers, id(msg))
                done += 1
        except Exception:  # noqa: BLE001 - this message goes the usual way: retries, dead letter
            return done
        return done

    def describe(self) -> str:
        return f"{self.topic} partition {self.partition} offset {self.offset}"


class NatsMessage(Message):
    __slots__ = ("_stream_name",)

    def __init__(
        self,
        msg: Any,
        stream: str,
        cluster: str,
        consumer: str,
        config: Mapping[str, Any],
        outbox: Outbox | None = None,
    ) -> None:
        super().__init__(msg, cluster, consumer, config, outbox)
        self._stream_name = stream

    @property
    def key(self) -> bytes | None:
        return None

    @property
    def value(self) -> bytes | None:
        data: bytes = self._msg.data
        return data

    @property
    def stream(self) -> str | None:  # type: ignore[override]
        return self._stream_name

    @property
    def subject(self) -> str | None:  # type: ignore[override]
        subject: str = self._msg.subject
        return subject

    @property
    def seq(self) -> int | None:  # type: ignore[override]
        seq: int = self._msg.metadata.sequence.stream
        return seq

    @property
    def timestamp_ms(self) -> int | None:
        stamp = self._msg.metadata.timestamp
        return int(stamp.timestamp() * 1000) if stamp is not None else None

    def _read_headers(self) -> Headers:
        return [(name, str(value).encode("utf-8")) for name, value in (self._msg.headers or {}).items()]

    def origin(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "stream": self.stream, "subject": self.subject, "seq": self.seq}

    def forward(self, destination: Destination) -> None:
        if destination.topic:
            super().forward(destination)
            return
        # NATS to NATS, the hot path: the client's own header dict (its names are valid NATS names
        # already) with the provenance added, no conversion either way.
        msg = self._msg
        headers = dict(msg.headers) if msg.headers else {}
        headers[ORIGIN_CLUSTER] = self.cluster
        headers[ORIGIN_STREAM] = self._stream_name
        headers[ORIGIN_SUBJECT] = msg.subject
        headers[ORIGIN_SEQ] = str(msg.metadata.sequence.stream)
        headers[CONSUMER_HEADER] = self.consumer
        self._sending().send_nats(destination, msg.data, headers, id(msg))

    @classmethod
    def forward_lane(cls, lane: Sequence[Any], destination: Destination) -> int:
        if destination.topic:
            return 0  # to Kafka: one by one (headers become bytes)
        shared = [getattr(cls, name, None) for name in ("_outbox", "cluster", "consumer", "_stream_name")]
        outbox, cluster, consumer, stream = shared
        if outbox is None or not all(isinstance(v, str) for v in (cluster, consumer, stream)):
            return 0
        send = outbox.send_nats
        done = 0
        try:
            for msg in lane:
                headers = dict(msg.headers) if msg.headers else {}
                headers[ORIGIN_CLUSTER] = cluster
                headers[ORIGIN_STREAM] = stream
                headers[ORIGIN_SUBJECT] = msg.subject
                headers[ORIGIN_SEQ] = str(msg.metadata.sequence.stream)
                headers[CONSUMER_HEADER] = consumer
                send(destination, msg.data, headers, id(msg))
                done += 1
        except Exception:  # noqa: BLE001 - this message goes the usual way: retries, dead letter
            return done
        return done

    def describe(self) -> str:
        return f"stream {self.stream} seq {self.seq} ({self.subject})"
