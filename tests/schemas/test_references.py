"""Schemas that use other subjects (the registry's ``references``): decoded and published.

Messages are written by confluent-kafka's own serializers, which register the referenced
subjects themselves (a Protobuf import under its file name, a JSON Schema or Avro reference
as given); a reference the registry does not hold leaves the payload raw with the reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streams.clusters import ClusterConfig
from streams.payloads import Payload
from streams.schemas import references
from streams.schemas import registry as registry_module
from streams.schemas.decode import decode, decode_payload
from streams.schemas.encode import BadValue, encode, json_schema_problems, resolve
from streams.schemas.registry import registry_for
from tests.kafka import helpers as kh
from tests.publish.helpers import read_topic
from tests.schemas.standin import StandinRegistry

MONEY_AVRO = json.dumps(
    {
        "type": "record",
        "name": "Money",
        "namespace": "shop.common",
        "fields": [{"name": "units", "type": "long"}, {"name": "currency", "type": "string"}],
    }
)
ORDER_AVRO = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "total", "type": "shop.common.Money"},
            {"name": "refund", "type": ["null", "shop.common.Money"], "default": None},
        ],
    }
)
ADDRESS_JSON = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        "required": ["city"],
    }
)
ORDER_JSON = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"id": {"type": "string"}, "ship_to": {"$ref": "address.json"}},
        "required": ["id", "ship_to"],
    }
)


def proto_order_class() -> Any:
    """shop.Order in shop/order.proto, importing shop.common.Money from shop/common.proto."""
    common = descriptor_pb2.FileDescriptorProto(name="shop/common.proto", package="shop.common", syntax="proto3")
    money = common.message_type.add(name="Money")
    money.field.add(name="units", number=1, type=3, label=1)  # int64
    money.field.add(name="currency", number=2, type=9, label=1)  # string
    order = descriptor_pb2.FileDescriptorProto(name="shop/order.proto", package="shop", syntax="proto3")
    order.dependency.append("shop/common.proto")
    message = order.message_type.add(name="Order")
    message.field.add(name="id", number=1, type=9, label=1)
    message.field.add(name="total", number=2, type=11, label=1, type_name=".shop.common.Money")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(common)
    pool.Add(order)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


@pytest.fixture
def own_standin() -> Iterator[StandinRegistry]:
    server = StandinRegistry()
    registry_module._registries.clear()
    yield server
    server.close()
    registry_module._registries.clear()


def cluster_for(url: str) -> ClusterConfig:
    return ClusterConfig(slug="k", kind="kafka", name="k", servers=("x:1",), schema_registry_url=url)


def ctx(topic: str, part: str = "value") -> SerializationContext:
    return SerializationContext(topic, MessageField.KEY if part == "key" else MessageField.VALUE)


def framed(schema_id: int, body: bytes, protobuf: bool = False) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + (b"\x00" if protobuf else b"") + body


def test_protobuf_importing_another_subject_decodes(own_standin: StandinRegistry) -> None:
    order = proto_order_class()
    client = SchemaRegistryClient({"url": own_standin.url})
    serialize = ProtobufSerializer(order, client, {"use.deprecated.format": False})
    raw = serialize(order(id="o-1", total={"units": 1250, "currency": "EUR"}), ctx("orders"))
    # The serializer registered the import under its file name and named it in the references.
    assert own_standin.state.subjects.keys() == {"shop/common.proto", "orders-value"}
    main = own_standin.state.schemas[own_standin.state.subjects["orders-value"][0]]
    assert main["references"] == [{"name": "shop/common.proto", "subject": "shop/common.proto", "version": 1}]
    cluster = cluster_for(own_standin.url)
    results = [decode(cluster, "orders", "value", raw) for _ in range(50)]
    got = results[0]
    assert got.error is None and got.decoded is not None, got.error
    assert got.decoded.type == "shop.Order" and got.decoded.subject == "orders-value"
    assert got.decoded.data == {"id": "o-1", "total": {"units": "1250", "currency": "EUR"}}
    assert all(r == got for r in results)
    # One lookup for the referenced version however many messages use it.
    version_reads = [r for r in own_standin.state.requests if r.startswith("GET /subjects/") and "/versions/1" in r]
    assert len(version_reads) == 1, own_standin.state.requests


def test_protobuf_with_an_import_publishes_and_reads_back(own_standin: StandinRegistry) -> None:
    order = proto_order_class()
    client = SchemaRegistryClient({"url": own_standin.url})
    ProtobufSerializer(order, client, {"use.deprecated.format": False})(order(id="seed"), ctx("orders"))
    registry = registry_for(cluster_for(own_standin.url))
    assert registry is not None
    schema = resolve(registry, {"subject": "orders-value", "version": "latest"})
    assert [r.name for r in schema.references] == ["shop/common.proto"]
    text = json.dumps({"id": "o-2", "total": {"units": "7", "currency": "CHF"}})
    written = encode(registry, schema, "protobuf", "orders", "value", text)
    assert written.type == "shop.Order"
    back = ProtobufDeserializer(order, {"use.deprecated.format": False})(written.data, ctx("orders"))
    assert back == order(id="o-2", total={"units": 7, "currency": "CHF"})
    with pytest.raises(BadValue, match=r"total"):
        encode(registry, schema, "protobuf", "orders", "value", json.dumps({"total": {"units": "x"}}))


def test_json_schema_with_a_ref_to_another_subject_decodes_and_checks_on_publish(own_standin: StandinRegistry) -> None:
    client = SchemaRegistryClient({"url": own_standin.url})
    client.register_schema("address", Schema(ADDRESS_JSON, "JSON"))
    refs = [SchemaReference("address.json", "address", 1)]
    serialize = JSONSerializer(Schema(ORDER_JSON, "JSON", refs), client)
    raw = serialize({"id": "o-3", "ship_to": {"city": "Basel"}}, ctx("orders"))
    cluster = cluster_for(own_standin.url)
    got = decode(cluster, "orders", "value", raw)
    assert got.error is None and got.decoded is not None, got.error
    assert got.decoded.format == "json-schema" and got.decoded.data == {"id": "o-3", "ship_to": {"city": "Basel"}}

    registry = registry_for(cluster)
    assert registry is not None
    schema = resolve(registry, {"subject": "orders-value"})
    # The referenced document is what the value is checked against: its path is named.
    with pytest.raises(BadValue, match=r"\$\.ship_to\.city: 5 is not of type 'string'"):
        encode(registry, schema, "json-schema", "orders", "value", json.dumps({"id": "x", "ship_to": {"city": 5}}))
    written = encode(
        registry, schema, "json-schema", "orders", "value", json.dumps({"id": "o-4", "ship_to": {"city": "Bern"}})
    )
    assert JSONDeserializer(None, schema_registry_client=client)(written.data, ctx("orders")) == {
        "id": "o-4",
        "ship_to": {"city": "Bern"},
    }


def test_avro_named_types_from_another_subject(own_standin: StandinRegistry) -> None:
    client = SchemaRegistryClient({"url": own_standin.url})
    client.register_schema("shop.common.Money", Schema(MONEY_AVRO, "AVRO"))
    refs = [SchemaReference("shop.common.Money", "shop.common.Money", 1)]
    value = {"id": "o-5", "total": {"units": 3, "currency": "EUR"}, "refund": {"units": 1, "currency": "EUR"}}
    raw = AvroSerializer(client, Schema(ORDER_AVRO, "AVRO", refs))(value, ctx("orders"))
    cluster = cluster_for(own_standin.url)
    got = decode(cluster, "orders", "value", raw)
    assert got.error is None and got.decoded is not None, got.error
    assert got.decoded.type == "shop.Order" and got.decoded.data == value

    registry = registry_for(cluster)
    assert registry is not None
    schema = resolve(registry, {"subject": "orders-value", "version": 1})
    again = encode(registry, schema, "avro", "orders", "value", json.dumps(value))
    assert again.data == raw
    assert AvroDeserializer(client)(again.data, ctx("orders")) == value
    with pytest.raises(BadValue, match=r"\$\.total\.units"):
        encode(registry, schema, "avro", "orders", "value", json.dumps({**value, "total": {"units": "x"}}))


def test_a_referenced_subject_the_registry_lacks_leaves_the_payload_raw_with_the_reason(
    own_standin: StandinRegistry,
) -> None:
    order = proto_order_class()
    body = order(id="o-6", total={"units": 1, "currency": "EUR"}).SerializeToString()
    state = own_standin.state
    file = descriptor_pb2.FileDescriptorProto()
    order.DESCRIPTOR.file.CopyToProto(file)
    text = base64.b64encode(file.SerializeToString()).decode()
    refs = [{"name": "shop/common.proto", "subject": "shop-common", "version": 3}]
    state.schemas[1] = {"schema": text, "schemaType": "PROTOBUF", "references": refs}
    state.subjects["orders-value"] = [1]
    raw = framed(1, body, protobuf=True)
    cluster = cluster_for(own_standin.url)
    shown = decode_payload(cluster, "orders", "value", Payload.of(raw)).as_api()
    assert shown is not None and shown["decoded"] is None and shown["base64"]  # the raw view stays
    reason = shown["decode_error"]
    assert "schema id 1 references 'shop/common.proto'" in reason
    assert "subject 'shop-common' version 3 is not in the registry" in reason
    # Remembered: the next message does not ask again.
    asked = len(state.requests)
    assert decode(cluster, "orders", "value", raw).error == reason
    assert len(state.requests) == asked


def test_references_are_followed_once_through_a_cycle_and_not_beyond_the_depth_limit(
    own_standin: StandinRegistry,
) -> None:
    state = own_standin.state
    a = {"type": "object", "properties": {"next": {"$ref": "b.json"}, "n": {"type": "integer"}}}
    b = {"type": "object", "properties": {"back": {"$ref": "a.json"}, "n": {"type": "integer"}}}
    state.schemas[1] = {
        "schema": json.dumps(a),
        "schemaType": "JSON",
        "references": [{"name": "b.json", "subject": "b", "version": 1}],
    }
    state.schemas[2] = {
        "schema": json.dumps(b),
        "schemaType": "JSON",
        "references": [{"name": "a.json", "subject": "a", "version": 1}],
    }
    state.subjects.update({"a": [1], "b": [2]})
    cluster = cluster_for(own_standin.url)
    got = decode(cluster, "t", "value", framed(1, b'{"next": {"back": {"n": 1}}}'))
    assert got.error is None and got.decoded is not None and got.decoded.data == {"next": {"back": {"n": 1}}}
    registry = registry_for(cluster)
    assert registry is not None
    schema = registry.schema_by_id(1)
    assert [name for name, _ in references.referenced(registry, schema)] == ["a.json", "b.json"]
    resources = references.json_schema_resources(registry, schema)
    problems = json_schema_problems(schema.schema, {"next": {"back": {"n": "x"}}}, resources=resources)
    assert problems == ["$.next.back.n: 'x' is not of type 'integer'"]

    # A chain deeper than the limit is refused, not followed.
    for i in range(references.MAX_DEPTH + 2):
        refs = [{"name": f"c{i + 1}.json", "subject": f"c{i + 1}", "version": 1}]
        state.schemas[10 + i] = {"schema": "{}", "schemaType": "JSON", "references": refs}
        state.subjects[f"c{i}"] = [10 + i]
    deep = decode(cluster, "t", "value", framed(10, b"{}"))
    assert deep.decoded is None and deep.error is not None and "deeper than" in deep.error


@pytest.fixture
def topic(kafka_bootstrap: str, unique: str, standin: StandinRegistry) -> str:
    return kh.create_topic(kafka_bootstrap, unique)


def test_publishing_with_a_schema_that_imports_another_subject(operator_client, kafka_bootstrap, topic, standin):
    order = proto_order_class()
    client = SchemaRegistryClient({"url": standin.url})
    ProtobufSerializer(order, client, {"use.deprecated.format": False})(order(id="seed"), ctx(topic))
    value = {"id": "o-7", "total": {"units": "99", "currency": "EUR"}}
    body = {"key": "k-7", "encoding": "protobuf", "schema": {"subject": f"{topic}-value"}, "value": json.dumps(value)}
    response = operator_client.post(
        f"/api/v1/clusters/kafka/topics/{topic}/publish", {**body, "partition": 0}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    (record,) = read_topic(kafka_bootstrap, topic, [0], expect=1)
    assert record.key == b"k-7"
    back = ProtobufDeserializer(order, {"use.deprecated.format": False})(record.value, ctx(topic))
    assert back == order(id="o-7", total={"units": 99, "currency": "EUR"})
    page = operator_client.get(f"/api/v1/clusters/kafka/topics/{topic}/messages", {"from": "beginning"})
    assert page.status_code == 200, page.content
    shown = page.json()["messages"][0]["value"]
    assert shown["decoded"]["data"] == value and shown["decode_error"] is None
