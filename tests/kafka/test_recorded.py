"""What the embedded broker cannot answer, replayed from recorded Apache Kafka responses.

tansu describes no configs, names no group members and lacks CreatePartitions;
Apache Kafka does all three. The real adapter runs here against an admin client
that hands back those recorded answers, through the same pages and API.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Node, TopicPartition
from confluent_kafka.admin import (
    BrokerMetadata,
    ClusterMetadata,
    ConfigEntry,
    ConfigSource,
    ConsumerGroupDescription,
    ConsumerGroupListing,
    ListConsumerGroupsResult,
    MemberAssignment,
    MemberDescription,
    PartitionMetadata,
    TopicMetadata,
)
from confluent_kafka.admin._listoffsets import ListOffsetsResultInfo

from streams import registry
from streams.clusters import ClusterConfig
from streams.kafka.adapter import GROUP_FETCH_PARALLELISM, KafkaAdapter
from streams.models import AuditEvent

TOPIC, GROUP = "orders", "billing"
HIGH = {0: 120, 1: 80, 2: 50}


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


def refusal(code: int, reason: str) -> KafkaException:
    return KafkaException(KafkaError(code, reason))


class RecordedAdmin:
    """Answers as a three-broker Apache Kafka 3.7 cluster did; records the writes asked of it."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []
        self.group_state = "STABLE"
        self.members = True
        self.create_partitions_error: KafkaException | None = refusal(
            KafkaError.INVALID_PARTITIONS, "Topic currently has 3 partitions, which is higher than the requested 2."
        )
        self.delete_group_error: KafkaException | None = None
        self.alter_error: KafkaError | None = None
        self.offsets_error: KafkaException | None = None
        self.list_offsets_calls = 0
        self.reads: list[str] = []

    def poll(self, timeout: float = -1) -> int:
        return 0  # no client events were recorded

    def list_topics(self, timeout: float = -1) -> ClusterMetadata:
        md = ClusterMetadata()
        md.cluster_id, md.controller_id = "recorded", 1  # type: ignore[assignment]
        for i in (1, 2, 3):
            broker = BrokerMetadata()
            broker.id, broker.host, broker.port = i, f"kafka-{i}", 9092  # type: ignore[assignment]
            md.brokers[i] = broker
        topic = TopicMetadata()
        topic.topic = TOPIC
        for i in HIGH:
            p = PartitionMetadata()
            p.id, p.leader, p.replicas, p.isrs = i, i + 1, [i + 1, (i + 1) % 3 + 1, (i + 2) % 3 + 1], [i + 1]
            topic.partitions[i] = p
        md.topics[TOPIC] = topic
        return md

    def list_offsets(self, specs: dict[TopicPartition, Any], request_timeout: float = -1) -> dict[Any, Future[Any]]:
        self.list_offsets_calls += 1
        if self.offsets_error is not None:
            return {TopicPartition(tp.topic, tp.partition): done(self.offsets_error) for tp in specs}
        out = {}
        for tp, spec in specs.items():
            value = spec._value
            offset = 0 if value == -2 else HIGH[tp.partition] if value == -1 else 10
            out[TopicPartition(tp.topic, tp.partition, value)] = done(ListOffsetsResultInfo(offset, 0, 0))
        return out

    def describe_configs(self, resources: list[Any], request_timeout: float = -1) -> dict[Any, Future[Any]]:
        entries = {
            "cleanup.policy": ConfigEntry("cleanup.policy", "compact", source=ConfigSource.DYNAMIC_TOPIC_CONFIG),
            "retention.ms": ConfigEntry(
                "retention.ms", "604800000", source=ConfigSource.DEFAULT_CONFIG, is_default=True
            ),
            "sasl.jaas.config": ConfigEntry("sasl.jaas.config", "user=admin password=hunter2", is_sensitive=True),
        }
        return {resources[0]: done(entries)}

    def list_consumer_groups(self, request_timeout: float = -1) -> Future[Any]:
        listing = ConsumerGroupListing(GROUP, False, self.group_state)
        return done(ListConsumerGroupsResult(valid=[listing], errors=[]))

    def describe_consumer_groups(self, ids: list[str], request_timeout: float = -1) -> dict[str, Future[Any]]:
        self.reads.append("describe")
        members = []
        if self.members:
            members = [
                MemberDescription(
                    "consumer-1-5b1c", "billing-1", "/10.0.0.7", MemberAssignment([TopicPartition(TOPIC, 0)])
                ),
                MemberDescription(
                    "consumer-2-9f0e",
                    "billing-2",
                    "/10.0.0.8",
                    MemberAssignment([TopicPartition(TOPIC, 1), TopicPartition(TOPIC, 2)]),
                ),
            ]
        desc = ConsumerGroupDescription(GROUP, False, members, "range", self.group_state, Node(2, "kafka-2", 9092))
        return {g: done(desc) for g in ids}

    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float = -1) -> dict[str, Future[Any]]:
        group = requests[0].group_id
        self.reads.append("offsets")
        tps = [TopicPartition(TOPIC, 0, 100), TopicPartition(TOPIC, 1, 80)] if group == GROUP else []
        return {group: done(ConsumerGroupTopicPartitions(group, tps))}

    def alter_consumer_group_offsets(self, requests: list[Any], request_timeout: float = -1) -> dict[str, Future[Any]]:
        request = requests[0]
        self.writes.append(("alter", [(tp.partition, tp.offset) for tp in request.topic_partitions]))
        # Each answered partition carries its own error, as librdkafka reports them.
        answered = [
            SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=tp.offset, error=self.alter_error)
            for tp in request.topic_partitions
        ]
        return {request.group_id: done(ConsumerGroupTopicPartitions(request.group_id, answered))}  # type: ignore[arg-type]

    def delete_consumer_groups(self, ids: list[str], request_timeout: float = -1) -> dict[str, Future[Any]]:
        self.writes.append(("delete_group", ids))
        return {g: done(self.delete_group_error) if self.delete_group_error else done(None) for g in ids}

    def create_partitions(self, new: list[Any], **kwargs: Any) -> dict[str, Future[Any]]:
        self.writes.append(("create_partitions", [(n.topic, n.new_total_count) for n in new]))
        return {
            n.topic: done(self.create_partitions_error) if self.create_partitions_error else done(None) for n in new
        }


@pytest.fixture
def recorded(monkeypatch) -> Iterator[RecordedAdmin]:
    real = registry.adapter_for
    admin = RecordedAdmin()
    adapters: dict[str, KafkaAdapter] = {}

    def adapter_for(config: Any) -> Any:
        if config.kind != "kafka":
            return real(config)
        if config.slug not in adapters:
            adapter = KafkaAdapter(config)
            adapter._admin = admin  # type: ignore[assignment]
            adapters[config.slug] = adapter
        return adapters[config.slug]

    monkeypatch.setattr(registry, "adapter_for", adapter_for)
    yield admin
    for adapter in adapters.values():
        adapter.close()


def test_topic_configs_are_shown_with_sensitive_values_hidden(viewer_client, recorded):
    body = viewer_client.get(f"/api/v1/clusters/kafka/topics/{TOPIC}").json()
    assert body["configs"] == {"cleanup.policy": "compact", "retention.ms": "604800000", "sasl.jaas.config": None}
    assert body["configs_note"] is None
    details = {c["name"]: c for c in body["config_details"]}
    assert details["retention.ms"]["default"] and details["cleanup.policy"]["source"] == "dynamic_topic"
    assert body["replication_factor"] == 3
    p0 = body["partitions"][0]
    assert (p0["leader"], p0["replicas"], p0["isr"], p0["under_replicated"]) == (1, [1, 2, 3], [1], True)
    html = viewer_client.get(f"/clusters/kafka/topics/{TOPIC}").content.decode()
    assert "cleanup.policy" in html and "hunter2" not in html and "under-replicated" in html


def test_topic_detail_lists_the_group_with_its_lag(viewer_client, recorded):
    (group,) = viewer_client.get(f"/api/v1/clusters/kafka/topics/{TOPIC}").json()["groups"]
    assert group == {"group": GROUP, "lag": 20, "lag_unknown": False, "committed": 2, "uncommitted": 1}


def test_group_members_and_their_assignments(viewer_client, recorded):
    body = viewer_client.get(f"/api/v1/clusters/kafka/groups/{GROUP}").json()
    assert body["state"] == "STABLE" and body["members_reported"] and body["members_note"] is None
    assert [m["client_id"] for m in body["members"]] == ["billing-1", "billing-2"]
    assert body["members"][1]["assignment"] == [{"topic": TOPIC, "partition": 1}, {"topic": TOPIC, "partition": 2}]
    rows = {p["partition"]: p for p in body["partitions"]}
    assert (rows[0]["committed"], rows[0]["high"], rows[0]["lag"], rows[0]["member"]) == (100, 120, 20, "billing-1")
    assert (rows[1]["lag"], rows[1]["member"]) == (0, "billing-2")
    # assigned but never committed: shown, marked, not counted
    assert (rows[2]["committed"], rows[2]["lag"], rows[2]["member"]) == (None, None, "billing-2")
    assert body["lag"] == 20 and body["uncommitted"] == 1
    html = viewer_client.get(f"/clusters/kafka/groups/{GROUP}").content.decode()
    assert "billing-2" in html and "orders[2]" in html and "no commit" in html


def test_unknown_lag_is_not_shown_as_no_commit(viewer_client, recorded):
    recorded.offsets_error = refusal(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Not authorized to access topics")
    body = viewer_client.get(f"/api/v1/clusters/kafka/groups/{GROUP}").json()
    # null, as before, and why: the group has commits, their lag could not be computed
    assert body["lag"] is None and body["lag_unknown"] is True and body["uncommitted"] == 1
    assert body["warning"].startswith("Offsets unavailable")
    (item,) = viewer_client.get("/api/v1/clusters/kafka/groups").json()["items"]
    assert item["lag"] is None and item["lag_unknown"] is True
    html = viewer_client.get(f"/clusters/kafka/groups/{GROUP}").content.decode()
    assert "Offsets unavailable" in html and 'title="Offsets unavailable' in html and ">unknown</span>" in html
    listing = viewer_client.get("/clusters/kafka/groups").content.decode()
    assert ">unknown</span>" in listing and "no commit" not in listing


def test_group_list_counts_members(viewer_client, recorded):
    (item,) = viewer_client.get("/api/v1/clusters/kafka/groups").json()["items"]
    assert item["members"] == 2 and item["members_reported"] and item["lag"] == 20


def test_reset_is_refused_while_members_are_assigned(operator_client, recorded):
    preview = operator_client.post(
        f"/api/v1/clusters/kafka/groups/{GROUP}/reset",
        {"topic": TOPIC, "to": "latest", "dry_run": True},
        content_type="application/json",
    )
    assert preview.status_code == 200 and "2 member(s)" in preview.json()["blocked"]
    assert [(p["old"], p["new"]) for p in preview.json()["partitions"]] == [(100, 120), (80, 80), (None, 50)]
    refused = operator_client.post(
        f"/api/v1/clusters/kafka/groups/{GROUP}/reset",
        {"topic": TOPIC, "to": "latest"},
        content_type="application/json",
    )
    assert refused.status_code == 409
    assert recorded.writes == []


def test_reset_of_an_empty_group_commits_the_plan(operator_client, recorded):
    recorded.group_state, recorded.members = "EMPTY", False
    response = operator_client.post(
        f"/api/v1/clusters/kafka/groups/{GROUP}/reset",
        {"topic": TOPIC, "to": "offset", "value": 60},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert recorded.writes == [("alter", [(0, 60), (1, 60), (2, 50)])]
    assert "clamped" in response.json()["partitions"][2]["note"]


def test_group_page_preview_is_planned_from_what_the_page_read(operator_client, recorded):
    recorded.group_state, recorded.members = "EMPTY", False
    page = operator_client.get(f"/clusters/kafka/groups/{GROUP}", {"preview": "1", "topic": TOPIC, "to": "latest"})
    assert page.status_code == 200 and 'id="reset-preview"' in page.content.decode()
    # One fresh read of each, shared by the page and its preview.
    assert sorted(recorded.reads) == ["describe", "offsets"] and recorded.list_offsets_calls == 2


def test_group_ids_with_a_slash(operator_client, recorded, monkeypatch):
    # Apache Kafka allows "/" in a group id (tansu cuts the id at it, so this is replayed).
    # The path is decoded before routing: %2F arrives as "/", so the group routes take a path.
    group = "billing/eu"
    monkeypatch.setitem(globals(), "GROUP", group)
    recorded.group_state, recorded.members = "EMPTY", False
    encoded = quote(group, safe="")
    for path in (encoded, group):
        response = operator_client.get(f"/api/v1/clusters/kafka/groups/{path}")
        assert response.status_code == 200, response.content
        assert response.json()["group"] == group and response.json()["lag"] == 20
    listing = operator_client.get("/clusters/kafka/groups").content.decode()
    assert f'href="/clusters/kafka/groups/{encoded}"' in listing

    page = operator_client.get(f"/clusters/kafka/groups/{encoded}", {"preview": "1", "topic": TOPIC, "to": "latest"})
    html = page.content.decode()
    assert page.status_code == 200 and 'id="reset-preview"' in html
    assert f'action="/clusters/kafka/groups/{encoded}/reset"' in html
    assert f'action="/clusters/kafka/groups/{encoded}/delete"' in html

    dry = operator_client.post(
        f"/api/v1/clusters/kafka/groups/{encoded}/reset",
        {"topic": TOPIC, "to": "earliest", "dry_run": True},
        content_type="application/json",
    )
    assert dry.status_code == 200 and dry.json()["group"] == group and recorded.writes == []
    done = operator_client.post(f"/clusters/kafka/groups/{encoded}/reset", {"topic": TOPIC, "to": "latest"})
    assert done.status_code == 302 and done["Location"] == f"/clusters/kafka/groups/{encoded}"
    assert recorded.writes == [("alter", [(0, 120), (1, 80), (2, 50)])]

    gone = operator_client.post(f"/clusters/kafka/groups/{encoded}/delete", {"confirm": group})
    assert gone.status_code == 302 and gone["Location"] == "/clusters/kafka/groups"
    assert recorded.writes[-1] == ("delete_group", [group])
    deleted = operator_client.delete(f"/api/v1/clusters/kafka/groups/{encoded}")
    assert deleted.status_code == 200 and recorded.writes[-1] == ("delete_group", [group])


def test_a_member_joining_between_check_and_commit_is_409(operator_client, recorded):
    recorded.group_state, recorded.members = "EMPTY", False
    recorded.alter_error = KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "The coordinator is not aware of this member.")
    response = operator_client.post(
        f"/api/v1/clusters/kafka/groups/{GROUP}/reset",
        {"topic": TOPIC, "to": "earliest"},
        content_type="application/json",
    )
    assert response.status_code == 409 and "active members" in response.json()["error"]
    assert AuditEvent.objects.get(action="kafka.group.reset_offsets").result == "error"


def test_delete_of_a_group_kafka_finds_non_empty_is_409(operator_client, recorded):
    recorded.group_state, recorded.members = "EMPTY", False
    recorded.delete_group_error = refusal(KafkaError.NON_EMPTY_GROUP, "The group is not empty.")
    response = operator_client.delete(f"/api/v1/clusters/kafka/groups/{GROUP}")
    assert response.status_code == 409


def test_create_partitions_refusal_is_400_naming_count(operator_client, recorded):
    response = operator_client.post(
        f"/api/v1/clusters/kafka/topics/{TOPIC}/partitions", {"count": 5}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["field"] == "count"
    assert "higher than the requested" in response.json()["error"]
    assert recorded.writes == [("create_partitions", [(TOPIC, 5)])]


def test_create_partitions_success_and_unsupported(operator_client, recorded):
    recorded.create_partitions_error = None
    ok = operator_client.post(
        f"/api/v1/clusters/kafka/topics/{TOPIC}/partitions", {"count": 6}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["partitions"] == 6
    recorded.create_partitions_error = refusal(KafkaError._UNSUPPORTED_FEATURE, "CreatePartitions not supported")
    unsupported = operator_client.post(
        f"/api/v1/clusters/kafka/topics/{TOPIC}/partitions", {"count": 7}, content_type="application/json"
    )
    assert unsupported.status_code == 501 and "not supported by this broker" in unsupported.json()["error"]
    page = operator_client.post(
        f"/clusters/kafka/topics/{TOPIC}/partitions", {"count": "7"}, headers={"Referer": "/back"}, follow=True
    )
    assert b"not supported by this broker" in page.content


class SlowOffsetFetch:
    """OffsetFetch answers that take a moment each, counting how many are in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.asked: list[str] = []

    def poll(self, timeout: float = -1) -> int:
        return 0

    def list_consumer_group_offsets(self, requests: list[Any], request_timeout: float = -1) -> dict[str, Future[Any]]:
        group = requests[0].group_id
        future: Future[Any] = Future()
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.asked.append(group)

        def answer() -> None:
            with self.lock:
                self.in_flight -= 1
            future.set_result(ConsumerGroupTopicPartitions(group, [TopicPartition(TOPIC, 0, 5)]))

        threading.Timer(0.005, answer).start()
        return {group: future}


async def test_group_offsets_go_out_concurrently_but_bounded_and_are_cached():
    admin = SlowOffsetFetch()
    adapter = KafkaAdapter(ClusterConfig(slug="recorded", kind="kafka", name="Recorded", servers=("kafka-1:9092",)))
    adapter._admin = admin  # type: ignore[assignment]
    try:
        groups = [f"group-{i}" for i in range(200)]
        committed = await adapter.committed(groups)
        assert len(committed) == 200 and committed["group-7"] == {(TOPIC, 0): 5}
        assert 1 < admin.peak <= GROUP_FETCH_PARALLELISM
        await adapter.committed(groups)
        assert len(admin.asked) == 200  # the second sweep came from the cache
    finally:
        adapter.close()


async def test_concurrent_identical_sweeps_share_one_load():
    admin = SlowOffsetFetch()
    adapter = KafkaAdapter(ClusterConfig(slug="recorded", kind="kafka", name="Recorded", servers=("kafka-1:9092",)))
    adapter._admin = admin  # type: ignore[assignment]
    try:
        groups = [f"group-{i}" for i in range(50)]
        first, second = await asyncio.gather(adapter.committed(groups), adapter.committed(groups[::-1]))
        assert first == second and len(first) == 50
        assert len(admin.asked) == 50  # the second sweep waited for the first instead of asking again
        await adapter.committed(groups[:1], fresh=True)
        assert len(admin.asked) == 51  # a fresh read never joins
    finally:
        adapter.close()


async def test_concurrent_watermark_and_describe_sweeps_share_one_load():
    admin = RecordedAdmin()
    adapter = KafkaAdapter(ClusterConfig(slug="recorded", kind="kafka", name="Recorded", servers=("kafka-1:9092",)))
    adapter._admin = admin  # type: ignore[assignment]
    try:
        info = (await adapter.metadata()).topics[TOPIC]
        marks = await asyncio.gather(*(adapter.watermarks([info]) for _ in range(3)))
        assert marks[0] == marks[1] == marks[2] and marks[0][(TOPIC, 0)].high == 120
        assert admin.list_offsets_calls == 2  # one sweep: earliest and latest
        described = await asyncio.gather(adapter.describe_groups([GROUP]), adapter.describe_groups([GROUP]))
        assert described[0] == described[1] and described[0][GROUP].members
    finally:
        adapter.close()
