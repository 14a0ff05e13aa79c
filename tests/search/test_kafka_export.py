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
