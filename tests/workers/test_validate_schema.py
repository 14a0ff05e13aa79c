"""The ``validate`` handler by the schema registry: "registry" (the topic's value subject) or a subject's name.
Payloads written by confluent-kafka's serializers against the stand-in registry on a real socket."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.test import Client

from streams.handlers import validate
from streams.workers import registry as handlers
from tests.kafka import helpers as kh
from tests.polling import wait_until
from tests.publish.helpers import read_topic
from tests.schemas.standin import StandinRegistry
from tests.workers.test_units import kafka_message

ORDER = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}]})
SKU = json.dumps({"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]})


def serialized(url: str, schema: str, value: Any, subject_topic: str, part: str = "value") -> bytes:
    client = SchemaRegistryClient({"url": url})
    field = MessageField.VALUE if part == "value" else MessageField.KEY
    return bytes(AvroSerializer(client, schema)(value, SerializationContext(subject_topic, field)))


def test_registry_schema_checks_id_subject_and_body(db: None, standin: StandinRegistry) -> None:
    # FakeKafka's topic is "orders": "registry" means the subject orders-value.
    good = serialized(standin.url, ORDER, {"id": 1}, "orders")
    other_subject = serialized(standin.url, '"string"', "k", "orders", part="key")
    config = {"schema": "registry", "forward": {"cluster": "kafka", "topic": "ok"}}
    message, outbox = kafka_message(good, config)
    validate(message)
    assert len(outbox.sent) == 1
    poisons = {
        b"plain text": "not in the schema registry's wire format",
        b"\x00\x00\x00\x00\x63abc": "schema id 99 is not in the registry",
        other_subject: "schema id 2 is not a version of orders-value",
        good[:5] + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff": "does not decode with schema id 1",
    }
    for raw, reason in poisons.items():
        bad, outbox = kafka_message(raw, config)
        with pytest.raises(handlers.DeadLetter, match=reason):
            validate(bad)
        assert outbox.sent == []
    # A subject by name: the key's schema fits orders-key, not the value's.
    key_check, _ = kafka_message(other_subject, {"schema": "orders-key"})
    validate(key_check)
    with pytest.raises(handlers.DeadLetter, match="not a version of orders-key"):
        validate(kafka_message(good, {"schema": "orders-key"})[0])


def test_json_schema_data_is_checked_and_an_outage_is_retried_not_dead_lettered(
    db: None,
    standin: StandinRegistry,
) -> None:
    serialize = JSONSerializer(SKU, SchemaRegistryClient({"url": standin.url}), conf={"validate": False})
    good = serialize({"sku": "a-1"}, SerializationContext("orders", MessageField.VALUE))
    wrong = serialize({"sku": 7}, SerializationContext("orders", MessageField.VALUE))
    validate(kafka_message(good, {"schema": "registry"})[0])
    with pytest.raises(handlers.DeadLetter, match="does not fit schema id 1 at sku: 7 is not of type 'string'"):
        validate(kafka_message(wrong, {"schema": "registry"})[0])
    standin.state.down = True
    unseen = b"\x00\x00\x00\x00\x05{}"
    with pytest.raises(RuntimeError, match="schema registry did not answer") as caught:
        validate(kafka_message(unseen, {"schema": "registry"})[0])
    assert not isinstance(caught.value, handlers.DeadLetter)


def test_the_config_takes_registry_a_subject_or_a_json_schema() -> None:
    spec = handlers.get("validate")
    assert handlers.config_problem(spec, {"schema": "registry"}) is None
    assert handlers.config_problem(spec, {"schema": "orders-value", "forward": None}) is None
    assert handlers.config_problem(spec, {"schema": {"type": "object"}}) is None
    assert handlers.config_problem(spec, {"schema": ""}) is not None
    assert handlers.config_problem(spec, {"schema": 3}) is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.xdist_group("workers")
@pytest.mark.usefixtures("notify")
def test_a_runner_dead_letters_poison_by_the_registry_schema(
    operator_client: Client,
    runconsumers: Any,
    kafka_bootstrap: str,
    unique: str,
    standin: StandinRegistry,
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-orders")
    valid = kh.create_topic(kafka_bootstrap, f"{unique}-valid")
    dead = kh.create_topic(kafka_bootstrap, f"{unique}-dead")
    good = [serialized(standin.url, ORDER, {"id": i}, source) for i in range(3)]
    kh.produce(kafka_bootstrap, source, [good[0], b"poison", good[1], b"\x00\x00\x00\x00\x2a!", good[2]])
    response = operator_client.post(
        "/api/v1/workers",
        {
            "name": unique,
            "cluster": "kafka",
            "topic": source,
            "group": unique,
            "handler": "validate",
            "config": {"schema": "registry", "forward": {"cluster": "kafka", "topic": valid}},
            "start": "earliest",
            "dead_letter": {"cluster": "kafka", "topic": dead},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    runconsumers(KAFKA_SCHEMA_REGISTRY_URL=standin.url)
    forwarded = read_topic(kafka_bootstrap, valid, [0], expect=3, timeout=40)
    assert [r.value for r in forwarded] == good
    letters = read_topic(kafka_bootstrap, dead, [0], expect=2, timeout=40)
    assert [r.value for r in letters] == [b"poison", b"\x00\x00\x00\x00\x2a!"]
    errors = [dict(r.headers)["streamdesk-error"].decode() for r in letters]
    assert errors[0].startswith("DeadLetter: the value is not in the schema registry's wire format")
    assert errors[1] == "DeadLetter: schema id 42 is not in the registry"
    assert all(dict(r.headers)["streamdesk-attempts"] == b"1" for r in letters)
    worker = wait_until(
        lambda: (w := operator_client.get(f"/api/v1/workers/{unique}").json())["dead_lettered"] == 2 and w,
        message="counts",
        timeout=30,
    )
    assert worker["processed"] == 3
