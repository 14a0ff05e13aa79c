"""Deeply nested JSON from brokers and from clients: shown raw, refused with a 400, never a 500."""

from __future__ import annotations

import json

import pytest

from tests.kafka import helpers as kh
from tests.nats import helpers as h

DEEP = "[" * 3000
DEEP_OBJECT = '{"a":' * 3000


def test_kafka_message_pages_show_deep_json_raw(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [DEEP, DEEP_OBJECT + "1" + "}" * 3000], headers=[("deep", DEEP.encode())])
    for query in ("", "?partition=0&offset=0&full=1"):
        page = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages{query}")
        assert page.status_code == 200, page.content[:500]
        html = page.content.decode()
        assert 'class="payload text">' + DEEP in html and 'class="payload json"' not in html
    api = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}/messages")
    assert api.status_code == 200
    first, second = api.json()["messages"]
    assert first["value"]["text"] == DEEP and first["headers"][0][0] == "deep"
    assert first["headers"][0][1]["text"] == DEEP
    assert second["value"]["text"].startswith(DEEP_OBJECT)


def test_jetstream_message_pages_show_deep_json_raw(viewer_client, nats_urls, unique):
    url = nats_urls[0]
    name = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.deep", DEEP.encode(), {"deep": DEEP})])
    for path in (f"/clusters/nats/streams/{name}/messages", f"/clusters/nats/streams/{name}/messages/1"):
        page = viewer_client.get(path)
        assert page.status_code == 200, page.content[:500]
        html = page.content.decode()
        assert 'class="payload text">' + DEEP in html and 'class="payload json"' not in html
    api = viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/messages/1")
    assert api.status_code == 200
    message = api.json()["message"]
    assert message["value"]["text"] == DEEP and message["headers"][0][0] == "deep"
    listing = viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/messages")
    assert listing.status_code == 200 and listing.json()["messages"][0]["value"]["text"] == DEEP


def test_a_deeply_nested_request_body_is_a_400(operator_client):
    for body in (DEEP, json.dumps({"name": "x"})[:-1] + ', "more": ' + DEEP_OBJECT):
        response = operator_client.post("/api/v1/clusters/kafka/topics", body, content_type="application/json")
        assert response.status_code == 400, response.content[:300]
        assert response["Content-Type"].startswith("application/json")
        error = "The request body is not valid JSON: it is nested too deeply."
        assert response.json() == {"error": error, "field": None}


@pytest.mark.django_db
async def test_a_deeply_nested_live_tail_frame_is_answered_with_an_error_frame():
    from streams import adapters
    from streams.tail.session import TailSession

    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    async def close(code: int, reason: str) -> None:
        raise AssertionError(f"closed with {code}")

    session = TailSession(await adapters.aget_config("nats"), send, close)
    try:
        await session.receive(DEEP)
    finally:
        await session.shutdown()
    assert [json.loads(frame) for frame in sent] == [
        {"type": "error", "error": "That frame is not JSON.", "field": None}
    ]
