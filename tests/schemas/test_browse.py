"""Schema payloads produced with confluent-kafka's serializers, read back through the browser API and page."""

from __future__ import annotations

import decimal

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.kafka import helpers as kh
from tests.schemas.test_decode import AVRO, order_class


def test_avro_and_protobuf_keys_and_values_decode_in_the_browser(viewer_client, kafka_bootstrap, unique, standin):
    kh.create_topic(kafka_bootstrap, unique)
    client = SchemaRegistryClient({"url": standin.url})
    value = AvroSerializer(client, AVRO)(
        {"id": 7, "note": None, "blob": b"\xff", "at": 1, "price": decimal.Decimal("1.50")},
        SerializationContext(unique, MessageField.VALUE),
    )
    key = AvroSerializer(client, '"string"')("customer-9", SerializationContext(unique, MessageField.KEY))
    kh.produce(kafka_bootstrap, unique, [value], key=key, partition=0)
    order = order_class()
    proto = ProtobufSerializer(order, client, {"use.deprecated.format": False})(
        order(order_id=5, customer="bo"), SerializationContext(unique, MessageField.VALUE)
    )
    kh.produce(kafka_bootstrap, unique, [proto, b"\x00\x00\x00\x00\x63poison", b"\x00\x01"], key=b"plain", partition=0)

    response = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}/messages", {"from": "beginning"})
    assert response.status_code == 200, response.content
    messages = response.json()["messages"]
    avro, pb, unknown, short = messages
    assert avro["value"]["decoded"]["data"] == {"id": 7, "note": None, "blob": "/w==", "at": 1, "price": "1.50"}
    assert avro["value"]["decoded"]["subject"] == f"{unique}-value" and avro["value"]["decode_error"] is None
    assert avro["key"]["decoded"]["data"] == "customer-9" and avro["key"]["decoded"]["subject"] == f"{unique}-key"
    assert pb["value"]["decoded"]["format"] == "protobuf"
    assert pb["value"]["decoded"]["data"] == {"order_id": "5", "customer": "bo"}
    assert pb["key"] == {"text": "plain", "base64": "cGxhaW4=", "decoded": None, "decode_error": None}
    assert unknown["value"]["decoded"] is None and "99 is not in the registry" in unknown["value"]["decode_error"]
    assert unknown["value"]["base64"]  # the raw view stays
    assert "only 2 bytes" in short["value"]["decode_error"]

    page = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages", {"from": "beginning"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "decoded · avro shop.Order" in html
    # Which schema, linked to its registry page at that version: subject, version, id.
    assert f'<a href="/clusters/kafka/schemas/{unique}-value?version=1">{unique}-value</a> v1 · id 1' in html
    assert "customer-9" in html
    assert "Not decoded: schema id 99 is not in the registry" in html
