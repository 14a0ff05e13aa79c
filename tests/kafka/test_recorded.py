"""What the embedded broker cannot answer, replayed from recorded Apache Kafka responses.

tansu describes no configs, names no group members and lacks CreatePartitions;
Apache Kafka does all three. The real adapter runs here against an admin client
that hands back those recorded answers, through the same pages and API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import KafkaError

from streams import adapters
from streams.clusters import ClusterConfig
from streams.errors import BrokerUnavailable
from streams.kafka.adapter import GROUP_FETCH_WINDOW, KafkaAdapter
from streams.models import AuditEvent
from tests.kafka import recorded_client
from tests.kafka.recorded_client import GROUP, TOPIC, RecordedAdmin, SlowOffsetFetch, refusal


@pytest.fixture
def recorded(monkeypatch) -> Iterator[RecordedAdmin]:
    real = adapters.adapter_for
    admin = RecordedAdmin()
    built: dict[str, KafkaAdapter] = {}

    def adapter_for(config: Any) -> Any:
        if config.kind != "kafka":
            return real(config)
        if config.slug not in built:
            adapter = KafkaAdapter(config)
            adapter._admin = adapter._offsets = admin  # type: ignore[assignment]
            built[config.slug] = adapter
        return built[config.slug]

    monkeypatch.setattr(adapters, "adapter_for", adapter_for)
    yield admin
    for adapter in built.values():
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
    monkeypatch.setattr(recorded_client, "GROUP", group)  # the group the recorded answers name
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


async def test_group_offsets_go_out_concurrently_but_bounded_and_are_cached():
    admin = SlowOffsetFetch()
    adapter = KafkaAdapter(ClusterConfig(slug="recorded", kind="kafka", name="Recorded", servers=("kafka-1:9092",)))
    adapter._admin = adapter._offsets = admin  # type: ignore[assignment]
    try:
        groups = [f"group-{i}" for i in range(1000)]
        committed = await adapter.committed(groups)
        assert len(committed) == 1000 and committed["group-7"] == {(TOPIC, 0): 5}
        # Handed to the reader in batches, a bounded window of them waiting (the reader bounds the broker's share).
        assert 1 < admin.peak <= GROUP_FETCH_WINDOW
        await adapter.committed(groups)
        assert len(admin.asked) == 1000  # the second sweep came from the cache
    finally:
        adapter.close()


async def test_a_group_whose_answer_timed_out_is_asked_once_more():
    admin = SlowOffsetFetch()
    admin.refusals["group-3"] = [refusal(KafkaError._TIMED_OUT, "Failed while waiting for response from broker")]
    adapter = KafkaAdapter(ClusterConfig(slug="recorded", kind="kafka", name="Recorded", servers=("kafka-1:9092",)))
    adapter._admin = adapter._offsets = admin  # type: ignore[assignment]
    try:
        committed = await adapter.committed([f"group-{i}" for i in range(10)])
        assert committed["group-3"] == {(TOPIC, 0): 5}
        assert admin.asked.count("group-3") == 2 and admin.asked.count("group-4") == 1
    finally:
        adapter.close()


async def test_groups_that_do_not_answer_twice_fail_a_sweep_but_not_a_partial_read():
    admin = SlowOffsetFetch()
    timed_out = refusal(KafkaError._TIMED_OUT, "Failed while waiting for response from broker")
    denied = refusal(KafkaError.GROUP_AUTHORIZATION_FAILED, "Group authorization failed")
    admin.refusals = {"group-1": [timed_out, timed_out], "group-2": [denied]}
    adapter = KafkaAdapter(ClusterConfig(slug="recorded", kind="kafka", name="Recorded", servers=("kafka-1:9092",)))
    adapter._admin = adapter._offsets = admin  # type: ignore[assignment]
    try:
        groups = [f"group-{i}" for i in range(5)]
        found, unanswered = await adapter.committed_some(groups)
        assert sorted(found) == ["group-0", "group-3", "group-4"] and unanswered == ["group-1", "group-2"]
        assert admin.asked.count("group-2") == 1  # a refusal is not asked again
        admin.refusals = {"group-1": [timed_out, timed_out]}
        with pytest.raises(BrokerUnavailable):
            await adapter.committed(["group-1"], fresh=True)
    finally:
        adapter.close()


async def test_concurrent_identical_sweeps_share_one_load():
    admin = SlowOffsetFetch()
    adapter = KafkaAdapter(ClusterConfig(slug="recorded", kind="kafka", name="Recorded", servers=("kafka-1:9092",)))
    adapter._admin = adapter._offsets = admin  # type: ignore[assignment]
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
    adapter._admin = adapter._offsets = admin  # type: ignore[assignment]
    try:
        info = (await adapter.metadata()).topics[TOPIC]
        marks = await asyncio.gather(*(adapter.watermarks([info]) for _ in range(3)))
        assert marks[0] == marks[1] == marks[2] and marks[0][(TOPIC, 0)].high == 120
        assert admin.list_offsets_calls == 2  # one sweep: earliest and latest
        described = await asyncio.gather(adapter.describe_groups([GROUP]), adapter.describe_groups([GROUP]))
        assert described[0] == described[1] and described[0][GROUP].members
    finally:
        adapter.close()
