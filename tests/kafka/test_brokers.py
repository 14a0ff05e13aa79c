"""The Brokers page and one broker with its configs, against the real broker."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from tests.kafka import helpers as kh

FIELDS = {"id", "host", "port", "rack", "controller", "leader_partitions", "replica_partitions"}


def test_brokers_list_counts_partitions_led_and_held(viewer_client, kafka_bootstrap, kafka_broker, unique):
    kh.create_topic(kafka_bootstrap, unique, partitions=3)
    md = kh.admin(kafka_bootstrap).list_topics(timeout=5)
    response = viewer_client.get("/api/v1/clusters/kafka/brokers")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cluster_id"] == md.cluster_id
    items = {b["id"]: b for b in body["items"]}
    assert set(items) == set(md.brokers)
    leaders = sum(1 for t in md.topics.values() for p in t.partitions.values() if p.leader >= 0)
    replicas = sum(len(p.replicas) for t in md.topics.values() for p in t.partitions.values())
    assert sum(b["leader_partitions"] for b in items.values()) >= 3
    assert sum(b["leader_partitions"] for b in items.values()) <= leaders + 3
    assert sum(b["replica_partitions"] for b in items.values()) >= 3
    assert sum(b["replica_partitions"] for b in items.values()) <= replicas + 3
    for broker in items.values():
        assert set(broker) == FIELDS
        assert (broker["host"], broker["port"]) == (md.brokers[broker["id"]].host, md.brokers[broker["id"]].port)
    if kafka_broker == "apache":  # one combined broker+controller node, its process.roles says so
        (only,) = items.values()
        assert only["controller"] is True and only["rack"] is None
    elif kafka_broker == "tansu":  # no configs described, so no word on the controller
        assert all(b["controller"] is None for b in items.values())


def test_broker_detail_has_its_configs_non_defaults_first_sensitive_hidden(viewer_client, kafka_broker):
    (first,) = viewer_client.get("/api/v1/clusters/kafka/brokers").json()["items"][:1]
    response = viewer_client.get(f"/api/v1/clusters/kafka/brokers/{first['id']}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in FIELDS} == first
    configs = body["configs"]
    if kafka_broker == "tansu":
        assert configs == {} and "not supported by this broker" in body["configs_note"]
        return
    assert kafka_broker != "apache" or body["configs_note"] is None
    if kafka_broker != "apache":
        return
    assert configs["process.roles"]["value"] == "broker,controller"
    for name, config in configs.items():
        assert set(config) == {"name", "value", "source", "default", "sensitive", "read_only"}
        assert config["name"] == name
        if config["sensitive"]:
            assert config["value"] is None
    assert any(c["sensitive"] for c in configs.values())
    defaults = [c["default"] for c in configs.values()]
    assert defaults == sorted(defaults) and defaults[0] is False and defaults[-1] is True
    assert configs["log.dirs"]["source"] == "static_broker" and not configs["log.dirs"]["default"]


def test_broker_configs_are_searchable(viewer_client, kafka_broker):
    if kafka_broker != "apache":
        return
    found = viewer_client.get("/api/v1/clusters/kafka/brokers/1", {"q": "Retention.MS"}).json()
    assert found["configs"] and all("retention.ms" in n for n in found["configs"])
    assert found["configs_total"] > len(found["configs"])
    by_value = viewer_client.get("/api/v1/clusters/kafka/brokers/1", {"q": "broker,controller"}).json()
    assert "process.roles" in by_value["configs"]
    page = viewer_client.get("/clusters/kafka/brokers/1", {"q": "retention.ms"})
    html = page.content.decode()
    assert page.status_code == 200 and 'data-config="log.retention.ms"' in html
    assert 'data-config="process.roles"' not in html
    everything = viewer_client.get("/clusters/kafka/brokers/1").content.decode()
    # The non-defaults come first; the defaults are folded away.
    assert everything.index('data-config="process.roles"') < everything.index('<details class="defaults">')
    assert everything.index('<details class="defaults">') < everything.index('data-config="log.retention.ms"')
    assert "(sensitive)" in everything


def test_topic_page_links_each_leader_to_its_broker(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    leader = kh.admin(kafka_bootstrap).list_topics(unique, timeout=5).topics[unique].partitions[0].leader
    html = viewer_client.get(f"/clusters/kafka/topics/{unique}").content.decode()
    assert f'<a href="/clusters/kafka/brokers/{leader}">{leader}</a>' in html


def test_unknown_broker_is_404(viewer_client):
    assert viewer_client.get("/api/v1/clusters/kafka/brokers/987654").status_code == 404
    page = viewer_client.get("/clusters/kafka/brokers/987654")
    assert page.status_code == 404 and b"Not found" in page.content
    assert viewer_client.get("/api/v1/clusters/nope/brokers").status_code == 404


def test_brokers_page_is_a_tab_beside_topics_and_groups(viewer_client, kafka_broker):
    page = viewer_client.get("/clusters/kafka/brokers")
    html = page.content.decode()
    assert page.status_code == 200 and 'aria-current="page">Brokers' in html
    assert ">Topics</a>" in html and ">Consumer groups</a>" in html
    assert 'data-broker="' in html
    topics = viewer_client.get("/clusters/kafka/topics").content.decode()
    assert 'href="/clusters/kafka/brokers"' in topics
    if kafka_broker == "apache":
        assert "<td>yes</td>" in html


@pytest.mark.parametrize("path", ["clusters/kafka/brokers", "clusters/kafka/brokers/1"])
def test_down_broker_is_503_quickly_and_a_banner_on_the_page(viewer_client, dead_port, path):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=1):
        started = time.monotonic()
        response = viewer_client.get(f"/api/v1/{path}")
        elapsed = time.monotonic() - started
        page = viewer_client.get(f"/{path}")
    assert response.status_code == 503 and "Kafka" in response.json()["error"] and elapsed < 8
    assert page.status_code == 503 and b"Broker unavailable" in page.content
