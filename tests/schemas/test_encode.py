"""Avro encoding by a registry schema, read back with confluent-kafka's own deserializer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streams.clusters import ClusterConfig
from streams.schemas import registry as registry_module
from streams.schemas.encode import BadValue, encode_avro, resolve
from streams.schemas.registry import UnknownSchema, registry_for
from tests.schemas.standin import StandinRegistry

AVRO = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [{"name": "id", "type": "long"}, {"name": "note", "type": ["null", "string"], "default": None}],
    }
)


@pytest.fixture
def standin() -> Iterator[StandinRegistry]:
    server = StandinRegistry()
    registry_module._registries.clear()
    yield server
    server.close()
    registry_module._registries.clear()


def registry(url: str) -> registry_module.Registry:
    found = registry_for(ClusterConfig(slug="k", kind="kafka", name="k", servers=("x:1",), schema_registry_url=url))
    assert found is not None
    return found


def test_avro_value_round_trips_by_subject_and_by_id(standin: StandinRegistry) -> None:
    schema_id, _version = standin.state.register("orders-value", {"schema": AVRO, "schemaType": "AVRO"})
    reg = registry(standin.url)
    for ref in (
        {"subject": "orders-value", "version": "latest"},
        {"subject": "orders-value", "version": 1},
        {"id": schema_id},
    ):
        schema = resolve(reg, ref)
        encoded = encode_avro(reg, schema, "orders", "value", '{"id": 7, "note": "hi"}')
        assert encoded.schema_id == schema_id
        back = AvroDeserializer(SchemaRegistryClient({"url": standin.url}))(
            encoded.data, SerializationContext("orders", MessageField.VALUE)
        )
        assert back == {"id": 7, "note": "hi"}


def test_value_that_does_not_fit_names_the_path(standin: StandinRegistry) -> None:
    standin.state.register("orders-value", {"schema": AVRO, "schemaType": "AVRO"})
    reg = registry(standin.url)
    schema = resolve(reg, {"subject": "orders-value", "version": "latest"})
    with pytest.raises(BadValue, match=r"\$\.id: expected long, got string"):
        encode_avro(reg, schema, "orders", "value", '{"id": "seven"}')
    with pytest.raises(BadValue, match="not JSON"):
        encode_avro(reg, schema, "orders", "value", "{")


def test_unknown_subject_or_version_is_unknown(standin: StandinRegistry) -> None:
    standin.state.register("orders-value", {"schema": AVRO, "schemaType": "AVRO"})
    reg = registry(standin.url)
    with pytest.raises(UnknownSchema):
        resolve(reg, {"subject": "nope", "version": "latest"})
    with pytest.raises(UnknownSchema):
        resolve(reg, {"subject": "orders-value", "version": 9})
    with pytest.raises(ValueError):
        resolve(reg, {"subject": "orders-value", "version": "1"})


def test_a_value_nested_too_deeply_is_a_bad_value_not_a_crash(standin: StandinRegistry) -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"], "default": None}],
    }
    standin.state.register("chain-value", {"schema": json.dumps(node), "schemaType": "AVRO"})
    reg = registry(standin.url)
    schema = resolve(reg, {"subject": "chain-value"})
    deep = '{"next": ' * 700 + "null" + "}" * 700
    with pytest.raises(BadValue, match="nested too deeply"):
        encode_avro(reg, schema, "chain", "value", deep)
    shallow = '{"next": ' * 5 + "null" + "}" * 5
    assert encode_avro(reg, schema, "chain", "value", shallow).data[:5] == b"\x00\x00\x00\x00\x01"
