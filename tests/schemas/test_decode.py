"""The decoder against a stand-in registry on a real socket, fed by confluent-kafka's own serializers."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streams.clusters import ClusterConfig
from streams.schemas import registry as registry_module
from streams.schemas.decode import decode
from tests.schemas.standin import StandinRegistry

AVRO = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "note", "type": ["null", "string"], "default": None},
            {"name": "blob", "type": "bytes"},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        ],
    }
)
JSON_SCHEMA = json.dumps(
    {"type": "object", "properties": {"sku": {"type": "string"}, "n": {"type": "integer"}}, "required": ["sku"]}
)


def order_class() -> type:
    proto = descriptor_pb2.FileDescriptorProto(name="shop/order.proto", package="shop", syntax="proto3")
    message = proto.message_type.add(name="Order")
    message.field.add(name="order_id", number=1, type=3, label=1)  # int64
    message.field.add(name="customer", number=2, type=9, label=1)  # string
    enum = proto.enum_type.add(name="State")
    enum.value.add(name="NEW", number=0)
    enum.value.add(name="PAID", number=1)
    message.field.add(name="state", number=3, type=14, label=1, type_name=".shop.State")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


@pytest.fixture
def standin() -> Iterator[StandinRegistry]:
    server = StandinRegistry()
    registry_module._registries.clear()
    yield server
    server.close()
    registry_module._registries.clear()


def cluster_for(url: str) -> ClusterConfig:
    return ClusterConfig(slug="k", kind="kafka", name="k", servers=("x:1",), schema_registry_url=url)


def serializer_client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url})


def test_avro_value_and_key_decode_with_their_schema(standin: StandinRegistry) -> None:
    client = serializer_client(standin.url)
    value = AvroSerializer(client, AVRO)(
        {
            "id": 2**60,
            "note": "hi",
            "blob": b"\x00\x01",
            "at": 1700000000123,
            "price": __import__("decimal").Decimal("12.30"),
        },
        SerializationContext("orders", MessageField.VALUE),
    )
    key = AvroSerializer(client, '"string"')("k-1", SerializationContext("orders", MessageField.KEY))
    cluster = cluster_for(standin.url)
    got = decode(cluster, "orders", "value", value)
    assert got.error is None and got.decoded is not None
    assert got.decoded.as_api() == {
        "format": "avro",
        "schema_id": 1,
        "subject": "orders-value",
        "version": 1,
        "type": "shop.Order",
        "file": None,
        "data": {"id": str(2**60), "note": "hi", "blob": "AAE=", "at": 1700000000123, "price": "12.30"},
    }
    got_key = decode(cluster, "orders", "key", key)
    assert got_key.decoded is not None and got_key.decoded.data == "k-1"
    assert got_key.decoded.subject == "orders-key"


def test_a_page_of_one_schema_costs_one_lookup(standin: StandinRegistry) -> None:
    serialize = AvroSerializer(serializer_client(standin.url), '"string"')
    cluster = cluster_for(standin.url)
    payloads = [serialize(f"v{i}", SerializationContext("t", MessageField.VALUE)) for i in range(500)]
    results = [decode(cluster, "t", "value", p) for p in payloads]
    assert all(r.decoded is not None for r in results)
    assert [r for r in standin.state.requests if r.startswith("GET /schemas/ids/1")] == [
        "GET /schemas/ids/1",
        "GET /schemas/ids/1/versions",
    ]


def test_protobuf_value_decodes_through_runtime_classes(standin: StandinRegistry) -> None:
    order = order_class()
    serialize = ProtobufSerializer(order, serializer_client(standin.url), {"use.deprecated.format": False})
    raw = serialize(order(order_id=2**62, customer="ada", state=1), SerializationContext("po", MessageField.VALUE))
    got = decode(cluster_for(standin.url), "po", "value", raw)
    assert got.error is None and got.decoded is not None
    assert got.decoded.format == "protobuf"
    assert got.decoded.type == "shop.Order"
    assert got.decoded.data == {"order_id": str(2**62), "customer": "ada", "state": "PAID"}


def test_json_schema_value_decodes(standin: StandinRegistry) -> None:
    serialize = JSONSerializer(JSON_SCHEMA, serializer_client(standin.url))
    raw = serialize({"sku": "A-1", "n": 3}, SerializationContext("js", MessageField.VALUE))
    got = decode(cluster_for(standin.url), "js", "value", raw)
    assert got.decoded is not None and got.decoded.format == "json-schema"
    assert got.decoded.data == {"sku": "A-1", "n": 3}


def test_poison_payloads_keep_raw_with_a_reason(standin: StandinRegistry) -> None:
    serialize = AvroSerializer(serializer_client(standin.url), AVRO)
    good = serialize(
        {"id": 1, "note": None, "blob": b"", "at": 0, "price": __import__("decimal").Decimal("0.00")},
        SerializationContext("p", MessageField.VALUE),
    )
    cluster = cluster_for(standin.url)
    truncated = decode(cluster, "p", "value", good[:-3])
    assert truncated.decoded is None and "schema id 1" in (truncated.error or "")
    unknown = decode(cluster, "p", "value", b"\x00\x00\x00\x03\xe7hello")
    assert unknown.decoded is None and "999 is not in the registry" in (unknown.error or "")
    short = decode(cluster, "p", "value", b"\x00\x01")
    assert short.decoded is None and "only 2 bytes" in (short.error or "")
    assert decode(cluster, "p", "value", b'{"plain": 1}').as_api() == {"decoded": None, "decode_error": None}
    assert decode(cluster, "p", "value", good + b"extra").error is not None
    # The unknown id is remembered: asking again makes no request.
    before = len(standin.state.requests)
    for _ in range(50):
        assert decode(cluster, "p", "value", b"\x00\x00\x00\x03\xe7hello").error
    assert len(standin.state.requests) == before


def test_a_registry_that_is_down_costs_one_deadline(settings: object) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections, never answers
    registry_module._registries.clear()
    try:
        cluster = cluster_for(f"http://127.0.0.1:{listener.getsockname()[1]}")
        settings.BROKER_TIMEOUT_SECONDS = 0.5  # type: ignore[attr-defined]
        started = time.monotonic()
        results = [decode(cluster, "t", "value", b"\x00\x00\x00\x00\x07body") for _ in range(200)]
        elapsed = time.monotonic() - started
    finally:
        listener.close()
        registry_module._registries.clear()
    assert all(r.decoded is None and "did not answer" in (r.error or "") for r in results)
    assert elapsed < 2.0
