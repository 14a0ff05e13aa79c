"""The pure parts of Kafka inspection: names, lag, reset plans, browser ranges, conversions."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, Node, TopicPartition
from confluent_kafka.admin import (
    BrokerMetadata,
    ClusterMetadata,
    ConfigEntry,
    ConfigSource,
    ConsumerGroupDescription,
    MemberAssignment,
    MemberDescription,
    PartitionMetadata,
    TopicMetadata,
)

from streams.errors import BrokerUnavailable, Conflict, InvalidInput, NotFound, NotSupported
from streams.kafka.browse import SCAN_BUDGET, matches, read_ranges
from streams.kafka.client import translate, translate_write
from streams.kafka.convert import configs_from, group_from_description, metadata_from
from streams.kafka.lag import committed_rows, group_lag, partition_lag, sort_by_lag
from streams.kafka.names import collides, parse_configs, topic_name_problem, validate_topic_name
from streams.kafka.offsets import plan_reset
from streams.kafka.types import GroupDescription, MemberInfo, Watermark

# -- topic names -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "orders.v1", "with_under-score", "X" * 249, "..."])
def test_valid_topic_names(name):
    assert topic_name_problem(name) is None
    assert validate_topic_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "X" * 250, "spaces here", "slash/topic", "ümlaut", "a:b", "<b>"])
def test_invalid_topic_names_name_the_field(name):
    with pytest.raises(InvalidInput) as info:
        validate_topic_name(name)
    assert info.value.field == "name"


def test_non_string_topic_name_is_invalid():
    with pytest.raises(InvalidInput):
        validate_topic_name(42, field="topic")


def test_dot_and_underscore_collide():
    assert collides("orders.v1", "orders_v1")
    assert not collides("orders.v1", "orders.v1")
    assert not collides("orders", "orders2")


def test_configs_from_form_lines_and_json():
    assert parse_configs("retention.ms=1000\n# comment\n\ncleanup.policy = compact") == {
        "retention.ms": "1000",
        "cleanup.policy": "compact",
    }
    assert parse_configs({"retention.ms": 1000}) == {"retention.ms": "1000"}
    assert parse_configs(None) == {}
    for bad in ("no-equals-sign", {"Bad Name": "x"}, {"retention.ms": ["x"]}, ["x"], {"retention.ms": True}):
        with pytest.raises(InvalidInput) as info:
            parse_configs(bad)
        assert info.value.field == "configs"


# -- lag ---------------------------------------------------------------------------------


def test_partition_lag_is_never_negative_and_none_without_commit():
    assert partition_lag(3, 10) == 7
    assert partition_lag(12, 10) == 0
    assert partition_lag(None, 10) is None
    assert partition_lag(-1001, 10) is None
    assert partition_lag(5, None) is None


def test_group_lag_marks_partitions_without_commit():
    marks = {("t", 0): Watermark(0, 10), ("t", 1): Watermark(2, 5), ("t", 2): Watermark(0, 0)}
    lag = group_lag("g", {("t", 0): 4}, marks, {"t": [0, 1, 2]})
    rows = {p.partition: p for p in lag.partitions}
    assert rows[0].committed == 4 and rows[0].lag == 6
    assert rows[1].committed is None and rows[1].lag is None and not rows[1].has_commit
    assert lag.total == 6 and lag.uncommitted == 2 and lag.topics == ["t"]


def test_group_lag_keeps_commits_of_a_deleted_topic_with_unknown_high():
    lag = group_lag("g", {("gone", 0): 7}, {}, {})
    (row,) = lag.partitions
    assert row.committed == 7 and row.high is None and row.lag is None
    assert lag.total is None


def test_group_lag_includes_assigned_partitions_and_members():
    marks = {("t", 0): Watermark(0, 3), ("u", 0): Watermark(0, 9)}
    lag = group_lag("g", {("t", 0): 3}, marks, {"t": [0], "u": [0]}, assigned={("u", 0): "client-1"})
    rows = {(p.topic, p.partition): p for p in lag.partitions}
    assert rows[("u", 0)].member == "client-1" and rows[("u", 0)].committed is None
    assert lag.total == 0 and lag.topics == ["t", "u"]


@pytest.mark.parametrize(
    "committed",
    [
        {},
        {("t", 0): 4},
        {("t", 1): -1, ("t", 0): 2},
        {("gone", 0): 7, ("u", 0): 0, ("t", 2): 9},
        {("t", 0): -1},
    ],
)
def test_a_sweep_s_rows_are_the_partitions_group_lag_lists(committed):
    marks = {("t", 0): Watermark(0, 10), ("t", 1): Watermark(0, 3), ("u", 0): Watermark(2, 2)}
    layout = {"t": [0, 1, 2], "u": [0]}
    lag = group_lag("g", committed, marks, layout)
    expected = [(p.topic, p.partition, p.committed, p.high) for p in lag.partitions]
    assert committed_rows(committed, marks, layout) == expected


def test_sort_by_lag_largest_first_then_name_and_uncommitted_last():
    marks = {("t", 0): Watermark(0, 10)}
    lags = [
        group_lag("b", {("t", 0): 5}, marks, {"t": [0]}),
        group_lag("a", {("t", 0): 5}, marks, {"t": [0]}),
        group_lag("c", {("t", 0): 1}, marks, {"t": [0]}),
        group_lag("d", {}, marks, {"t": [0]}),
    ]
    assert [g.group for g in sort_by_lag(lags)] == ["c", "a", "b", "d"]


def test_committed_partitions_without_a_high_watermark_have_unknown_lag_not_no_commit():
    # The watermarks could not be read: every committed partition's lag is unknown.
    lag = group_lag("g", {("t", 0): 4, ("t", 1): 2}, {}, {"t": [0, 1, 2]})
    assert lag.total is None and lag.lag_unknown == 2 and lag.uncommitted == 1
    partial = group_lag("g", {("t", 0): 4, ("t", 1): 2}, {("t", 0): Watermark(0, 10)}, {"t": [0, 1]})
    assert partial.total == 6 and partial.lag_unknown == 1
    never = group_lag("g", {}, {}, {"t": [0]}, assigned={("t", 0): "client-1"})
    assert never.total is None and never.lag_unknown == 0 and never.uncommitted == 1


def test_sort_by_lag_puts_unknown_lag_before_groups_without_commits():
    marks = {("t", 0): Watermark(0, 10)}
    lags = [
        group_lag("a-none", {}, marks, {"t": [0]}, assigned={("t", 0): "c"}),
        group_lag("b-unknown", {("gone", 0): 3}, marks, {"t": [0]}),
        group_lag("c-known", {("t", 0): 9}, marks, {"t": [0]}),
    ]
    assert [g.group for g in sort_by_lag(lags)] == ["c-known", "b-unknown", "a-none"]


# -- reset plans -------------------------------------------------------------------------

MARKS = {0: Watermark(2, 10), 1: Watermark(0, 4)}


def test_plan_earliest_and_latest_show_old_to_new():
    plan = plan_reset([0, 1], {0: 7}, MARKS, "earliest")
    assert [(s.partition, s.old, s.new) for s in plan] == [(0, 7, 2), (1, None, 0)]
    plan = plan_reset([1, 0], {0: 7, 1: 4}, MARKS, "latest")
    assert [(s.partition, s.old, s.new, s.changes) for s in plan] == [(0, 7, 10, True), (1, 4, 4, False)]


def test_plan_specific_offset_is_clamped_into_the_partition():
    plan = plan_reset([0, 1], {}, MARKS, "offset", 6)
    assert [(s.new, bool(s.note)) for s in plan] == [(6, False), (4, True)]
    plan = plan_reset([0], {}, MARKS, "offset", 0)
    assert plan[0].new == 2 and "clamped" in plan[0].note


def test_plan_timestamp_without_a_later_record_goes_to_the_end():
    plan = plan_reset([0, 1], {}, MARKS, "timestamp", by_time={0: 5, 1: None})
    assert [(s.new, bool(s.note)) for s in plan] == [(5, False), (4, True)]


@pytest.mark.parametrize(("to", "value", "field"), [("sideways", None, "to"), ("offset", None, "value")])
def test_plan_refuses_bad_targets(to, value, field):
    with pytest.raises(InvalidInput) as info:
        plan_reset([0], {}, MARKS, to, value)
    assert info.value.field == field


# -- message browser ranges --------------------------------------------------------------


def test_ranges_from_end_read_the_newest_share_of_each_partition():
    ranges = read_ranges("end", [0, 1], {0: Watermark(0, 100), 1: Watermark(95, 98)}, 10)
    assert [(r.partition, r.start, r.end, r.keep) for r in ranges] == [(0, 95, 100, 5), (1, 95, 98, 5)]


def test_ranges_from_beginning_offset_and_time():
    marks = {0: Watermark(10, 100)}
    assert [(r.start, r.end) for r in read_ranges("beginning", [0], marks, 5)] == [(10, 15)]
    assert [(r.start, r.end) for r in read_ranges("offset", [0], marks, 5, offset=50)] == [(50, 55)]
    assert [(r.start, r.end) for r in read_ranges("offset", [0], marks, 5, offset=3)] == [(10, 15)]
    assert read_ranges("offset", [0], marks, 5, offset=500) == []
    assert [(r.start, r.end) for r in read_ranges("timestamp", [0], marks, 5, by_time={0: 40})] == [(40, 45)]
    assert read_ranges("timestamp", [0], marks, 5, by_time={0: None}) == []


def test_ranges_with_a_filter_scan_a_bounded_budget():
    (r,) = read_ranges("beginning", [0], {0: Watermark(0, 10**9)}, 5, filtered=True)
    assert r.end - r.start == SCAN_BUDGET and r.keep == 5
    ranges = read_ranges("end", [0, 1], {0: Watermark(0, 10**9), 1: Watermark(0, 10**9)}, 5, filtered=True)
    assert sum(r.end - r.start for r in ranges) == SCAN_BUDGET


def test_empty_partitions_are_not_read():
    assert read_ranges("end", [0], {0: Watermark(7, 7)}, 10) == []
    assert read_ranges("end", [], {}, 10) == []


def test_filter_matches_key_or_value_bytes():
    assert matches(b"order-1", b"{}", b"order")
    assert matches(None, b"\x00needle\xff", b"needle")
    assert not matches(b"k", b"v", b"zzz")
    assert matches(b"k", b"v", None)


# -- recorded broker answers -------------------------------------------------------------


def _metadata() -> ClusterMetadata:
    md = ClusterMetadata()
    md.cluster_id, md.controller_id = "abc", 1  # type: ignore[assignment]
    broker = BrokerMetadata()
    broker.id, broker.host, broker.port = 1, "kafka-1", 9092  # type: ignore[assignment]
    md.brokers = {1: broker}
    for name, parts in (("orders", 2), ("__consumer_offsets", 1)):
        topic = TopicMetadata()
        topic.topic = name
        for i in range(parts):
            p = PartitionMetadata()
            p.id, p.leader, p.replicas, p.isrs = i, 1, [1, 2, 3], [1, 2] if i else [1, 2, 3]
            topic.partitions[i] = p
        md.topics[name] = topic
    return md


def test_metadata_conversion_flags_internal_topics_and_replication():
    md = metadata_from(_metadata())
    assert md.sorted_names == ["__consumer_offsets", "orders"]
    orders = md.topics["orders"]
    assert orders.replication_factor == 3 and orders.partition_ids == [0, 1] and not orders.internal
    assert orders.partitions[1].isr == (1, 2)
    assert md.topics["__consumer_offsets"].internal
    assert md.brokers == {1: "kafka-1:9092"} and md.controller == 1


def test_configs_conversion_hides_sensitive_values():
    entries = {
        "retention.ms": ConfigEntry("retention.ms", "1000", source=ConfigSource.DYNAMIC_TOPIC_CONFIG),
        "cleanup.policy": ConfigEntry("cleanup.policy", "delete", source=ConfigSource.DEFAULT_CONFIG, is_default=True),
        "sasl.jaas.config": ConfigEntry("sasl.jaas.config", "secret!", is_sensitive=True, is_read_only=True),
    }
    items = {c.name: c for c in configs_from(entries)}
    assert items["retention.ms"].value == "1000" and items["retention.ms"].source == "dynamic_topic"
    assert items["cleanup.policy"].default and items["cleanup.policy"].source == "default"
    assert items["sasl.jaas.config"].value is None and items["sasl.jaas.config"].sensitive
    assert configs_from({}) == ()


def _description(state: str, members: int) -> ConsumerGroupDescription:
    member_list = [
        MemberDescription(
            f"member-{i}",
            f"client-{i}",
            f"/10.0.0.{i}",
            MemberAssignment([TopicPartition("orders", i), TopicPartition("audit", 0)] if i == 0 else []),
        )
        for i in range(members)
    ]
    return ConsumerGroupDescription("g", False, member_list, "range", state, Node(1, "kafka-1", 9092))


def test_group_description_with_members_and_assignments():
    desc = group_from_description(_description("STABLE", 2))
    assert desc.state == "STABLE" and desc.active and desc.members_reported
    assert desc.members[0].assignment == (("audit", 0), ("orders", 0))
    assert desc.assigned_to()[("orders", 0)].client_id == "client-0"
    assert desc.coordinator == 1 and desc.assignor == "range"


def test_active_group_without_members_is_reported_as_unknown_membership():
    desc = group_from_description(_description("STABLE", 0))
    assert desc.active and not desc.members_reported
    empty = group_from_description(_description("EMPTY", 0))
    assert not empty.active and empty.members_reported


def test_group_with_members_is_active_whatever_the_state_says():
    desc = GroupDescription("g", "UNKNOWN", (MemberInfo("m", "c", "h", None),))
    assert desc.active


def _kafka_exc(code: int, reason: str = "recorded") -> KafkaException:
    return KafkaException(KafkaError(code, reason))


@pytest.mark.parametrize(
    ("code", "kind", "field"),
    [
        (KafkaError.INVALID_PARTITIONS, InvalidInput, "count"),
        (KafkaError.INVALID_REPLICATION_FACTOR, InvalidInput, "replication_factor"),
        (KafkaError.TOPIC_ALREADY_EXISTS, Conflict, "name"),
        (KafkaError.NON_EMPTY_GROUP, Conflict, None),
        (KafkaError.REBALANCE_IN_PROGRESS, Conflict, None),
        (KafkaError._UNSUPPORTED_FEATURE, NotSupported, None),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, NotFound, None),
        (KafkaError.GROUP_ID_NOT_FOUND, NotFound, None),
        (KafkaError._TRANSPORT, BrokerUnavailable, None),
    ],
)
def test_write_refusals_map_to_statuses_naming_the_field(code, kind, field):
    error = translate_write(_kafka_exc(code), "do it", {"partitions": "count"})
    assert isinstance(error, kind)
    assert getattr(error, "field", None) == field


def test_timeouts_are_unavailable_not_errors():
    assert isinstance(translate(TimeoutError(), "metadata"), BrokerUnavailable)


def test_gather_keeps_answers_when_one_partition_never_answers():
    import time
    from concurrent.futures import Future

    from streams.kafka.client import gather_futures

    answered: Future[int] = Future()
    answered.set_result(7)
    silent: Future[int] = Future()  # e.g. a partition of a topic deleted a moment ago
    results, failures = gather_futures({"a": answered, "b": silent}, time.monotonic() + 0.05)
    assert results == {"a": 7}
    assert isinstance(failures["b"], TimeoutError)


def test_client_config_is_one_librdkafka_takes_even_with_a_short_broker_timeout(settings):
    from confluent_kafka.admin import AdminClient

    from streams.clusters import ClusterConfig
    from streams.kafka.client import client_config

    settings.BROKER_TIMEOUT_SECONDS = 0.5
    conf = client_config(ClusterConfig(slug="k", kind="kafka", name="k", servers=("127.0.0.1:1",)))
    assert conf["socket.timeout.ms"] == 500 and conf["socket.connection.setup.timeout.ms"] == 1000
    AdminClient(conf)  # raised "outside allowed range" before
