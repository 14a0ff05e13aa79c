"""Exporting a topic range: the same selectors and filters as search, streamed as JSON Lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from streams.audit import AuditEvent
from tests.kafka import helpers as kh

pytestmark = [pytest.mark.django_db(transaction=True)]


def body(response: Any) -> str:
    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)().decode()


def test_viewer_exports_a_filtered_range_as_jsonl_and_csv(viewer, viewer_client: Client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique, partitions=2)
    for p in (0, 1):
        kh.produce(kafka_bootstrap, topic, [json.dumps({"n": p * 100 + i}) for i in range(50)], partition=p)
    url = f"/api/v1/clusters/kafka/topics/{topic}/export"
    response = viewer_client.get(url, {"from": "offset:10", "until": "offset:20", "jq": ".value.n % 2 == 0"})
    assert response.status_code == 200
    lines = [json.loads(x) for x in body(response).splitlines()]
    assert sorted((m["partition"], m["offset"]) for m in lines) == [(p, o) for p in (0, 1) for o in range(10, 20, 2)]
    assert all(json.loads(m["value"]["text"])["n"] % 2 == 0 for m in lines)

    response = viewer_client.get(url, {"format": "csv", "partitions": "1", "text": '"n": 142'})
    rows = list(csv.reader(io.StringIO(body(response))))
    assert rows[0] == ["partition", "offset", "timestamp", "key", "value", "headers"]
    assert [(r[0], r[1], r[4]) for r in rows[1:]] == [("1", "42", '{"n": 142}')]
    event = AuditEvent.objects.filter(action="kafka.topic.export", target=topic).first()
    assert AuditEvent.objects.filter(action="kafka.topic.export", target=topic).count() == 2
    assert event is not None and event.user == viewer and event.params["ranges"] == {"1": [0, 50]}


def test_bad_jq_or_range_is_a_400_naming_the_field(viewer_client: Client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    url = f"/api/v1/clusters/kafka/topics/{topic}/export"
    response = viewer_client.get(url, {"jq": ".a |||"})
    assert (response.status_code, response.json()["field"]) == (400, "jq")
    response = viewer_client.get(url, {"from": "offset:x"})
    assert (response.status_code, response.json()["field"]) == (400, "from")
    assert viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}-missing/export").status_code == 404


def test_topic_page_links_to_its_export_which_a_session_downloads(viewer_client: Client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, ["a", "b"])
    page = viewer_client.get(f"/clusters/kafka/topics/{topic}").content.decode()
    link = f"/clusters/kafka/topics/{topic}/export?format=csv"
    assert f'href="{link}"' in page
    rows = list(csv.reader(io.StringIO(body(viewer_client.get(link)))))
    assert [r[4] for r in rows[1:]] == ["a", "b"]


def test_json_lines_written_directly_equal_the_general_message_shape(viewer_client: Client, kafka_bootstrap, unique):
    """JSON Lines with no schema are built from the client's bytes; the line is the same as the API's message."""
    from confluent_kafka import Consumer, TopicPartition

    from streams import adapters
    from streams.search import kafka_scan
    from streams.search.export import line, plain_line
    from streams.search.filters import Record

    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, ['{"a": 1}'], key="k1", headers=[("trace", b"t-1"), ("empty", None)])
    kh.produce(
        kafka_bootstrap, topic, [b"\xff\xfe binary", None], headers=[("raw", b"\xc3\x28"), ("é", b"\xe2\x82\xac")]
    )
    url = f"/api/v1/clusters/kafka/topics/{topic}/export"
    lines = [json.loads(x) for x in body(viewer_client.get(url)).splitlines()]
    assert [m["offset"] for m in lines] == [0, 1, 2]
    config = adapters.get_config("kafka", "kafka")
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        read: list[Any] = []
        while len(read) < 3:
            read += [m for m in consumer.consume(10, 1.0) if m.error() is None]
    finally:
        consumer.close()
    for msg, written in zip(read, lines, strict=True):
        general = json.dumps(kafka_scan._message(msg, config, topic, None), ensure_ascii=False, default=str) + "\n"
        record = Record(msg.key(), msg.value(), msg.headers() or [], msg.partition(), msg.offset())
        assert plain_line(msg) == general == line(msg, record, config, topic, "jsonl")
        assert written == json.loads(general)
    assert lines[1]["value"] == {"text": None, "base64": "//4gYmluYXJ5", "decoded": None, "decode_error": None}
    assert lines[2]["value"] is None and lines[2]["headers"][0] == ["raw", {"text": None, "base64": "wyg="}]

    by_header = [json.loads(x) for x in body(viewer_client.get(url, {"text": "t-1"})).splitlines()]
    assert [m["offset"] for m in by_header] == [0]
