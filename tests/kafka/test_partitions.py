"""Adding partitions (CreatePartitions) on a real broker, and what it does to keyed records."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.models import AuditEvent
from tests.kafka import helpers as kh
from tests.polling import wait_until

KEYS = [f"customer-{i}" for i in range(20)]


def partitions_by_key(bootstrap: str, topic: str, partitions: int) -> dict[str, set[int]]:
    """Where each key's records are, read back from every partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        seen: dict[str, set[int]] = {}
        got = 0
        for _ in range(100):
            for msg in consumer.consume(100, timeout=0.5):
                partition = msg.partition()
                if msg.error() is None and partition is not None:
                    seen.setdefault((msg.key() or b"").decode(), set()).add(partition)
                    got += 1
            if got >= 2 * len(KEYS):
                break
        return seen
    finally:
        consumer.close()


def send_keyed(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "topic.metadata.refresh.interval.ms": 500})
    for key in KEYS:
        producer.produce(topic, b"v", key=key)
    assert producer.flush(10) == 0


def test_the_page_warns_what_adding_partitions_does_to_keyed_data(operator_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    html = operator_client.get(f"/clusters/kafka/topics/{unique}").content.decode()
    assert 'data-warning="keyed-data"' in html and "different partition" in html


def test_growing_a_topic_moves_where_keys_land(operator_client, kafka_bootstrap, kafka_broker, unique):
    if kafka_broker != "apache":  # tansu lacks CreatePartitions (test_topics checks its 501)
        return
    kh.create_topic(kafka_bootstrap, unique)
    send_keyed(kafka_bootstrap, unique)
    grown = operator_client.post(f"/clusters/kafka/topics/{unique}/partitions", {"count": "4"}, follow=True)
    assert grown.status_code == 200 and f"Topic {unique} now has 4 partitions." in grown.content.decode()
    # The adapter dropped its cached metadata: the page shows the new partitions at once.
    detail = operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}").json()
    assert [p["partition"] for p in detail["partitions"]] == [0, 1, 2, 3]
    event = AuditEvent.objects.get(action="kafka.topic.add_partitions", target=unique)
    assert event.result == "ok" and event.params == {"count": 4}
    wait_until(
        lambda: len(kh.admin(kafka_bootstrap).list_topics(unique, timeout=5).topics[unique].partitions) == 4,
        message="four partitions",
    )
    send_keyed(kafka_bootstrap, unique)
    seen = partitions_by_key(kafka_bootstrap, unique, 4)
    assert set(seen) == set(KEYS)
    # Before: every key in partition 0; after: many keys' new records elsewhere, so a key spans two.
    assert all(0 in parts for parts in seen.values())
    assert sum(1 for parts in seen.values() if len(parts) == 2) >= 5


def test_the_new_total_must_grow(operator_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    for count in (2, 1):
        response = operator_client.post(
            f"/api/v1/clusters/kafka/topics/{unique}/partitions", {"count": count}, content_type="application/json"
        )
        assert response.status_code == 400 and response.json()["field"] == "count"
        assert "more than the current 2" in response.json()["error"]
    missing = operator_client.post(
        f"/api/v1/clusters/kafka/topics/{unique}/partitions", {}, content_type="application/json"
    )
    assert missing.status_code == 400 and missing.json()["field"] == "count"
