"""A registry answering 200 with JSON of the wrong shape: a 502 or a decode_error saying so, never a 500;
and topics linked to their subjects (TopicNameStrategy) and back."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.kafka import helpers as kh
from tests.schemas.standin import StandinRegistry

API = "/api/v1/clusters/kafka/schemas"


def register(client, subject: str, schema: str):
    return client.post(f"{API}/{quote(subject)}", {"schema": schema, "type": "AVRO"}, content_type="application/json")


@pytest.mark.parametrize(
    ("path", "answer", "url", "reason"),
    [
        ("GET /subjects", {"a": 1}, API, "answered the list of subjects with an object, not a list of strs"),
        ("GET /subjects", [1, 2], API, "not a list of strs"),
        ("GET /subjects/s-value/versions", {"v": 1}, f"{API}/s-value", "the list of versions with an object"),
        ("GET /subjects/s-value/versions/1", [1], f"{API}/s-value", "a schema version request with a list"),
        ("GET /subjects/s-value/versions/1", {"version": 1}, f"{API}/s-value", "without its schema and version"),
        ("GET /subjects/s-value/versions/latest", "x", API, "a schema version request with a string"),
        ("GET /config", [], API, "a compatibility request with a list"),
    ],
)
def test_wrong_shapes_are_a_502_naming_the_answer(
    operator_client,
    kafka_bootstrap,
    standin: StandinRegistry,
    path: str,
    answer: object,
    url: str,
    reason: str,
) -> None:
    assert register(operator_client, "s-value", '"string"').status_code == 201
    standin.state.answers[path] = answer
    response = operator_client.get(url)
    assert response.status_code == 502, response.content
    assert response["Content-Type"].startswith("application/json")
    assert reason in response.json()["error"]
    page = operator_client.get(url.removeprefix("/api/v1"))
    assert page.status_code == 502 and reason in page.content.decode()


def test_wrong_shapes_on_writes_are_a_502(operator_client, kafka_bootstrap, standin: StandinRegistry) -> None:
    assert register(operator_client, "w-value", '"string"').status_code == 201
    standin.state.answers["POST /compatibility/subjects/w-value/versions/latest"] = ["yes"]
    check = operator_client.post(
        f"{API}/w-value/check", {"schema": '"string"', "type": "AVRO"}, content_type="application/json"
    )
    assert check.status_code == 502 and "a compatibility check with a list" in check.json()["error"]
    standin.state.answers.clear()
    standin.state.answers["POST /subjects/w-value/versions"] = {"no": "id"}
    assert register(operator_client, "w-value", '"int"').status_code == 502
    standin.state.answers["DELETE /subjects/w-value"] = {"deleted": True}
    delete = operator_client.delete(f"{API}/w-value")
    assert delete.status_code == 502 and "a delete with an object" in delete.json()["error"], delete.content


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ([{"schema": '"string"'}], "with something that is not a schema object"),
        ("a schema", "with something that is not a schema object"),
        ({"schemaType": "AVRO"}, "without the schema itself"),
    ],
)
def test_a_wrong_shape_for_a_schema_id_is_a_decode_error_on_the_page(
    viewer_client,
    kafka_bootstrap,
    unique,
    standin: StandinRegistry,
    answer: object,
    reason: str,
) -> None:
    kh.create_topic(kafka_bootstrap, unique)
    framed = AvroSerializer(SchemaRegistryClient({"url": standin.url}), '"string"')(
        "hello", SerializationContext(unique, MessageField.VALUE)
    )
    kh.produce(kafka_bootstrap, unique, [framed, framed], partition=0)
    standin.state.answers["GET /schemas/ids/1"] = answer
    response = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}/messages", {"from": "beginning"})
    assert response.status_code == 200, response.content
    first, second = response.json()["messages"]
    expected = f"the schema registry answered the request for schema id 1 {reason}"
    assert first["value"]["decoded"] is None and first["value"]["decode_error"] == expected
    assert second["value"]["decode_error"] == expected and first["value"]["base64"]
    # Remembered: a page of such payloads asks once, and the registry is not taken for down.
    assert standin.state.requests.count("GET /schemas/ids/1") == 1
    page = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages", {"from": "beginning"})
    assert page.status_code == 200 and f"Not decoded: {expected}" in page.content.decode()


def test_a_topic_links_its_subjects_and_a_subject_its_topic(
    operator_client,
    kafka_bootstrap,
    unique,
    standin: StandinRegistry,
) -> None:
    kh.create_topic(kafka_bootstrap, unique)
    schema = json.dumps({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
    assert register(operator_client, f"{unique}-value", schema).status_code == 201
    assert register(operator_client, f"{unique}-key", '"string"').status_code == 201
    assert register(operator_client, f"{unique}-gone-value", '"string"').status_code == 201

    detail = operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}").json()
    assert detail["schemas"] == [
        {"subject": f"{unique}-key", "part": "key", "version": 1, "id": 2, "type": "AVRO"},
        {"subject": f"{unique}-value", "part": "value", "version": 1, "id": 1, "type": "AVRO"},
    ]
    assert detail["schemas_note"] is None
    page = operator_client.get(f"/clusters/kafka/topics/{unique}").content.decode()
    assert f'href="/clusters/kafka/schemas/{unique}-value"' in page
    assert f'href="/clusters/kafka/schemas/{unique}-key"' in page

    # The live page's rows link a decoded payload's subject the same way.
    live = operator_client.get(f"/clusters/kafka/topics/{unique}/live").content.decode()
    assert '"schemas_base": "/clusters/kafka/schemas/"' in live

    subject = operator_client.get(f"{API}/{unique}-value").json()
    assert subject["topic"] == unique
    assert (
        f'href="/clusters/kafka/topics/{unique}"'
        in operator_client.get(f"/clusters/kafka/schemas/{unique}-value").content.decode()
    )
    # A subject whose topic is not there, and one not named by the strategy, link to nothing.
    assert operator_client.get(f"{API}/{unique}-gone-value").json()["topic"] is None
    assert register(operator_client, "plain-subject", '"string"').status_code == 201
    assert operator_client.get(f"{API}/plain-subject").json()["topic"] is None

    # A registry that is down leaves the topic page whole, with a note.
    standin.state.down = True
    down = operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}")
    assert down.status_code == 200 and down.json()["schemas"] == []
    assert "could not say which subjects" in down.json()["schemas_note"]
