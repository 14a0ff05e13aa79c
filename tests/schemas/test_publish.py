"""Publishing with a registry schema: API and page, read back with confluent-kafka's own deserializers.

Messages produced with confluent-kafka's serializers and published again through the
console's prefill come back byte for byte; bad values name the path inside the value.
"""

from __future__ import annotations

import datetime
import decimal
import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.test import Client, override_settings
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streams import adapters
from streams.models import AuditEvent
from streams.schemas import registry as schema_registry
from tests.kafka import helpers as kh
from tests.nats import helpers as h
from tests.publish.helpers import Collector, read_topic
from tests.schemas.standin import StandinRegistry

CART_AVRO = json.dumps(
    {
        "type": "record",
        "name": "Cart",
        "namespace": "shop",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "note", "type": ["null", "string"], "default": None},
            {"name": "tag", "type": "bytes"},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "total", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
            {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["NEW", "PAID"]}},
            {
                "name": "items",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "Item",
                        "fields": [{"name": "sku", "type": "string"}, {"name": "price", "type": "double"}],
                    },
                },
            },
            {"name": "counts", "type": {"type": "map", "values": "int"}},
        ],
    }
)
CART = {
    "id": 2**60 + 3,
    "note": "gift",
    "tag": b"\x00\xff\x10",
    "at": 1700000000123,
    "total": decimal.Decimal("12.30"),
    "state": "PAID",
    "items": [{"sku": "a", "price": 0.1}, {"sku": "b", "price": 1e16}],
    "counts": {"x": 1, "y": -2},
}
JSON_SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "n": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["sku", "n"],
        "additionalProperties": False,
    }
)


def proto_classes() -> dict[str, Any]:
    """shop.Cart and shop.Item in one file (two top-level messages), shop.CartKey in another."""
    pool = descriptor_pool.DescriptorPool()
    cart = descriptor_pb2.FileDescriptorProto(name="shop/cart.proto", package="shop", syntax="proto3")
    enum = cart.enum_type.add(name="State")
    enum.value.add(name="NEW", number=0)
    enum.value.add(name="PAID", number=1)
    message = cart.message_type.add(name="Cart")
    message.field.add(name="cart_id", number=1, type=3, label=1)  # int64
    message.field.add(name="customer", number=2, type=9, label=1)  # string
    message.field.add(name="state", number=3, type=14, label=1, type_name=".shop.State")
    message.field.add(name="items", number=4, type=11, label=3, type_name=".shop.Item")
    message.field.add(name="tag", number=5, type=12, label=1)  # bytes
    item = cart.message_type.add(name="Item")
    item.field.add(name="sku", number=1, type=9, label=1)
    item.field.add(name="price", number=2, type=1, label=1)  # double
    item.field.add(name="qty", number=3, type=5, label=1)  # int32
    pool.Add(cart)
    key = descriptor_pb2.FileDescriptorProto(name="shop/key.proto", package="shop", syntax="proto3")
    key.message_type.add(name="CartKey").field.add(name="id", number=1, type=9, label=1)
    pool.Add(key)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"shop.{name}"))
        for name in ("Cart", "Item", "CartKey")
    }


@pytest.fixture
def topic(kafka_bootstrap: str, unique: str, standin: StandinRegistry) -> str:
    return kh.create_topic(kafka_bootstrap, unique)


def url(topic: str) -> str:
    return f"/api/v1/clusters/kafka/topics/{topic}/publish"


def ctx(topic: str, part: str = "value") -> SerializationContext:
    return SerializationContext(topic, MessageField.KEY if part == "key" else MessageField.VALUE)


def post(client: Client, topic: str, body: dict[str, Any]) -> Any:
    return client.post(url(topic), body, content_type="application/json")


def read_one(bootstrap: str, topic: str, offset: int) -> Any:
    records = read_topic(bootstrap, topic, [0], expect=offset + 1)
    return records[offset]


def test_decoded_messages_published_again_come_back_byte_for_byte(operator_client, kafka_bootstrap, topic, standin):
    client = SchemaRegistryClient({"url": standin.url})
    classes = proto_classes()
    avro_value = AvroSerializer(client, CART_AVRO)(CART, ctx(topic))
    avro_key = AvroSerializer(client, '"string"')("cart-7", ctx(topic, "key"))
    kh.produce(kafka_bootstrap, topic, [avro_value], key=avro_key, partition=0)
    conf = {"use.deprecated.format": False}
    cart = classes["Cart"](
        cart_id=2**62,
        customer="Ada Grüße",
        state=1,
        tag=b"\x01\x02",
        items=[classes["Item"](sku="a", price=2.5, qty=3), classes["Item"](sku="b", price=-0.1, qty=-1)],
    )
    proto_topic = kh.create_topic(kafka_bootstrap, f"{topic}-pb")
    proto_value = ProtobufSerializer(classes["Cart"], client, conf)(cart, ctx(proto_topic))
    proto_key = ProtobufSerializer(classes["CartKey"], client, conf)(
        classes["CartKey"](id="k-9"), ctx(proto_topic, "key")
    )
    kh.produce(kafka_bootstrap, proto_topic, [proto_value], key=proto_key, partition=0)

    for name, key, value in ((topic, avro_key, avro_value), (proto_topic, proto_key, proto_value)):
        # "Edit and publish": the form's prefill (its JSON twin), sent back unchanged.
        form = operator_client.get(url(name), {"from_partition": 0, "from_offset": 0})
        assert form.status_code == 200, form.content
        prefill = form.json()["prefill"]
        fmt = "avro" if name == topic else "protobuf"
        assert prefill["encoding"] == fmt and prefill["key_encoding"] == fmt
        assert set(prefill["schema"]) == {"id"} and set(prefill["key_schema"]) == {"id"}
        response = post(operator_client, name, {**prefill, "partition": 0})
        assert response.status_code == 201, response.content
        assert response.json()["schema_id"] == prefill["schema"]["id"]
        assert response.json()["key_schema_id"] == prefill["key_schema"]["id"]
        again = read_one(kafka_bootstrap, name, 1)
        assert (again.key, again.value) == (key, value)

    reader = SchemaRegistryClient({"url": standin.url})
    back = read_one(kafka_bootstrap, topic, 1)
    expected = {**CART, "at": datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=datetime.UTC)}
    assert AvroDeserializer(reader)(back.value, ctx(topic)) == expected  # the reader makes timestamps datetimes
    assert AvroDeserializer(reader)(back.key, ctx(topic, "key")) == "cart-7"
    back = read_one(kafka_bootstrap, proto_topic, 1)
    assert ProtobufDeserializer(classes["Cart"], conf)(back.value, ctx(proto_topic)) == cart
    assert ProtobufDeserializer(classes["CartKey"], conf)(back.key, ctx(proto_topic, "key")).id == "k-9"


def test_avro_value_by_subject_and_version_with_a_text_key(operator_client, kafka_bootstrap, topic, standin):
    schema_id, _ = standin.state.register(f"{topic}-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    value = {
        "id": 5,
        "tag": "AAE=",
        "at": 1,
        "total": "3.5",
        "state": "NEW",
        "items": [{"sku": "z", "price": 2}],
        "counts": {},
    }  # "note" left out: its default
    body = {"key": "order-5", "value": json.dumps(value), "encoding": "avro"}
    for schema in ({"subject": f"{topic}-value", "version": 1}, {"subject": f"{topic}-value", "version": "latest"}):
        response = post(operator_client, topic, {**body, "schema": schema})
        assert response.status_code == 201, response.content
        assert response.json()["schema_id"] == schema_id and response.json()["key_schema_id"] is None
    records = read_topic(kafka_bootstrap, topic, [0], expect=2)
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": standin.url}))
    for record in records:
        assert record.key == b"order-5"
        got = deserialize(record.value, ctx(topic))
        assert got["note"] is None and got["total"] == decimal.Decimal("3.50") and got["tag"] == b"\x00\x01"
        assert got["items"] == [{"sku": "z", "price": 2.0}]
    event = AuditEvent.objects.filter(action="kafka.topic.publish").latest("pk")
    assert event.params["schema_id"] == schema_id and "order-5" not in str(event.params)


def test_json_schema_value_and_a_chosen_protobuf_message_as_key(operator_client, kafka_bootstrap, topic, standin):
    classes = proto_classes()
    client = SchemaRegistryClient({"url": standin.url})
    # Registers shop/cart.proto (Cart and Item) under the key subject.
    ProtobufSerializer(classes["Cart"], client, {"use.deprecated.format": False})(classes["Cart"](), ctx(topic, "key"))
    json_id, _ = standin.state.register(f"{topic}-value", {"schema": JSON_SCHEMA, "schemaType": "JSON"})
    response = post(
        operator_client,
        topic,
        {
            "key": '{"sku": "k", "price": 1.25, "qty": 2}',
            "key_encoding": "protobuf",
            "key_schema": {"subject": f"{topic}-key", "version": "latest"},
            "key_type": "shop.Item",
            "value": '{"sku": "v", "n": 3, "tags": ["a"]}',
            "encoding": "json-schema",
            "schema": {"id": json_id},
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["schema_id"] == json_id
    [record] = read_topic(kafka_bootstrap, topic, [0], expect=1)
    item = ProtobufDeserializer(classes["Item"], {"use.deprecated.format": False})(record.key, ctx(topic, "key"))
    assert (item.sku, item.price, item.qty) == ("k", 1.25, 2)
    got = JSONDeserializer(None, schema_registry_client=SchemaRegistryClient({"url": standin.url}))(
        record.value, ctx(topic)
    )
    assert got == {"sku": "v", "n": 3, "tags": ["a"]}


@pytest.mark.parametrize("encoding", ["avro", "json-schema", "protobuf"])
def test_a_null_value_with_a_schema_is_a_tombstone_and_the_key_is_still_encoded(
    operator_client, kafka_bootstrap, topic, standin, encoding
):
    key_id, _ = standin.state.register(f"{topic}-key", {"schema": '"string"', "schemaType": "AVRO"})
    body = {
        "key": '"cart-9"',
        "key_encoding": "avro",
        "key_schema": {"subject": f"{topic}-key"},
        "value": " null\n",
        "encoding": encoding,
        # Not asked for: a tombstone is written by no schema.
        "schema": {"subject": "no-such-subject"},
        "partition": 0,
    }
    response = post(operator_client, topic, body)
    assert response.status_code == 201, response.content
    assert response.json()["schema_id"] is None and response.json()["key_schema_id"] == key_id
    [record] = read_topic(kafka_bootstrap, topic, [0], expect=1)
    assert record.value is None
    assert AvroDeserializer(SchemaRegistryClient({"url": standin.url}))(record.key, ctx(topic, "key")) == "cart-9"
    page = operator_client.get(f"/api/v1/clusters/kafka/topics/{topic}/messages", {"from": "beginning"})
    assert page.status_code == 200, page.content
    [shown] = page.json()["messages"]
    assert shown["value"] is None and shown["key"]["decoded"]["data"] == "cart-9"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"value": '{"id": 1, "tag": "", "at": 0, "total": "1", "state": "NEW", "counts": {}, '
             '"items": [{"sku": "a", "price": 1}, {"sku": "b", "price": 2}, {"sku": "c", "price": "x"}]}'},
            "value",
            "$.items[2].price: expected double, got string",
        ),
        ({"value": '{"id": "seven"}'}, "value", "$.id: expected long, got string"),
        ({"value": '{"id": 1, "nope": 2}'}, "value", "$.nope: is not a field of record Cart"),
        ({"value": '{"id": 1, "tag": "", "at": 0, "total": "1", "state": "LOST", "items": [], "counts": {}}'},
         "value", "$.state: 'LOST' is not a symbol of enum State"),
        ({"value": "{"}, "value", "not JSON"),
        ({"key": "[1]", "key_encoding": "avro", "key_schema": {"subject": "KEY", "version": "latest"}}, "key",
         "$: expected string, got array"),
    ],
)  # fmt: skip
def test_avro_value_that_does_not_fit_names_the_path(operator_client, topic, standin, body, field, words):
    standin.state.register(f"{topic}-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    standin.state.register(f"{topic}-key", {"schema": '"string"', "schemaType": "AVRO"})
    if "key_schema" in body:
        body = {**body, "key_schema": {"subject": f"{topic}-key", "version": "latest"}, "value": "x"}
    else:
        body = {**body, "encoding": "avro", "schema": {"subject": f"{topic}-value"}}
    response = post(operator_client, topic, body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field and words in response.json()["error"], response.json()


def test_protobuf_and_json_schema_values_that_do_not_fit_name_the_path(operator_client, topic, standin):
    classes = proto_classes()
    client = SchemaRegistryClient({"url": standin.url})
    ProtobufSerializer(classes["Cart"], client, {"use.deprecated.format": False})(classes["Cart"](), ctx(topic))
    bad = post(
        operator_client,
        topic,
        {
            "value": '{"cart_id": "1", "items": [{"sku": "a"}, {"sku": "b", "price": "cheap"}]}',
            "encoding": "protobuf",
            "schema": {"subject": f"{topic}-value"},
        },
    )
    assert bad.status_code == 400 and bad.json()["field"] == "value", bad.content
    assert "$.items[1].price" in bad.json()["error"], bad.json()
    wrong_type = post(
        operator_client,
        topic,
        {"value": "{}", "encoding": "protobuf", "schema": {"subject": f"{topic}-value"}, "type": "shop.Nope"},
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["field"] == "type", wrong_type.content
    assert "shop.Cart, shop.Item" in wrong_type.json()["error"]

    json_topic = f"{topic}-json"
    standin.state.register(f"{json_topic}-value", {"schema": JSON_SCHEMA, "schemaType": "JSON"})
    bad = post(
        operator_client,
        topic,
        {
            "value": '{"sku": "a", "n": 0, "tags": ["x", 2]}',
            "encoding": "json-schema",
            "schema": {"subject": f"{json_topic}-value"},
        },
    )
    assert bad.status_code == 400 and bad.json()["field"] == "value", bad.content
    assert "$.n: 0 is less than the minimum of 1" in bad.json()["error"]
    assert "$.tags[1]: 2 is not of type 'string'" in bad.json()["error"]


def test_unknown_schemas_are_400_naming_schema_and_a_registry_down_is_503(operator_client, topic, standin):
    standin.state.register(f"{topic}-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"encoding": "avro", "schema": {"subject": "nope-value", "version": "latest"}}, "schema", "Subject not found"),
        ({"encoding": "avro", "schema": {"subject": f"{topic}-value", "version": 7}}, "schema", "Version not found"),
        ({"encoding": "avro", "schema": {"id": 999}}, "schema", "999"),
        ({"encoding": "protobuf", "schema": {"subject": f"{topic}-value"}}, "schema", "AVRO schema, not protobuf"),
        ({"encoding": "avro"}, "schema", "a subject or an id"),
        ({"encoding": "avro", "schema": {"subject": f"{topic}-value", "version": "1"}}, "schema", "integer"),
        ({"key": "k", "key_encoding": "avro", "key_schema": {"subject": "nope"}}, "key_schema", "Subject not found"),
        ({"encoding": "avro", "schema": {"id": 1}, "count": 5}, "encoding", "one message at a time"),
    ]
    for extra, field, words in cases:
        response = post(operator_client, topic, {"value": "{}", **extra})
        assert response.status_code == 400, (extra, response.content)
        assert response.json()["field"] == field and words in response.json()["error"], (extra, response.json())
    standin.state.down = True
    response = post(operator_client, topic, {"value": "{}", "encoding": "avro", "schema": {"subject": "x-value"}})
    assert response.status_code == 503, response.content


def test_a_cluster_without_a_registry_says_so(operator_client):
    response = operator_client.post(
        "/api/v1/clusters/nats/publish",
        {"subject": "a.b", "value": "{}", "encoding": "avro", "schema": {"id": 1}},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "encoding" and "names no schema registry" in response.json()["error"]


def test_nats_publish_is_framed_through_the_nats_clusters_registry_and_published_again_the_same(
    operator_client, standin, nats_urls, tmp_path: Path, unique: str
):
    path = tmp_path / "clusters.toml"
    path.write_text(
        f'[[clusters]]\nslug = "natsreg"\nkind = "nats"\nservers = "{nats_urls[0]}"\n'
        f'schema_registry = {{url = "{standin.url}"}}\n'
    )
    stream = h.create_own_stream(nats_urls[0], unique)
    schema_id, _ = standin.state.register("events-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    value = {"id": 1, "tag": "", "at": 0, "total": "0.5", "state": "NEW", "items": [], "counts": {"a": 1}}
    api = "/api/v1/clusters/natsreg/publish"
    with override_settings(STREAMDESK_CLUSTERS=str(path)), Collector(nats_urls[0], f"{unique}.>") as collector:
        adapters.invalidate()
        body = {
            "subject": f"{unique}.cart",
            "value": json.dumps(value),
            "encoding": "avro",
            "schema": {"id": schema_id},
        }
        response = operator_client.post(api, {**body, "mode": "jetstream"}, content_type="application/json")
        assert response.status_code == 201, response.content
        assert response.json()["schema_id"] == schema_id and response.json()["seq"] == 1
        # "Edit and publish" of the stored message: the decoded JSON and the schema id, sent back unchanged.
        prefill = operator_client.get(api, {"from_stream": stream, "from_seq": 1}).json()["prefill"]
        assert prefill["encoding"] == "avro" and prefill["schema"] == {"id": schema_id}
        assert prefill["mode"] == "jetstream" and prefill["subject"] == f"{unique}.cart"
        again = operator_client.post(api, prefill, content_type="application/json")
        assert again.status_code == 201 and again.json()["seq"] == 2, again.content
        first, second = collector.wait_for(2)
        page = operator_client.get("/clusters/natsreg/publish", {"from_stream": stream, "from_seq": 1})
        html = page.content.decode()
        assert page.status_code == 200 and '<option value="avro" selected>' in html
        assert 'hx-get="/clusters/natsreg/publish/schema?part=value"' in html and 'name="key_encoding"' not in html
    assert first.data == second.data
    got = AvroDeserializer(SchemaRegistryClient({"url": standin.url}))(first.data, ctx("events"))
    assert got["total"] == decimal.Decimal("0.50") and got["counts"] == {"a": 1}
    adapters.invalidate()


def test_schema_panel_shows_the_schema_and_an_example_that_publishes(operator_client, kafka_bootstrap, topic, standin):
    standin.state.register(f"{topic}-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    classes = proto_classes()
    ProtobufSerializer(classes["Cart"], SchemaRegistryClient({"url": standin.url}), {"use.deprecated.format": False})(
        classes["Cart"](), ctx(topic, "key")
    )
    json_id, _ = standin.state.register(f"{topic}-json", {"schema": JSON_SCHEMA, "schemaType": "JSON"})
    api = "/api/v1/clusters/kafka/publish/schema"
    avro = operator_client.get(api, {"encoding": "avro", "subject": f"{topic}-value"})
    assert avro.status_code == 200, avro.content
    panel = avro.json()["schema"]
    assert panel["example"] == {
        "id": 0,
        "note": None,
        "tag": "",
        "at": 0,
        "total": "0",
        "state": "NEW",
        "items": [{"sku": "", "price": 0.0}],
        "counts": {},
    }
    assert panel["subject"] == f"{topic}-value" and panel["version"] == 1 and '"name": "Cart"' in panel["schema"]
    proto = operator_client.get(
        api, {"part": "key", "key_encoding": "protobuf", "key_schema_subject": f"{topic}-key", "key_type": "shop.Cart"}
    )
    assert proto.status_code == 200, proto.content
    panel = proto.json()["schema"]
    assert panel["message_types"] == ["shop.Cart", "shop.Item"] and panel["message_type"] == "shop.Cart"
    assert panel["example"] == {
        "cart_id": "0",
        "customer": "",
        "state": "NEW",
        "items": [{"sku": "", "price": 0.0, "qty": 0}],
        "tag": "",
    }
    assert "repeated shop.Item items = 4;" in panel["schema"]
    js = operator_client.get(api, {"encoding": "json-schema", "id": json_id})
    assert js.json()["schema"]["example"] == {"sku": "", "n": 1, "tags": [""]}

    # Each example publishes as it is.
    for body in (
        {
            "value": json.dumps(avro.json()["schema"]["example"]),
            "encoding": "avro",
            "schema": {"subject": f"{topic}-value"},
        },
        {"value": json.dumps(js.json()["schema"]["example"]), "encoding": "json-schema", "schema": {"id": json_id}},
        {
            "value": "x",
            "key": json.dumps(proto.json()["schema"]["example"]),
            "key_encoding": "protobuf",
            "key_schema": {"subject": f"{topic}-key"},
        },
    ):
        response = post(operator_client, topic, body)
        assert response.status_code == 201, (body, response.content)

    unknown = operator_client.get(api, {"encoding": "avro", "subject": "nope"})
    assert unknown.status_code == 400 and unknown.json()["field"] == "schema"
    page = operator_client.get(
        "/clusters/kafka/publish/schema",
        {"part": "value", "encoding": "avro", "schema_subject": f"{topic}-value"},
        HTTP_HX_REQUEST="true",
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" not in html and 'id="value-example"' in html and "&quot;state&quot;: &quot;NEW&quot;" in html


def test_the_page_form_publishes_with_a_schema_and_shows_errors_on_the_field(
    operator_client, kafka_bootstrap, topic, standin
):
    schema_id, _ = standin.state.register(f"{topic}-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    page = operator_client.get(f"/clusters/kafka/topics/{topic}/publish")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<option value="avro"' in html and '<option value="protobuf"' in html and 'value="json-schema"' in html
    assert f'<option value="{topic}-value">' in html  # the subject picker
    assert 'name="key_schema_subject"' in html and 'hx-get="/clusters/kafka/publish/schema?part=value"' in html

    form = {
        "key": "k",
        "key_encoding": "text",
        "encoding": "avro",
        "schema_subject": f"{topic}-value",
        "schema_version": "",
        "schema_id": "",
        "type": "",
        "headers": "",
        "partition": "0",
    }
    bad = dict(
        form, value='{"id": 1, "tag": "", "at": 0, "total": "1", "state": "NEW", "counts": {}, "items": [{"sku": 1}]}'
    )
    response = operator_client.post(f"/clusters/kafka/topics/{topic}/publish", bad, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="publish-error-value" class="error-text field-error" aria-live="polite" hx-swap-oob="true">' in html
    assert "$.items[0].sku: expected string, got number" in html

    good = dict(form, value=bad["value"].replace('"sku": 1', '"sku": "1", "price": 9.5'))
    response = operator_client.post(f"/clusters/kafka/topics/{topic}/publish", good, HTTP_HX_REQUEST="true")
    assert response.status_code == 201, response.content.decode()
    assert "Delivered to" in response.content.decode()
    [record] = read_topic(kafka_bootstrap, topic, [0], expect=1)
    assert record.value is not None and record.value[:5] == b"\x00" + schema_id.to_bytes(4, "big")
    got = AvroDeserializer(SchemaRegistryClient({"url": standin.url}))(record.value, ctx(topic))
    assert got["items"] == [{"sku": "1", "price": 9.5}]

    # "Edit and publish" of that message: the form comes filled with the schema and the decoded JSON.
    edit = operator_client.get(f"/clusters/kafka/topics/{topic}/publish", {"from_partition": 0, "from_offset": 0})
    html = edit.content.decode()
    assert '<option value="avro" selected>' in html
    assert f'name="schema_id" type="number" min="0" value="{schema_id}"' in html
    assert "&quot;price&quot;: 9.5" in html and 'hx-trigger="load"' in html


def test_two_registries_giving_one_id_to_different_protobuf_schemas_each_read_their_own() -> None:
    from streams.clusters import ClusterConfig
    from streams.schemas.decode import decode
    from tests.schemas.test_decode import order_class

    servers = [StandinRegistry(), StandinRegistry()]
    try:
        cart, order = proto_classes()["Cart"], order_class()
        conf = {"use.deprecated.format": False}
        payloads = [
            ProtobufSerializer(cart, SchemaRegistryClient({"url": servers[0].url}), conf)(cart(customer="a"), ctx("t")),
            ProtobufSerializer(order, SchemaRegistryClient({"url": servers[1].url}), conf)(
                order(customer="b"), ctx("t")
            ),
        ]
        assert payloads[0][:5] == payloads[1][:5] == b"\x00\x00\x00\x00\x01"  # schema id 1 in both
        for server, payload, type_name, slug in zip(servers, payloads, ("shop.Cart", "shop.Order"), "ab", strict=True):
            cluster = ClusterConfig(
                slug=slug, kind="kafka", name=slug, servers=("x:1",), schema_registry_url=server.url
            )
            got = decode(cluster, "t", "value", payload)
            assert got.decoded is not None and got.decoded.type == type_name, got
    finally:
        for server in servers:
            server.close()
        schema_registry._registries.clear()


def test_a_saved_message_keeps_its_schemas_and_publishes_from_its_prefill(
    operator_client, kafka_bootstrap, topic, standin
):
    schema_id, _ = standin.state.register(f"{topic}-value", {"schema": CART_AVRO, "schemaType": "AVRO"})
    key_id, _ = standin.state.register(f"{topic}-key", {"schema": '"string"', "schemaType": "AVRO"})
    value = {"id": 9, "tag": "", "at": 0, "total": "1", "state": "NEW", "items": [], "counts": {}}
    body = {
        "name": f"cart {topic}",
        "cluster": "kafka",
        "target": topic,
        "key": '"cart-9"',
        "key_encoding": "avro",
        "key_schema": {"id": key_id},
        "value": json.dumps(value),
        "encoding": "avro",
        "schema": {"subject": f"{topic}-value", "version": 1},
    }
    saved = operator_client.post("/api/v1/templates", body, content_type="application/json")
    assert saved.status_code == 201, saved.content
    assert saved.json()["schema"] == {"subject": f"{topic}-value", "version": 1}
    missing = operator_client.post("/api/v1/templates", {**body, "schema": None}, content_type="application/json")
    assert missing.status_code == 400 and missing.json()["field"] == "schema"

    form = operator_client.get(url(topic), {"template": saved.json()["id"]})
    prefill = form.json()["prefill"]
    assert prefill["encoding"] == "avro" and prefill["key_schema"] == {"id": key_id}
    response = post(operator_client, topic, {k: v for k, v in prefill.items() if k not in ("name", "partition")})
    assert response.status_code == 201, response.content
    assert (response.json()["schema_id"], response.json()["key_schema_id"]) == (schema_id, key_id)
    [record] = read_topic(kafka_bootstrap, topic, [0], expect=1)
    reader = SchemaRegistryClient({"url": standin.url})
    assert AvroDeserializer(reader)(record.key, ctx(topic, "key")) == "cart-9"
    assert AvroDeserializer(reader)(record.value, ctx(topic))["id"] == 9
    page = operator_client.get(f"/clusters/kafka/topics/{topic}/publish", {"template": saved.json()["id"]})
    assert f'name="schema_subject" list="schema-subjects" value="{topic}-value"' in page.content.decode()
