"""A clusters-file Kafka reached through Apache Kafka's SASL_SSL listener: SCRAM-SHA-512 and a CA file."""

from __future__ import annotations

import pytest
from django.test import override_settings

from dev import apache_kafka as apache
from streams import adapters
from tests.kafka import helpers as kh


@pytest.fixture
def secure_clusters(tmp_path, apache_kafka):
    """Slug ``secure``: the SASL_SSL listener as ``admin``; ``wrong-password`` and ``other-ca``
    (which trusts a CA that did not sign the broker's certificate): the same, refused."""
    _, other_ca = apache.make_certificates(tmp_path / "other")
    path = tmp_path / "clusters.toml"
    entries = []
    admin_password = apache_kafka.users["admin"]
    for slug, password, ca in (
        ("secure", admin_password, apache_kafka.ca_pem),
        ("wrong-password", "not-it", apache_kafka.ca_pem),
        ("other-ca", admin_password, other_ca),
    ):
        entries.append(
            f"""[[clusters]]
slug = "{slug}"
kind = "kafka"
servers = ["{apache_kafka.sasl_bootstrap}"]
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
username = "admin"
password = "{password}"
tls_ca_file = "{ca}"
"""
        )
    path.write_text("\n".join(entries))
    with override_settings(STREAMDESK_CLUSTERS=str(path)):
        adapters.invalidate()
        yield
    adapters.invalidate()


def test_topics_and_messages_browse_through_sasl_ssl(viewer_client, apache_kafka, secure_clusters, unique):
    kh.create_topic(apache_kafka.bootstrap, unique)
    kh.produce(apache_kafka.bootstrap, unique, [b"first", b"second"], partition=0)
    listed = viewer_client.get("/api/v1/clusters/secure/topics", {"q": unique})
    assert listed.status_code == 200, listed.content
    assert [t["name"] for t in listed.json()["items"]] == [unique]
    read = viewer_client.get(f"/api/v1/clusters/secure/topics/{unique}/messages", {"partition": 0, "offset": 0})
    assert read.status_code == 200, read.content
    assert [m["value"]["text"] for m in read.json()["messages"]] == ["first", "second"]


def test_a_refused_login_or_an_untrusted_certificate_is_an_unreachable_cluster_that_says_so(
    viewer_client, secure_clusters
):
    clusters = {c["slug"]: c for c in viewer_client.get("/api/v1/clusters").json()["clusters"]}
    assert clusters["secure"]["reachable"] is True, clusters["secure"]
    refused = clusters["wrong-password"]
    assert refused["reachable"] is False and "Could not log in to Kafka" in refused["error"], refused
    assert "invalid credentials" in refused["error"], refused
    topics = viewer_client.get("/api/v1/clusters/wrong-password/topics")
    assert topics.status_code == 503 and "Could not log in to Kafka" in topics.json()["error"], topics.content
    untrusted = clusters["other-ca"]
    assert untrusted["reachable"] is False and "certificate verify failed" in untrusted["error"], untrusted
