"""``/metrics``: Prometheus text from the samples, parsed with Prometheus' own parser; who may read it."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from streams.models import ApiToken
from tests.kafka import helpers as kafka
from tests.lag.helpers import sweep, times
from tests.nats import helpers as nats

pytestmark = pytest.mark.django_db


def samples_of(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    matches = [v for got, v in found[name] if all(got.get(k) == w for k, w in labels.items())]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def bearer(user, *, read_only: bool = False) -> dict[str, str]:
    _, raw = ApiToken.issue(user, "metrics", read_only=read_only)
    return {"Authorization": f"Bearer {raw}"}


def test_metrics_from_samples(client: Client, operator, kafka_bootstrap, nats_urls, unique):
    topic = kafka.create_topic(kafka_bootstrap, unique, partitions=2)
    kafka.produce(kafka_bootstrap, topic, [b"x"] * 5, partition=0)
    kafka.produce(kafka_bootstrap, topic, [b"x"] * 3, partition=1)
    kafka.commit(kafka_bootstrap, unique, {(topic, 0): 1, (topic, 1): 3})
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 4)
    nats.add_consumer(url, stream, "slow")
    nats.fetch_and_ack(url, stream, "slow", 2, 1)
    for at in times(2):
        sweep("kafka", at)
        sweep("nats", at)

    response = client.get("/metrics", headers=bearer(operator, read_only=True))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = samples_of(response.content.decode())

    labels = {"cluster": "kafka", "group": unique, "topic": topic}
    assert value(found, "streamdesk_kafka_partition_lag", partition="0", **labels) == 4
    assert value(found, "streamdesk_kafka_partition_lag", partition="1", **labels) == 0
    assert value(found, "streamdesk_kafka_partition_end_offset", cluster="kafka", topic=topic, partition="0") == 5
    assert value(found, "streamdesk_kafka_partition_end_offset", cluster="kafka", topic=topic, partition="1") == 3
    # Committed once, never again, while lagging: Burrow's STOP, so the group is ERR (3).
    assert value(found, "streamdesk_kafka_group_status", cluster="kafka", group=unique) == 3

    consumer = {"cluster": "nats", "stream": stream, "consumer": "slow"}
    assert value(found, "streamdesk_jetstream_consumer_lag", **consumer) == 2
    assert value(found, "streamdesk_jetstream_consumer_ack_pending", **consumer) == 1
    assert value(found, "streamdesk_jetstream_consumer_ack_floor", **consumer) == 1
    assert value(found, "streamdesk_jetstream_consumer_status", **consumer) == 3

    for cluster in ("kafka", "nats"):
        assert value(found, "streamdesk_lag_sweeps_total", cluster=cluster) == 2
        assert value(found, "streamdesk_lag_sweep_errors_total", cluster=cluster) == 0
        assert value(found, "streamdesk_lag_sweep_up", cluster=cluster) == 1
        assert value(found, "streamdesk_lag_sweep_duration_seconds", cluster=cluster) > 0
        assert value(found, "streamdesk_lag_consumers", cluster=cluster, status="ERR") >= 1


def test_metrics_need_a_token_with_the_operators_role(client: Client, operator, viewer, stranger, settings):
    settings.METRICS_PUBLIC = False
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer sdk_not-a-token"}).status_code == 401
    assert client.get("/metrics", headers=bearer(stranger)).status_code == 403
    # The numbers span every cluster and resource: no policy grants them, only the role.
    refused = client.get("/metrics", headers=bearer(viewer))
    assert refused.status_code == 403 and refused.json()["error"] == "This needs the Operators role."
    assert client.get("/metrics", headers=bearer(operator, read_only=True)).status_code == 200
    assert client.post("/metrics", headers=bearer(operator)).status_code == 405


def test_metrics_can_be_public(client: Client, settings):
    settings.METRICS_PUBLIC = True
    response = client.get("/metrics")
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert "streamdesk_lag_sweep_duration_seconds" in names


def test_managed_consumers_counters_are_in_metrics(client: Client, operator):
    from datetime import timedelta

    from django.utils import timezone

    from streams.workers.models import ConsumerInstance, ManagedConsumer

    now = timezone.now()
    bridge = ManagedConsumer.objects.create(
        name="bridge", cluster="kafka", source_kind="topic", source="orders", group="bridge", handler="forward",
        processed=120, failed=3, dead_lettered=1,
    )  # fmt: skip
    ConsumerInstance.objects.create(
        consumer=bridge, instance_id="h-1-a", host="h", pid=1, started_at=now, heartbeat_at=now,
        state="running", rate=12.5, latency_ms=2.0,
    )  # fmt: skip
    ConsumerInstance.objects.create(
        consumer=bridge, instance_id="h-2-b", host="h", pid=2, started_at=now,
        heartbeat_at=now - timedelta(hours=1), state="running", rate=99.0,
    )  # fmt: skip
    found = samples_of(client.get("/metrics", headers=bearer(operator)).content.decode())
    labels = {"worker": "bridge", "cluster": "kafka", "source": "orders", "handler": "forward"}
    assert value(found, "streamdesk_worker_processed_total", **labels) == 120
    assert value(found, "streamdesk_worker_failed_total", **labels) == 3
    assert value(found, "streamdesk_worker_dead_lettered_total", **labels) == 1
    # The instance whose heartbeat stopped an hour ago counts for nothing.
    assert value(found, "streamdesk_worker_rate", **labels) == 12.5
    assert value(found, "streamdesk_worker_instances", **labels) == 1
    assert value(found, "streamdesk_worker_state", **labels) == 2  # running
