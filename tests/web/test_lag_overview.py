"""The Lag page: the consumers furthest behind on every cluster, read from the real servers."""

from __future__ import annotations

from django.test import override_settings

from tests.kafka import helpers as kafka
from tests.nats import helpers as nats


def test_lag_overview_ranks_real_kafka_groups_and_jetstream_consumers(
    viewer_client, kafka_bootstrap, nats_urls, unique, settings
):
    settings.BROKER_CACHE_SECONDS = 0
    topic = kafka.create_topic(kafka_bootstrap, unique, partitions=2)
    kafka.produce(kafka_bootstrap, topic, [b"x"] * 7, partition=0)
    kafka.produce(kafka_bootstrap, topic, [b"y"] * 3, partition=1)
    kafka.commit(kafka_bootstrap, f"{unique}-behind", {(topic, 0): 2, (topic, 1): 1})  # lag 5 + 2
    kafka.commit(kafka_bootstrap, f"{unique}-current", {(topic, 0): 7, (topic, 1): 3})

    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 4)
    nats.add_consumer(url, stream, "slow")

    data = viewer_client.get("/api/v1/lag", {"limit": 100}).json()
    sections = {c["slug"]: c for c in data["clusters"]}
    assert sections["kafka"]["error"] is None and sections["nats"]["error"] is None

    groups = {g["group"]: g for g in sections["kafka"]["items"]}
    behind = groups[f"{unique}-behind"]
    assert behind["lag"] == 7, (sections["kafka"]["warning"], behind)
    assert groups[f"{unique}-current"]["lag"] == 0
    lags = [g["lag"] for g in sections["kafka"]["items"] if g["lag"] is not None]
    assert lags == sorted(lags, reverse=True)

    slow = next(c for c in sections["nats"]["items"] if c["stream"] == stream)
    assert (slow["consumer"], slow["lag"], slow["paused"]) == ("slow", 4, False)

    page = viewer_client.get("/lag").content.decode()
    assert f"{unique}-behind" in page and f"/streams/{stream}/consumers/slow" in page


def test_one_dead_cluster_does_not_hide_the_others(viewer_client, dead_port):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}"):
        response = viewer_client.get("/api/v1/lag")
        page = viewer_client.get("/lag")
    sections = {c["slug"]: c for c in response.json()["clusters"]}
    assert response.status_code == 200
    assert sections["kafka"]["error"] and sections["kafka"]["items"] == []
    assert sections["nats"]["error"] is None
    assert page.status_code == 200 and b"Broker unavailable" in page.content


def test_lag_limit_is_validated(viewer_client):
    response = viewer_client.get("/api/v1/lag", {"limit": "0"})
    assert response.status_code == 400 and response.json()["field"] == "limit"
