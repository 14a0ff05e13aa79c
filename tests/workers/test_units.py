"""The pure parts of managed consumers: state derivation, backoff, messages, the handler registry,
dead-letter headers and the built-in handlers, without brokers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.handlers import forward, validate
from streams.workers import registry
from streams.workers.loop import backoff_seconds, dead_letter_headers
from streams.workers.message import Destination, HandlerConfig, KafkaMessage, NatsMessage
from streams.workers.outputs import nats_headers
from streams.workers.state import Beat, derive_state
from tests.kafka.records import FakeRecord

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LOST = timedelta(seconds=15)
FRESH = NOW - timedelta(seconds=1)
STALE = NOW - timedelta(seconds=60)


@pytest.mark.parametrize(
    ("desired", "beats", "expected"),
    [
        ("running", [], "starting"),
        ("paused", [], "starting"),
        ("stopped", [], "stopped"),
        ("stopped", [("stopped", STALE)], "stopped"),
        ("running", [("running", FRESH)], "running"),
        ("running", [("running", FRESH), ("paused", FRESH)], "running"),
        ("paused", [("paused", FRESH), ("paused", FRESH)], "paused"),
        ("paused", [("running", FRESH), ("paused", FRESH)], "running"),  # not everyone has paused yet
        ("running", [("running", FRESH), ("failing", FRESH)], "failing"),
        ("running", [("running", STALE)], "lost"),  # heartbeats stopped, beat has not marked it yet
        ("running", [("lost", STALE)], "lost"),
        ("running", [("stopped", STALE)], "starting"),  # said goodbye: nobody runs it now
        ("stopped", [("running", FRESH)], "running"),  # not stopped yet
        ("running", [("starting", FRESH)], "starting"),
        ("running", [("stopping", FRESH)], "starting"),
        ("running", [("failing", STALE), ("running", FRESH)], "running"),  # the failing one is gone
    ],
)
def test_state_is_derived_from_desired_and_heartbeats(desired: str, beats: list[Any], expected: str) -> None:
    assert derive_state(desired, [Beat(s, t) for s, t in beats], NOW, LOST) == expected


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(a, 200, 1000) for a in (0, 1, 2, 3, 4, 5)] == [0.0, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff_seconds(1, 0, 1000) == 0.0
    assert backoff_seconds(10_000, 1, 5) == 0.005


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[Destination, bytes | None, bytes | None, list[tuple[str, bytes]], Any]] = []

    def send(self, *args: Any) -> None:
        self.sent.append(args)


def kafka_message(value: bytes | None, config: dict[str, Any], **kw: Any) -> tuple[KafkaMessage, Outbox]:
    outbox = Outbox()
    message = KafkaMessage(FakeRecord(value, headers=kw.get("headers")), "kafka", "c1", HandlerConfig(config), outbox)  # type: ignore[arg-type]
    return message, outbox


def test_message_helpers() -> None:
    message, _ = kafka_message(b'{"a": 1}', {}, headers=[("h", b"1"), ("h", b"2"), ("n", None)])
    assert message.json() == {"a": 1} and message.text == '{"a": 1}' and message.key_text == "k"
    assert message.headers == [("h", b"1"), ("h", b"2"), ("n", b"")]
    assert message.header("h") == b"2" and message.header("missing") is None
    assert message.origin() == {"cluster": "kafka", "topic": "orders", "partition": 2, "offset": 41}
    assert message.timestamp_ms == 1_700_000_000_000 and message.attempt == 1
    binary, _ = kafka_message(b"\xff", {})
    with pytest.raises(UnicodeDecodeError):
        _ = binary.text
    with pytest.raises(ValueError):
        binary.json()


def test_forward_copies_key_value_headers_and_adds_provenance() -> None:
    message, outbox = kafka_message(b"v", {"cluster": "nats", "subject": "out.x"}, headers=[("trace", b"t1")])
    forward(message)
    [(destination, key, value, headers, token)] = outbox.sent
    assert destination == Destination("nats", subject="out.x") and (key, value) == (b"k", b"v")
    assert token == id(message._msg)
    assert headers[0] == ("trace", b"t1")
    assert ("streamdesk-origin-offset", b"41") in headers and ("streamdesk-consumer", b"c1") in headers


def test_validate_forwards_valid_and_dead_letters_invalid_at_once() -> None:
    config = {"schema": {"type": "object", "required": ["id"]}, "forward": {"cluster": "kafka", "topic": "ok"}}
    good, outbox = kafka_message(b'{"id": 1}', config)
    validate(good)
    assert outbox.sent[0][0] == Destination("kafka", topic="ok")
    for poison in (b'{"other": 1}', b"not json", None):
        bad, outbox = kafka_message(poison, config)
        with pytest.raises(registry.DeadLetter):
            validate(bad)
        assert outbox.sent == []


def test_dead_letter_headers_name_error_handler_and_origin() -> None:
    message, _ = kafka_message(b"v", {})
    message.attempt = 4
    headers = dict(dead_letter_headers(message, "ValueError: no", "validate"))
    assert headers["streamdesk-error"] == b"ValueError: no" and headers["streamdesk-handler"] == b"validate"
    assert headers["streamdesk-attempts"] == b"4" and headers["streamdesk-origin-cluster"] == b"kafka"
    assert (headers["streamdesk-origin-topic"], headers["streamdesk-origin-partition"]) == (b"orders", b"2")
    assert headers["streamdesk-origin-offset"] == b"41"


def test_nats_headers_are_text_one_value_per_name() -> None:
    assert nats_headers([]) is None
    assert nats_headers([("a", b"1"), ("a", b"2"), ("b", b"\xff")]) == {"a": "1, 2", "b": "\ufffd"}


def test_nats_message_origin() -> None:
    class Meta:
        class sequence:
            stream = 7

        timestamp = None

    class Raw:
        data = b"x"
        subject = "orders.created"
        headers = {"a": "b"}
        metadata = Meta

    message = NatsMessage(Raw, "ORDERS", cluster="nats", consumer="c", config={})
    assert message.origin() == {"cluster": "nats", "stream": "ORDERS", "subject": "orders.created", "seq": 7}
    assert message.key is None and message.headers == [("a", b"b")]


def test_registry_lists_built_ins_and_checks_configs() -> None:
    names = {h.name for h in registry.all_handlers()}
    assert {"forward", "validate", "discard"} <= names
    spec = registry.get("forward")
    assert registry.config_problem(spec, {"cluster": "kafka", "topic": "t"}) is None
    assert registry.config_problem(spec, {"cluster": "kafka"}) is not None
    problem = registry.config_problem(spec, {"cluster": "kafka", "topic": "t", "extra": 1})
    assert problem and "extra" in problem
    with pytest.raises(registry.HandlerProblem, match="No handler named 'nope'"):
        registry.get("nope")


def test_the_decorator_refuses_bad_schemas_and_second_definitions() -> None:
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        registry.handler("bad-schema", config_schema={"type": 12})

    @registry.handler("test.twice")
    def first(message: Any) -> None: ...

    with pytest.raises(ValueError, match="registered twice"):

        @registry.handler("test.twice")
        def second(message: Any) -> None: ...

    assert registry.get("test.twice").is_async is False


def test_async_handlers_are_recognised() -> None:
    assert registry.get("test.arecord").is_async


def test_nats_header_names_are_percent_encoded_tokens() -> None:
    from urllib.parse import unquote

    from streams.workers.outputs import nats_header_name

    for name, encoded in (("trace-id", "trace-id"), ("bad name", "bad%20name"), ("ü:x", "%C3%BC%3Ax"),
                          ("50%", "50%25"), ("a\r\nb", "a%0D%0Ab")):  # fmt: skip
        assert nats_header_name(name) == encoded and unquote(encoded) == name
    assert nats_headers([("bad name", b"1"), ("bad%20name", b"2")]) == {"bad%20name": "1", "bad%2520name": "2"}


def test_a_nats_to_nats_forward_keeps_the_clients_header_dict_and_adds_provenance() -> None:
    class Meta:
        class sequence:
            stream = 7

    class Raw:
        data = b"x"
        subject = "orders.created"
        headers = {"a": "b"}
        metadata = Meta

    class NatsOutbox:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        def send_nats(self, *args: Any) -> None:
            self.sent.append(args)

    outbox = NatsOutbox()
    config = HandlerConfig({"cluster": "nats", "subject": "out"})
    message = NatsMessage(Raw, "ORDERS", cluster="nats", consumer="c", config=config, outbox=outbox)  # type: ignore[arg-type]
    forward(message)
    [(destination, value, headers, token)] = outbox.sent
    assert destination == Destination("nats", subject="out")
    assert value == b"x" and token == id(Raw)
    assert headers == {"a": "b", "streamdesk-origin-cluster": "nats", "streamdesk-origin-stream": "ORDERS",
                       "streamdesk-origin-subject": "orders.created", "streamdesk-origin-seq": "7",
                       "streamdesk-consumer": "c"}  # fmt: skip


def test_kafka_delivery_failures_are_told_per_message(dead_port: int) -> None:
    from streams.clusters import ClusterConfig
    from streams.workers.outputs import KafkaSink

    config = ClusterConfig(slug="down", kind="kafka", name="Down", servers=(f"127.0.0.1:{dead_port}",))
    sink = KafkaSink(config, "test", 1.0)
    try:
        sink.send("t", b"k", b"one", [], 1)
        sink.send("t", b"k", b"two", [("h", b"v")], 2)
        failures = sink.confirm()
        assert set(failures) == {1, 2} and not any(f.permanent for f in failures.values())
        assert sink.confirm() == {}
    finally:
        sink.producer.purge()


def test_forward_takes_a_whole_lane_in_one_call_and_leaves_what_it_cannot_send() -> None:
    from streams.handlers import _forward_lane
    from streams.workers.message import bound

    class Refusing(Outbox):
        def send(self, *args: Any) -> None:
            if args[2] == b"bad":
                raise ValueError("refused")
            super().send(*args)

    outbox = Refusing()
    config = HandlerConfig({"cluster": "kafka", "topic": "copy"})
    make = bound(KafkaMessage, cluster="kafka", consumer="c1", config=config, outbox=outbox)
    lane = [FakeRecord(b"a", headers=[("h", b"1")]), FakeRecord(b"b"), FakeRecord(b"bad"), FakeRecord(b"c")]
    assert _forward_lane(make, lane) == 2
    copy = Destination("kafka", topic="copy")
    assert [(d, k, v) for d, k, v, _, _ in outbox.sent] == [(copy, b"k", b"a"), (copy, b"k", b"b")]
    first_headers = outbox.sent[0][3]
    assert first_headers[0] == ("h", b"1") and ("streamdesk-origin-offset", b"41") in first_headers
    # One by one, a message of the bound class is the usual message.
    message = make(lane[3])
    assert message.cluster == "kafka" and message.config is config and message.attempt == 1
    forward(message)
    assert outbox.sent[-1][2] == b"c" and outbox.sent[-1][4] == id(lane[3])
    # Without a bound class (no shared fields), nothing is taken at once.
    assert _forward_lane(lambda raw: KafkaMessage(raw, "kafka", "c1", config, outbox), lane) == 0  # type: ignore[arg-type]


def test_a_jetstream_lane_forwarded_to_nats_in_one_call_matches_the_one_by_one_forward() -> None:
    from streams.handlers import _forward_lane
    from streams.workers.message import bound

    class Meta:
        class sequence:
            stream = 7

    class Raw:
        def __init__(self, data: bytes) -> None:
            self.data, self.subject, self.headers, self.metadata = data, "orders.created", {"a": "b"}, Meta

    class NatsOutbox:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        def send_nats(self, *args: Any) -> None:
            if args[1] == b"bad":
                raise ValueError("refused")
            self.sent.append(args)

    outbox = NatsOutbox()
    config = HandlerConfig({"cluster": "nats", "subject": "out"})
    make = bound(NatsMessage, _stream_name="ORDERS", cluster="nats", consumer="c", config=config, outbox=outbox)
    lane = [Raw(b"x"), Raw(b"y"), Raw(b"bad"), Raw(b"z")]
    assert _forward_lane(make, lane) == 2
    forward(make(lane[3]))
    assert [args[1] for args in outbox.sent] == [b"x", b"y", b"z"]
    assert outbox.sent[0][2] == outbox.sent[2][2] == {
        "a": "b", "streamdesk-origin-cluster": "nats", "streamdesk-origin-stream": "ORDERS",
        "streamdesk-origin-subject": "orders.created", "streamdesk-origin-seq": "7", "streamdesk-consumer": "c",
    }  # fmt: skip
    # To Kafka, one by one.
    to_kafka = bound(NatsMessage, _stream_name="S", cluster="nats", consumer="c",
                     config=HandlerConfig({"cluster": "kafka", "topic": "t"}), outbox=outbox)  # fmt: skip
    assert _forward_lane(to_kafka, lane) == 0
