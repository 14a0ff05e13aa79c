"""Exporting a stream range: the same selectors and filters as a JetStream search, streamed as JSON
Lines or CSV; the data written by a plain nats-py client on the real nats-server."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from streams.audit import AuditEvent
from tests.nats import helpers as h
from tests.search.test_kafka_export import body

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def fresh_reads(settings: Any) -> None:
    settings.BROKER_CACHE_SECONDS = 0


@pytest.fixture
def url(nats_urls: tuple[str, str]) -> str:
    return nats_urls[0]


def test_viewer_exports_a_filtered_range_as_jsonl_and_csv(viewer, viewer_client: Client, url, unique):
    name = h.create_own_stream(url, unique)
    h.publish(
        url,
        [(f"{unique}.{'b' if i % 2 else 'a'}", json.dumps({"n": i}).encode(), {"h": f"v{i}"}) for i in range(40)],
    )
    api = f"/api/v1/clusters/nats/streams/{name}/export"
    response = viewer_client.get(api, {"from": "seq:11", "until": "seq:21", "jq": ".value.n % 2 == 0"})
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(x) for x in body(response).splitlines()]
    assert [(m["seq"], m["subject"]) for m in lines] == [(s, f"{unique}.a") for s in range(11, 21, 2)]
    assert lines[0]["value"]["text"] == '{"n": 10}' and lines[0]["headers"] == [
        ["h", {"text": "v10", "base64": "djEw"}]
    ]
    assert lines[0]["timestamp"] and lines[0]["key"] is None

    response = viewer_client.get(api, {"format": "csv", "subject": f"{unique}.b", "text": '"n": 3'})
    rows = list(csv.reader(io.StringIO(body(response))))
    assert rows[0] == ["seq", "subject", "timestamp", "value", "headers"]
    assert [(r[0], r[1], r[3], json.loads(r[4])) for r in rows[1:]] == [
        (str(i + 1), f"{unique}.b", json.dumps({"n": i}), {"h": f"v{i}"}) for i in (3, 31, 33, 35, 37, 39)
    ]
    events = AuditEvent.objects.filter(action="nats.stream.export", target=name)
    assert events.count() == 2
    event = events.first()
    assert event is not None and event.user == viewer and event.params["ranges"] == {"seq": [1, 41]}
    assert event.params["subject"] == f"{unique}.b"
    # The export's ordered consumer is gone with it.
    assert h.stream_info(url, name)["state"]["consumer_count"] == 0


def test_a_time_range_is_read_from_the_first_message_at_or_after_it(viewer_client: Client, url, unique):
    name = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.x", b"early %d" % i, None) for i in range(3)])
    time.sleep(0.05)  # a time strictly between the messages' timestamps: only the clock makes one
    middle = datetime.now(UTC)
    time.sleep(0.05)
    h.publish(url, [(f"{unique}.x", b"late %d" % i, None) for i in range(4)])
    time.sleep(0.05)  # a time strictly between the messages' timestamps: only the clock makes one
    after = datetime.now(UTC)
    api = f"/api/v1/clusters/nats/streams/{name}/export"
    for since in (
        middle.isoformat(),
        middle.strftime("%Y-%m-%dT%H:%M:%S.%f+0000"),
        middle.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    ):
        lines = body(viewer_client.get(api, {"from": f"time:{since}"})).splitlines()
        assert [json.loads(x)["seq"] for x in lines] == [4, 5, 6, 7], since
    assert body(viewer_client.get(api, {"from": f"time:{after.isoformat()}"})) == ""
    bounded = body(viewer_client.get(api, {"until": f"time:{middle.isoformat()}"})).splitlines()
    assert [json.loads(x)["seq"] for x in bounded] == [1, 2, 3]


def test_bad_input_is_a_400_and_a_missing_stream_a_404(viewer_client: Client, url, unique):
    name = h.create_own_stream(url, unique)
    api = f"/api/v1/clusters/nats/streams/{name}/export"
    for query, field in (({"jq": ".a |||"}, "jq"), ({"from": "seq:x"}, "from"), ({"subject": "a b"}, "subject")):
        response = viewer_client.get(api, query)
        assert (response.status_code, response.json()["field"]) == (400, field), query
    assert viewer_client.get(f"/api/v1/clusters/nats/streams/{name}_NONE/export").status_code == 404


def test_an_export_larger_than_its_batches_comes_whole_and_in_order(viewer_client: Client, url, unique):
    name = h.create_own_stream(url, unique)

    async def work(nc: Any) -> None:
        js = nc.jetstream()
        acks = [await js.publish_async(f"{unique}.x", b"%06d" % i + b"x" * 3000) for i in range(2500)]
        for ack in acks:
            await ack

    h.run(url, work)
    lines = body(viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/export")).splitlines()
    assert [json.loads(x)["seq"] for x in lines] == list(range(1, 2501))


def test_stream_page_offers_search_and_export(viewer_client: Client, url, unique):
    name = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.x", b"alpha", None), (f"{unique}.x", b"beta", None)])
    page = viewer_client.get(f"/clusters/nats/streams/{name}").content.decode()
    link = f"/clusters/nats/streams/{name}/export?format=csv"
    assert f'href="{link}"' in page
    assert f'action="/clusters/nats/streams/{name}/search"' in page
    rows = list(csv.reader(io.StringIO(body(viewer_client.get(link)))))
    assert [r[3] for r in rows[1:]] == ["alpha", "beta"]
    narrowed = viewer_client.get(f"/clusters/nats/streams/{name}/export", {"format": "jsonl", "text": "bet"})
    assert [json.loads(x)["value"]["text"] for x in body(narrowed).splitlines()] == ["beta"]
