"""Schema payloads through the live-tail socket on a real broker: frames carry the decoded form."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.kafka.helpers import create_topic, produce
from tests.schemas.test_decode import JSON_SCHEMA
from tests.tail.helpers import open_tail

pytestmark = pytest.mark.django_db(transaction=True)


async def test_tail_frames_decode_keys_and_values(viewer, kafka_bootstrap, unique, standin):
    await asyncio.to_thread(create_topic, kafka_bootstrap, unique)
    serialize = JSONSerializer(JSON_SCHEMA, SchemaRegistryClient({"url": standin.url}))
    value = serialize({"sku": "Z-9"}, SerializationContext(unique, MessageField.VALUE))
    tail = await open_tail(viewer, "kafka")
    subscribed = await tail.subscribe("topic", unique)
    assert subscribed["type"] == "subscribed", subscribed
    await asyncio.to_thread(produce, kafka_bootstrap, unique, [value, b"\x00\x00\x00\x00\x2atail"], key=b"k")
    first, poison = await tail.collect(2)
    assert first["value"]["decoded"]["format"] == "json-schema"
    assert first["value"]["decoded"]["data"] == {"sku": "Z-9"}
    assert first["value"]["decoded"]["subject"] == f"{unique}-value"
    assert first["key"]["decoded"] is None and first["key"]["text"] == "k"
    assert poison["value"]["decoded"] is None and "42 is not in the registry" in poison["value"]["decode_error"]
    await tail.close()
