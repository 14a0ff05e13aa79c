"""The three live pages and their JSON twins: state from the URL, links, errors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.kafka.helpers import create_topic
from tests.nats.helpers import create_own_stream


@pytest.fixture
def topic(kafka_bootstrap, unique):
    return create_topic(kafka_bootstrap, unique, partitions=2)


def test_topic_page_carries_its_state_in_the_subscribe_frame(viewer_client, topic):
    url = reverse("tail-topic", args=["kafka", topic])
    page = viewer_client.get(
        url, {"from": "last", "n": "5", "partitions": "1", "filter": "<b>x</b>", "order": "oldest"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "js/tail.js" in html and 'id="tail-config"' in html
    assert "<b>x</b>" not in html
    api = viewer_client.get(
        f"/api/v1/clusters/kafka/topics/{topic}/live", {"from": "last", "n": "5", "partitions": "1"}
    )
    data = api.json()
    assert data["socket"] == "/ws/clusters/kafka/tail"
    assert data["subscribe"] == {
        "action": "subscribe",
        "source": "topic",
        "name": topic,
        "from": {"last": 5},
        "partitions": [1],
        "filter": None,
    }


def test_topic_page_errors_name_the_field(viewer_client, topic, unique):
    missing = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}-nope/live")
    assert missing.status_code == 404
    bad = viewer_client.get(f"/api/v1/clusters/kafka/topics/{topic}/live", {"partitions": "7"})
    assert bad.status_code == 400 and bad.json()["field"] == "partitions"
    bad = viewer_client.get(f"/api/v1/clusters/kafka/topics/{topic}/live", {"from": "offset"})
    assert bad.status_code == 400 and bad.json()["field"] == "offset"


def test_stream_page_and_its_subject_filter(viewer_client, nats_urls, unique):
    name = create_own_stream(nats_urls[0], unique)
    data = viewer_client.get(
        f"/api/v1/clusters/nats/streams/{name}/live", {"from": "seq", "seq": "3", "subject": f"{unique}.a"}
    ).json()
    assert data["subscribe"]["from"] == {"seq": 3} and data["subscribe"]["subject"] == f"{unique}.a"
    assert viewer_client.get(reverse("tail-stream", args=["nats", name])).status_code == 200
    assert viewer_client.get(f"/api/v1/clusters/nats/streams/{unique}NOPE/live").status_code == 404


def test_subject_page_needs_a_valid_pattern(viewer_client):
    assert viewer_client.get("/clusters/nats/live", {"subject": "sensors.*.temperature"}).status_code == 200
    bad = viewer_client.get("/api/v1/clusters/nats/live", {"subject": "a.>.b"})
    assert bad.status_code == 400 and bad.json()["field"] == "subject"
    assert viewer_client.get("/api/v1/clusters/nats/live").json()["field"] == "subject"
    assert viewer_client.get("/api/v1/clusters/kafka/live", {"subject": "a"}).status_code == 404


def test_topic_stream_and_subjects_pages_link_to_the_live_pages(viewer_client, topic, nats_urls, unique):
    assert (
        reverse("tail-topic", args=["kafka", topic])
        in viewer_client.get(f"/clusters/kafka/topics/{topic}").content.decode()
    )
    name = create_own_stream(nats_urls[0], unique)
    assert (
        reverse("tail-stream", args=["nats", name])
        in viewer_client.get(f"/clusters/nats/streams/{name}").content.decode()
    )
    subjects = viewer_client.get("/clusters/nats/subjects").content.decode()
    assert reverse("tail-subject", args=["nats"]) in subjects


def test_anonymous_visitors_are_sent_to_log_in(client, topic):
    response = client.get(reverse("tail-topic", args=["kafka", topic]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _links(page) -> dict:
    import json
    import re

    found = re.search(r'<script id="tail-links" type="application/json">(.*?)</script>', page.content.decode(), re.S)
    assert found, page.content[:500]
    return json.loads(found.group(1))


def test_rows_link_to_the_message_browser_and_operators_get_publish_again(viewer_client, operator, topic):
    viewer_links = _links(viewer_client.get(reverse("tail-topic", args=["kafka", topic])))
    assert viewer_links == {"messages_url": f"/clusters/kafka/topics/{topic}/messages"}
    viewer_client.force_login(operator)
    links = _links(viewer_client.get(reverse("tail-topic", args=["kafka", topic])))
    assert links["publish_api"] == f"/api/v1/clusters/kafka/topics/{topic}/publish"
    assert links["publish_page"] == f"/clusters/kafka/topics/{topic}/publish"
    subject_links = _links(viewer_client.get(reverse("tail-subject", args=["nats"]), {"subject": "a.>"}))
    assert subject_links == {"publish_api": "/api/v1/clusters/nats/publish", "publish_page": "/clusters/nats/publish"}


def test_kv_watch_page_its_twin_and_the_buckets_watch_button(viewer_client, nats_urls, unique):
    from tests.nats import helpers as h

    bucket = unique.replace("-", "_")

    async def create(nc) -> None:
        await nc.jetstream().create_key_value(bucket=bucket, storage="memory")

    h.run(nats_urls[0], create)
    keys = viewer_client.get(f"/clusters/nats/kv/{bucket}/keys", {"q": "app.*"})
    assert keys.status_code == 200
    watch = reverse("tail-kv", args=["nats", bucket])
    assert f'href="{watch}?from=beginning&amp;keys=app.%2A"' in keys.content.decode()
    data = viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}/live", {"from": "beginning", "keys": "app.*"}).json()
    assert data["socket"] == "/ws/clusters/nats/tail"
    assert data["subscribe"] == {
        "action": "subscribe",
        "source": "kv",
        "name": bucket,
        "from": "beginning",
        "partitions": None,
        "filter": None,
        "keys": "app.*",
    }
    page = viewer_client.get(watch, {"keys": "a/b=c.>"})
    assert page.status_code == 200 and "Key-Value bucket" in page.content.decode()
    bad = viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}/live", {"keys": "a.>.b"})
    assert bad.status_code == 400 and bad.json()["field"] == "keys"
    assert viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}x/live").status_code == 404
