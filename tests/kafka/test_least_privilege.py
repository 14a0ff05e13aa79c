"""Streamdesk through SASL_SSL as users holding exactly the ACLs docs/CONFIGURATION.md lists, on a broker that grants
nothing else: the read-only list is enough to browse, tail and see lag; the operating list adds
publishing and topic changes; and the read-only user really cannot write."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from streams import adapters
from streams.kafka.adapter import KafkaAdapter
from streams.lag import sampling
from tests.kafka import helpers as kh
from tests.kafka.least_privilege import least_clusters, least_privilege  # noqa: F401 - fixtures
from tests.tail.helpers import open_tail, texts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("least-privilege")]


@pytest.fixture
def filled(least_privilege, unique):  # noqa: F811 - the fixture imported above
    """A topic with three messages and a group that committed one of them (through PLAINTEXT)."""
    bootstrap = least_privilege.kafka.bootstrap
    kh.create_topic(bootstrap, unique)
    kh.produce(bootstrap, unique, [b"one", b"two", b"three"], partition=0)
    kh.commit(bootstrap, f"{unique}-group", {(unique, 0): 1})
    return unique


def test_the_read_list_browses_configs_messages_groups_and_lag(viewer_client, least_clusters, filled):  # noqa: F811
    topic, group = filled, f"{filled}-group"
    listed = viewer_client.get("/api/v1/clusters/least-read/topics", {"q": topic})
    assert listed.status_code == 200, listed.content
    assert [t["name"] for t in listed.json()["items"]] == [topic]
    detail = viewer_client.get(f"/api/v1/clusters/least-read/topics/{topic}")
    assert detail.status_code == 200, detail.content
    assert detail.json()["configs"]["cleanup.policy"] == "delete"
    read = viewer_client.get(f"/api/v1/clusters/least-read/topics/{topic}/messages", {"partition": 0, "offset": 0})
    assert [m["value"]["text"] for m in read.json()["messages"]] == ["one", "two", "three"]

    groups = viewer_client.get("/api/v1/clusters/least-read/groups")
    assert groups.status_code == 200, groups.content
    assert group in [g["group"] for g in groups.json()["items"]]
    lag = viewer_client.get(f"/api/v1/clusters/least-read/groups/{group}")
    assert lag.status_code == 200, lag.content
    assert lag.json()["lag"] == 2

    config = adapters.find("least-read", adapters.clusters(fresh=True))
    [result] = sampling.sample([config])
    assert result.ok, result.error
    assert result.rows >= 1
    # ``TOPIC * READ`` covers __consumer_offsets: the sweep read the group's commit there.
    assert adapters.kafka(config).offsets_log.offsets.by_group[group] == {(topic, 0): 1}


@pytest.mark.django_db(transaction=True)
async def test_the_read_list_tails_a_topic(viewer, least_clusters, filled):  # noqa: F811
    tail = await open_tail(viewer, "least-read")
    try:
        await tail.subscribe("topic", filled, **{"from": "beginning"})
        assert texts(await tail.collect(3)) == ["one", "two", "three"]
    finally:
        await tail.close()


def test_the_read_list_cannot_write(least_privilege, filled):  # noqa: F811
    producer = Producer({**least_privilege.client_config("sd-reader"), "message.timeout.ms": 10_000})
    failures: list[KafkaError | None] = []
    producer.produce(filled, b"refused", on_delivery=lambda err, msg: failures.append(err))
    producer.flush(15)
    [failure] = failures
    assert failure is not None and failure.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    reader = AdminClient({**least_privilege.client_config("sd-reader"), "log_level": 0})
    with pytest.raises(KafkaException) as denied:
        reader.delete_topics([filled], operation_timeout=10)[filled].result(15)
    assert denied.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_the_operate_list_publishes_creates_and_resets(operator_client, least_clusters, filled):  # noqa: F811
    published = operator_client.post(
        f"/api/v1/clusters/least-operate/topics/{filled}/publish",
        {"value": "four", "encoding": "text", "partition": 0},
        content_type="application/json",
    )
    assert published.status_code == 201, published.content
    assert published.json()["offset"] == 3

    created = operator_client.post(
        "/api/v1/clusters/least-operate/topics",
        {"name": f"{filled}-new", "partitions": 2, "replication_factor": 1},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content

    reset = operator_client.post(
        f"/api/v1/clusters/least-operate/groups/{filled}-group/reset",
        {"topic": filled, "to": "earliest"},
        content_type="application/json",
    )
    assert reset.status_code == 200, reset.content
    assert kh.committed(least_clusters.kafka.bootstrap, f"{filled}-group", filled, [0]) == {0: 0}


@pytest.mark.django_db
def test_a_sweep_refused_the_offsets_log_asks_each_group(least_clusters, filled):  # noqa: F811
    """ACLs scoped so that __consumer_offsets is listed but not readable: the sweep asks OffsetFetch,
    and does not try the log again at every sweep."""
    admin = kh.admin(least_clusters.kafka.bootstrap)
    denied = (
        ResourceType.TOPIC, "__consumer_offsets", ResourcePatternType.LITERAL, "User:sd-reader", "*",
        AclOperation.READ, AclPermissionType.DENY,
    )  # fmt: skip
    deny = AclBinding(*denied)
    for future in admin.create_acls([deny]).values():
        future.result(15)
    adapter = KafkaAdapter(adapters.find("least-read", adapters.clusters(fresh=True)))
    try:
        group = f"{filled}-group"
        md = async_to_sync(adapter.metadata)(fresh=True)
        assert "__consumer_offsets" in md.topics
        assert async_to_sync(adapter.committed_for_sweep)([group], md) == {group: {(filled, 0): 1}}
        assert adapter._log_refused_until > time.monotonic() + 60
        assert not adapter.offsets_log.offsets.by_group
    finally:
        adapter.close()
        pattern = AclBindingFilter(*denied)
        for future in admin.delete_acls([pattern]).values():
            future.result(15)
