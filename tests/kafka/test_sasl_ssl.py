"""A clusters-file Kafka reached through Apache Kafka's SASL_SSL listener: SCRAM-SHA-512 and a CA file."""

from __future__ import annotations

import pytest
from django.test import override_settings

from streams import registry
from tests.kafka import helpers as kh


@pytest.fixture
def secure_clusters(tmp_path, apache_kafka):
    """Slug ``secure``: the SASL_SSL listener as ``admin``; slug ``wrong-password``: the same, refused."""
    path = tmp_path / "clusters.toml"
    entries = []
    for slug, password in (("secure", apache_kafka.users["admin"]), ("wrong-password", "not-it")):
        entries.append(
            f"""[[clusters]]
slug = "{slug}"
kind = "kafka"
servers = ["{apache_kafka.sasl_bootstrap}"]
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
username = "admin"
password = "{password}"
tls_ca_file = "{apache_kafka.ca_pem}"
"""
        )
    path.write_text("\n".join(entries))
    with override_settings(STREAMDESK_CLUSTERS=str(path)):
        registry.invalidate()
        yield
    registry.invalidate()


def test_topics_and_messages_browse_through_sasl_ssl(viewer_client, apache_kafka, secure_clusters, unique):
    kh.create_topic(apache_kafka.bootstrap, unique)
    kh.produce(apache_kafka.bootstrap, unique, [b"first", b"second"], partition=0)
    listed = viewer_client.get("/api/v1/clusters/secure/topics", {"q": unique})
    assert listed.status_code == 200, listed.content
    assert [t["name"] for t in listed.json()["items"]] == [unique]
    read = viewer_client.get(f"/api/v1/clusters/secure/topics/{unique}/messages", {"partition": 0, "offset": 0})
    assert read.status_code == 200, read.content
    assert [m["value"]["text"] for m in read.json()["messages"]] == ["first", "second"]


def test_a_refused_scram_login_is_an_unreachable_cluster(viewer_client, secure_clusters):
    clusters = {c["slug"]: c for c in viewer_client.get("/api/v1/clusters").json()["clusters"]}
    assert clusters["secure"]["reachable"] is True, clusters["secure"]
    assert clusters["wrong-password"]["reachable"] is False, clusters["wrong-password"]
    topics = viewer_client.get("/api/v1/clusters/wrong-password/topics")
    assert topics.status_code == 503 and topics.json()["error"], topics.content
