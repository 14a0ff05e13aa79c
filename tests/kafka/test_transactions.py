"""Transactions and compaction on the real broker: offsets that hold no record are browsed across.

A commit or abort marker takes an offset and is never a message; read_committed
also skips aborted records; compaction leaves holes. "The last N" and "N from an
offset" still answer N records where they exist, and end without stalling.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from tests.kafka import helpers as kh
from tests.polling import wait_until

COMMITTED = ["c0", "c1", "c2", "d0", "d1"]
EVERY_RECORD = ["c0", "c1", "c2", "a0", "a1", "d0", "d1"]


@pytest.fixture
def apache_only(kafka_broker):
    if kafka_broker != "apache":
        pytest.skip("transactions and compaction are asserted on Apache Kafka")


@pytest.fixture
def transactional(kafka_bootstrap, apache_only, unique) -> str:
    """c0-c2 committed (marker at 3), a0-a1 aborted (4-5, marker at 6), d0-d1 committed (7-8, marker at 9)."""
    topic = kh.create_topic(kafka_bootstrap, f"{unique}.tx")
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"{unique}-tx", "linger.ms": 5})
    producer.init_transactions(20)
    for prefix, count, commit in (("c", 3, True), ("a", 2, False), ("d", 2, True)):
        producer.begin_transaction()
        for i in range(count):
            producer.produce(topic, value=f"{prefix}{i}".encode(), partition=0)
        # Flushed before an abort too, so the aborted records are in the log (not purged unsent).
        assert producer.flush(10) == 0
        if commit:
            producer.commit_transaction(20)
        else:
            producer.abort_transaction(20)
    return topic


def _browse(client, topic, **params):
    started = time.monotonic()
    response = client.get(f"/api/v1/clusters/kafka/topics/{topic}/messages", params)
    return response, time.monotonic() - started


def _values(body) -> list[str]:
    return [m["value"]["text"] for m in body["messages"]]


def test_the_log_holds_markers_and_aborted_records(viewer_client, transactional):
    body = viewer_client.get(f"/api/v1/clusters/kafka/topics/{transactional}/messages", {"from": "beginning"}).json()
    assert body["watermarks"] == [{"partition": 0, "low": 0, "high": 10}]
    assert body["isolation"] == "read_committed"
    assert [(m["offset"], m["value"]["text"]) for m in body["messages"]] == [
        (0, "c0"),
        (1, "c1"),
        (2, "c2"),
        (7, "d0"),
        (8, "d1"),
    ]
    assert body["complete"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"from": "end", "limit": 5}, COMMITTED),
        ({"from": "end", "limit": 3}, ["c2", "d0", "d1"]),
        ({"from": "end", "limit": 5, "isolation": "read_uncommitted"}, EVERY_RECORD[-5:]),
        ({"from": "offset", "offset": 2, "limit": 3}, ["c2", "d0", "d1"]),
        ({"from": "offset", "offset": 3, "limit": 2}, ["d0", "d1"]),
        ({"from": "offset", "offset": 2, "limit": 3, "isolation": "read_uncommitted"}, ["c2", "a0", "a1"]),
        ({"from": "beginning", "limit": 50}, COMMITTED),
        ({"from": "beginning", "limit": 50, "isolation": "read_uncommitted"}, EVERY_RECORD),
        ({"from": "offset", "offset": 9, "limit": 5}, []),
        ({"from": "end", "limit": 500}, COMMITTED),
    ],
)
def test_reads_across_markers_answer_their_records_and_end(viewer_client, transactional, params, expected):
    response, took = _browse(viewer_client, transactional, **params)
    assert response.status_code == 200
    body = response.json()
    assert _values(body) == expected and body["complete"]
    assert took < 5, f"the read took {took:.1f} s"


def test_a_marker_or_an_aborted_offset_is_no_message(viewer_client, transactional):
    marker, _ = _browse(viewer_client, transactional, partition=0, offset=3, full=1)
    assert marker.status_code == 404
    aborted, _ = _browse(viewer_client, transactional, partition=0, offset=4, full=1)
    assert aborted.status_code == 404
    seen, _ = _browse(viewer_client, transactional, partition=0, offset=4, full=1, isolation="read_uncommitted")
    assert seen.status_code == 200 and _values(seen.json()) == ["a0"]


def test_the_page_offers_the_isolation_choice(viewer_client, transactional):
    page = viewer_client.get(f"/clusters/kafka/topics/{transactional}/messages", {"isolation": "read_uncommitted"})
    html = page.content.decode()
    assert page.status_code == 200 and 'name="isolation"' in html
    assert '<option value="read_uncommitted" selected>' in html and "a1" in html


def test_bad_isolation_is_400(viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, f"{unique}.t")
    response, _ = _browse(viewer_client, topic, isolation="dirty")
    assert response.status_code == 400 and response.json()["field"] == "isolation"


def _consume_all(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    last = None

    def at_end() -> bool:
        nonlocal last
        msg = consumer.poll(0.2)
        if msg is None:
            return False
        if msg.error():
            return True
        last = msg
        return False

    # The consumer's poll is the pause between reads.
    wait_until(at_end, timeout=15, interval=0, message=f"the end of {topic}")
    assert last is not None and last.value() == b"d1"
    return consumer


def test_a_group_that_read_everything_has_no_lag_whichever_way_it_committed(
    viewer_client, kafka_bootstrap, transactional, unique
):
    # By the message: the offset after the last record (9), before the commit marker at 9.
    by_message = f"{unique}-by-message"
    consumer = _consume_all(kafka_bootstrap, by_message, transactional)
    consumer.commit(offsets=[TopicPartition(transactional, 0, 9)], asynchronous=False)
    consumer.close()
    # By position: librdkafka's position has moved past the marker (10 = the high watermark).
    by_position = f"{unique}-by-position"
    consumer = _consume_all(kafka_bootstrap, by_position, transactional)
    consumer.commit(asynchronous=False)
    consumer.close()
    for group, committed, markers in ((by_message, 9, 1), (by_position, 10, 0)):
        body = viewer_client.get(f"/api/v1/clusters/kafka/groups/{group}").json()
        (row,) = body["partitions"]
        assert (row["committed"], row["high"], row["lag"], row["markers"]) == (committed, 10, 0, markers), group
        assert body["lag"] == 0
        page = viewer_client.get(f"/clusters/kafka/groups/{group}").content.decode()
        if markers:
            assert "transaction marker" in page


def test_a_group_behind_a_transaction_counts_its_records_not_its_offsets(
    viewer_client, kafka_bootstrap, transactional, unique
):
    group = f"{unique}-behind"
    kh.commit(kafka_bootstrap, group, {(transactional, 0): 3})
    (row,) = viewer_client.get(f"/api/v1/clusters/kafka/groups/{group}").json()["partitions"]
    # 3..9: the marker at 3, two aborted records, their marker, d0, d1, the last marker.
    assert (row["committed"], row["lag"], row["markers"]) == (3, 2, 5)


def test_a_compacted_topic_browses_across_its_gaps(viewer_client, kafka_bootstrap, apache_only, unique):
    topic = f"{unique}.compacted"
    configs = {
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.001",
        "delete.retention.ms": "100",
        "min.compaction.lag.ms": "0",
    }
    client = kh.admin(kafka_bootstrap)
    client.create_topics([NewTopic(topic, 1, 1, config=configs)])[topic].result(10)
    wait_until(lambda: topic in client.list_topics(timeout=5).topics, message=f"topic {topic}")
    for round_ in range(6):
        for k in range(5):
            kh.produce(kafka_bootstrap, topic, [f"k{k}-r{round_}"], partition=0, key=f"k{k}")
        time.sleep(0.2)
    time.sleep(1)

    def browsed(**params: Any) -> tuple[list[tuple[int, str]], dict[str, Any], float]:
        response, took = _browse(viewer_client, topic, **params)
        body = response.json()
        return [(m["offset"], m["value"]["text"]) for m in body["messages"]], body, took

    def views() -> tuple[list[tuple[int, str]], ...]:
        # Whatever offsets exist are browsed; the cleaner may run between two reads, so all of
        # them are read again until they agree.
        present = _every_record(kafka_bootstrap, topic)
        return present, browsed(**{"from": "end", "limit": 7})[0], browsed(**{"from": "beginning", "limit": 7})[0]

    present, *_ = wait_until(
        views,
        until=lambda v: v[1] == v[0][-7:] and v[2] == v[0][:7],
        timeout=30,
        message="browsing the compacted topic",
    )
    assert present and present[-1][1] == "k4-r5"
    _, body, took = wait_until(
        lambda: (*browsed(**{"from": "beginning", "limit": 500}), _every_record(kafka_bootstrap, topic)),
        until=lambda v: v[0] == v[3],
        timeout=30,
        message="browsing the whole compacted topic",
    )[:3]
    assert body["complete"] and took < 5


def _every_record(bootstrap: str, topic: str) -> list[tuple[int, str]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "x", "enable.partition.eof": True, "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    found: list[tuple[int, str]] = []

    def at_end() -> bool:
        msg = consumer.poll(0.2)
        if msg is None:
            return False
        if msg.error():
            return True
        found.append((msg.offset() or 0, (msg.value() or b"").decode()))
        return False

    try:
        # The consumer's poll is the pause between reads.
        wait_until(at_end, timeout=10, interval=0, message=f"the end of {topic}")
    finally:
        consumer.close()
    return found


def test_a_short_window_grows_twice_as_wide_up_to_its_bound():
    from streams.kafka.browse import grown
    from streams.kafka.types import ReadRange

    back = ReadRange(0, 95, 100, keep=5, floor=90)
    assert grown(back, 2, newest=True) == ReadRange(0, 90, 95, keep=3, floor=90)
    assert grown(ReadRange(0, 90, 95, keep=3, floor=90), 0, newest=True) is None
    forward = ReadRange(0, 10, 15, keep=5, ceiling=40)
    assert grown(forward, 1, newest=False) == ReadRange(0, 15, 25, keep=4, ceiling=40)
    assert grown(forward, 5, newest=False) is None
    # A filtered read has no bounds: its scan budget is its limit.
    assert grown(ReadRange(0, 10, 15, keep=5), 0, newest=False) is None
