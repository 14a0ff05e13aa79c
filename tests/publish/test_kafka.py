"""Publishing to Kafka through the API and the page, read back by an independent consumer."""

from __future__ import annotations

import base64

import pytest
from django.test import Client, override_settings

from streams.models import AuditEvent
from tests.kafka import helpers as kh
from tests.publish.helpers import read_topic, read_topic_to_end


def url(topic: str) -> str:
    return f"/api/v1/clusters/kafka/topics/{topic}/publish"


@pytest.fixture
def topic(kafka_bootstrap: str, unique: str) -> str:
    return kh.create_topic(kafka_bootstrap, unique, partitions=3)


def test_publish_key_value_headers_partition_exactly(operator_client, kafka_bootstrap, topic):
    response = operator_client.post(
        url(topic),
        {
            "key": "order-7",
            "value": '{"id": 7, "name": "Grüße"}',
            "encoding": "json",
            "headers": [["trace", "abc"], ["trace", "def"], ["empty", ""]],
            "partition": 2,
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["partition"] == 2 and body["offset"] == 0 and body["timestamp"]
    [record] = read_topic(kafka_bootstrap, topic, [0, 1, 2], expect=1)
    assert (record.partition, record.offset, record.key) == (2, 0, b"order-7")
    assert record.value == '{"id": 7, "name": "Grüße"}'.encode()
    assert record.headers == [("trace", b"abc"), ("trace", b"def"), ("empty", b"")]
    event = AuditEvent.objects.get(action="kafka.topic.publish")
    assert event.target == topic and event.result == "ok" and "Grüße" not in str(event.params)
    assert event.params["value_size"] == len(record.value) and event.message == "partition 2 offset 0"


def test_binary_value_as_base64_and_null_key(operator_client, kafka_bootstrap, topic):
    raw = bytes(range(256))
    response = operator_client.post(
        url(topic),
        {"key": None, "value": base64.b64encode(raw).decode(), "encoding": "base64"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    [record] = read_topic(kafka_bootstrap, topic, [0, 1, 2], expect=1)
    assert record.key is None and record.value == raw


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"value": '{"a": 1,, }', "encoding": "json"}, "value", "line 1, column 9"),
        ({"value": "not base64!", "encoding": "base64"}, "value", "base64"),
        ({"value": "x", "encoding": "yaml"}, "encoding", "one of"),
        ({"value": "x", "partition": 9}, "partition", "no partition 9"),
        ({"value": "x", "headers": [["only-a-name"]]}, "headers", "pairs"),
        ({"value": "x", "count": 0}, "count", "at least 1"),
        ({"value": "x", "count": 2_000_000}, "count", "at most"),
    ],
)
def test_bad_input_is_400_naming_the_field(operator_client, topic, payload, field, words):
    response = operator_client.post(url(topic), payload, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field and words in response.json()["error"]


def test_oversized_value_is_400_and_nothing_is_sent(operator_client, kafka_bootstrap, topic):
    with override_settings(PUBLISH_MAX_BYTES=1000):
        response = operator_client.post(url(topic), {"value": "x" * 1001}, content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == "value"
    assert read_topic_to_end(kafka_bootstrap, topic, [0, 1, 2]) == []


def test_unknown_topic_and_cluster_are_404(operator_client, unique):
    assert (
        operator_client.post(url(f"{unique}-none"), {"value": "x"}, content_type="application/json").status_code == 404
    )
    missing = operator_client.post("/api/v1/clusters/nope/topics/x/publish", {}, content_type="application/json")
    assert missing.status_code == 404


def test_viewers_and_read_only_are_refused(viewer_client, operator, topic, settings):
    assert viewer_client.post(url(topic), {"value": "x"}, content_type="application/json").status_code == 403
    settings.READ_ONLY = True
    as_operator = Client()
    as_operator.force_login(operator)
    assert as_operator.post(url(topic), {"value": "x"}, content_type="application/json").status_code == 403
    assert list(AuditEvent.objects.values_list("result", flat=True)) == ["denied", "denied"]


def test_dead_broker_is_503_within_the_timeout(operator_client, dead_port):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=1):
        response = operator_client.post(url("orders"), {"value": "x"}, content_type="application/json")
    assert response.status_code == 503 and response.json()["error"]


def test_page_form_publishes_and_shows_the_offset(operator_client, kafka_bootstrap, topic):
    page = operator_client.get(f"/clusters/kafka/topics/{topic}/publish")
    assert page.status_code == 200 and b'name="value"' in page.content
    answer = operator_client.post(
        f"/clusters/kafka/topics/{topic}/publish",
        {"key": "k", "value": "<b>hi</b>", "encoding": "text", "headers": "a: 1\nb: 2", "partition": "1"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 201
    assert b"partition 1 at offset 0" in answer.content and b"<html" not in answer.content
    [record] = read_topic(kafka_bootstrap, topic, [0, 1, 2], expect=1)
    assert record.headers == [("a", b"1"), ("b", b"2")] and record.value == b"<b>hi</b>"
    bad = operator_client.post(
        f"/clusters/kafka/topics/{topic}/publish", {"value": "{", "encoding": "json"}, headers={"HX-Request": "true"}
    )
    assert bad.status_code == 400 and b"not valid JSON" in bad.content


def test_publish_again_and_edit_from_a_stored_message(operator_client, kafka_bootstrap, topic):
    kh.produce(kafka_bootstrap, topic, [b"\x00\xffbinary"], partition=0, key=b"k1", headers=[("h", b"v")])
    again = operator_client.post(url(topic), {"from_partition": 0, "from_offset": 0}, content_type="application/json")
    assert again.status_code == 201, again.content
    records = read_topic(kafka_bootstrap, topic, [0, 1, 2], expect=2)
    assert [(r.key, r.value, r.headers) for r in records] == [(b"k1", b"\x00\xffbinary", [("h", b"v")])] * 2
    form = operator_client.get(f"/clusters/kafka/topics/{topic}/publish", {"from_partition": 0, "from_offset": 0})
    html = form.content.decode()
    assert base64.b64encode(b"\x00\xffbinary").decode() in html and 'value="base64" selected' in html
    assert "h: v" in html


def test_kafka_takes_header_names_and_values_nats_would_refuse(operator_client, kafka_bootstrap, topic):
    headers = [["has space", "two\r\nlines"], ["é", "v"]]
    response = operator_client.post(
        url(topic), {"value": "v", "headers": headers, "partition": 0}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    [record] = read_topic(kafka_bootstrap, topic, [0], expect=1)
    assert record.headers == [("has space", b"two\r\nlines"), ("é", b"v")]


def test_offsets_beyond_64_bits_are_bad_input_not_a_server_error(viewer_client, operator_client, topic):
    huge = str(2**70)
    form = viewer_client.get(f"/api/v1/clusters/kafka/topics/{topic}/publish", {"from_offset": huge})
    assert form.status_code == 400 and form.json()["field"] == "from_offset"
    form = viewer_client.get(
        f"/api/v1/clusters/kafka/topics/{topic}/publish", {"from_offset": 0, "from_partition": 2**31}
    )
    assert form.status_code == 400 and form.json()["field"] == "from_partition"
    again = operator_client.post(
        url(topic), {"from_partition": 2**64, "from_offset": 0}, content_type="application/json"
    )
    assert again.status_code == 400 and again.json()["field"] == "from_partition"
    browse = viewer_client.get(f"/api/v1/clusters/kafka/topics/{topic}/messages", {"from": "offset", "offset": huge})
    assert browse.status_code == 400 and browse.json()["field"] == "offset"
