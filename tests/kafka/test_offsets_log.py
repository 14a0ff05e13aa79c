"""Lag sweeps read committed offsets from ``__consumer_offsets``: the records' layout (as Apache
Kafka's coordinator writes them, versions 0 to 4), and on a real broker the same answer as
OffsetFetch, commits and deletions read on from where the last sweep stopped, and a
transaction's offsets only once it commits."""

from __future__ import annotations

import struct
import time

import pytest
from asgiref.sync import async_to_sync
from confluent_kafka import Consumer, Producer, TopicPartition

from streams import adapters
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.offsets_log import CommittedOffsets, commit_key, commit_offset
from tests.kafka import helpers as kh


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def key(group: str, topic: str, partition: int, kind: int = 1) -> bytes:
    return struct.pack(">h", kind) + _string(group) + _string(topic) + struct.pack(">i", partition)


def value(offset: int, version: int = 3) -> bytes:
    head = struct.pack(">hq", version, offset)
    if version == 0:
        return head + _string("meta") + struct.pack(">q", 1_700_000_000_000)
    if version == 1:
        return head + _string("") + struct.pack(">qq", 1_700_000_000_000, -1)
    if version == 3:
        return head + struct.pack(">i", 7) + _string("") + struct.pack(">q", 1_700_000_000_000)
    # Version 4 is flexible: compact strings and a tagged-field section.
    return head + struct.pack(">i", 7) + bytes([1]) + struct.pack(">q", 1_700_000_000_000) + bytes([0])


def test_offset_commit_keys_of_both_record_types_are_read_and_others_skipped():
    assert commit_key(key("orders-app", "orders", 3, kind=0)) == ("orders-app", "orders", 3)
    assert commit_key(key("é/g", "t.1", 0, kind=1)) == ("é/g", "t.1", 0)
    group_metadata = struct.pack(">h", 2) + _string("orders-app")
    assert commit_key(group_metadata) is None
    assert commit_key(struct.pack(">h", 5) + _string("x")) is None  # the newer protocols' records
    assert commit_key(None) is None and commit_key(b"\x00") is None
    assert commit_key(key("g", "t", 0)[:-1]) is None  # truncated
    assert commit_key(key("g", "t", 0) + b"\x00") is None  # longer than its fields say


@pytest.mark.parametrize("version", [0, 1, 3, 4])
def test_every_value_version_starts_with_the_offset(version):
    assert commit_offset(value(4711, version)) == 4711


def test_a_tombstone_or_a_short_value_is_no_offset():
    assert commit_offset(None) is None
    assert commit_offset(b"\x00\x03\x00") is None


def test_commits_replace_and_tombstones_remove():
    offsets = CommittedOffsets()
    offsets.apply(key("a", "t", 0), value(5))
    offsets.apply(key("a", "t", 1), value(6))
    offsets.apply(key("a", "t", 0), value(9))
    offsets.apply(key("b", "t", 0), value(1))
    offsets.apply(struct.pack(">h", 2) + _string("a"), None)  # a group-metadata tombstone is not an offset's
    assert offsets.of(["a", "b", "c"]) == {"a": {("t", 0): 9, ("t", 1): 6}, "b": {("t", 0): 1}, "c": {}}
    offsets.apply(key("a", "t", 0), None)
    offsets.apply(key("b", "t", 0), None)
    assert offsets.of(["a", "b"]) == {"a": {("t", 1): 6}, "b": {}}
    assert offsets.by_group.keys() == {"a"}
    copy = offsets.of(["a"])
    copy["a"][("t", 9)] = 1
    assert offsets.of(["a"]) == {"a": {("t", 1): 6}}


def _adapter() -> KafkaAdapter:
    return adapters.kafka(adapters.get_config("kafka"))


def _sweep_read(adapter: KafkaAdapter, groups: list[str]) -> dict:
    md = async_to_sync(adapter.metadata)(fresh=True)
    return async_to_sync(adapter.committed_for_sweep)(groups, md)


def _log_read(adapter: KafkaAdapter, groups: list[str]) -> dict | None:
    md = async_to_sync(adapter.metadata)(fresh=True)
    return async_to_sync(adapter._committed_from_log)(groups, md)


@pytest.mark.django_db
def test_a_sweep_reads_what_offsetfetch_answers(kafka_bootstrap, kafka_broker, unique):
    topic = kh.create_topic(kafka_bootstrap, unique, partitions=2)
    kh.produce(kafka_bootstrap, topic, ["a", "b", "c"], partition=0)
    kh.produce(kafka_bootstrap, topic, ["d"], partition=1)
    groups = [f"{unique}-{i}" for i in range(3)]
    kh.commit(kafka_bootstrap, groups[0], {(topic, 0): 2, (topic, 1): 1})
    kh.commit(kafka_bootstrap, groups[1], {(topic, 0): 3})
    adapter = _adapter()
    asked = [*groups, f"{unique}-never-committed"]
    expected = {groups[0]: {(topic, 0): 2, (topic, 1): 1}, groups[1]: {(topic, 0): 3}, groups[2]: {}, asked[3]: {}}
    assert async_to_sync(adapter.committed)(asked, fresh=True) == expected
    assert _sweep_read(adapter, asked) == expected
    if kafka_broker == "apache":
        assert _log_read(adapter, asked) == expected  # read from the log, not by OffsetFetch

    kh.commit(kafka_bootstrap, groups[1], {(topic, 0): 1, (topic, 1): 1})
    kh.commit(kafka_bootstrap, groups[2], {(topic, 1): 0})
    expected = {**expected, groups[1]: {(topic, 0): 1, (topic, 1): 1}, groups[2]: {(topic, 1): 0}}
    assert _sweep_read(adapter, asked) == expected


@pytest.fixture
def apache_only(kafka_broker):
    if kafka_broker != "apache":
        pytest.skip("reading __consumer_offsets is asserted on Apache Kafka")


@pytest.mark.django_db
def test_a_deleted_group_leaves_the_log(kafka_bootstrap, apache_only, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    group = f"{unique}-gone"
    kh.commit(kafka_bootstrap, group, {(topic, 0): 0})
    adapter = _adapter()
    assert _log_read(adapter, [group]) == {group: {(topic, 0): 0}}
    admin = kh.admin(kafka_bootstrap)
    admin.delete_consumer_groups([group], request_timeout=15)[group].result(20)
    assert _log_read(adapter, [group]) == {group: {}}


@pytest.mark.django_db
def test_a_transaction_s_offsets_count_once_it_commits(kafka_bootstrap, apache_only, unique):
    """Exactly-once apps commit offsets inside their transactions: an aborted one never counts,
    and a partition whose log ends with a transaction's markers is still read to its end."""
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, ["a", "b", "c", "d"], partition=0)
    group = f"{unique}-eos"
    member = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"{unique}-tx"})
    adapter = _adapter()
    try:
        producer.init_transactions(20)
        for offset, commit in ((2, False), (3, True)):
            producer.begin_transaction()
            producer.send_offsets_to_transaction(
                [TopicPartition(topic, 0, offset)], member.consumer_group_metadata(), 20
            )
            if commit:
                producer.commit_transaction(20)
            else:
                producer.abort_transaction(20)
            if not commit:
                assert _log_read(adapter, [group]) == {group: {}}
        started = time.monotonic()
        assert _log_read(adapter, [group]) == {group: {(topic, 0): 3}}
        # Read to the end, past the commit marker, without waiting out the read's deadline.
        assert time.monotonic() - started < 5
    finally:
        member.close()
