"""Purging records (DeleteRecords): a whole topic, chosen partitions, before an offset or a time."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer
from django.conf import settings
from django.test import override_settings

from streams.kafka import isolated
from streams.models import AuditEvent
from tests.kafka import helpers as kh


def purge(client, topic, body):
    return client.post(f"/api/v1/clusters/kafka/topics/{topic}/purge", body, content_type="application/json")


def lows(client, topic):
    body = client.get(f"/api/v1/clusters/kafka/topics/{topic}").json()
    return {p["partition"]: (p["low"], p["high"]) for p in body["partitions"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"partitions": [9]}, "partitions"),
        ({"partitions": []}, "partitions"),
        ({"partitions": "0"}, "partitions"),
        ({"partitions": ["x"]}, "partitions"),
        ({"before": {"offset": -1}}, "before"),
        ({"before": {"offset": "x"}}, "before"),
        ({"before": {"time": "yesterday"}}, "before"),
        ({"before": {"seq": 3}}, "before"),
        ({"before": {"offset": 1, "time": "2026-01-01T00:00:00Z"}}, "before"),
        ({"before": 5}, "before"),
    ],
)
def test_bad_requests_are_400_naming_the_field(operator_client, kafka_bootstrap, unique, body, field):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    response = purge(operator_client, unique, body)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def test_unknown_topic_is_404(operator_client, unique):
    assert purge(operator_client, unique, {}).status_code == 404


def test_viewers_may_not_purge(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    assert purge(viewer_client, unique, {}).status_code == 403
    assert AuditEvent.objects.get(action="kafka.topic.purge", target__contains=unique).result == "denied"


def test_purge_by_partition_and_offset_then_everything(operator_client, kafka_bootstrap, kafka_broker, unique):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    kh.produce(kafka_bootstrap, unique, [b"a"] * 6, partition=0)
    kh.produce(kafka_bootstrap, unique, [b"b"] * 4, partition=1)
    started = time.monotonic()
    response = purge(operator_client, unique, {"partitions": [0], "before": {"offset": 3}})
    if kafka_broker == "tansu":  # tansu drops the connection on DeleteRecords: an answer, not a hang
        assert time.monotonic() - started < settings.BROKER_TIMEOUT_SECONDS + 1.5
        assert response.status_code in (501, 503), response.content
        assert "DeleteRecords" in response.json()["error"]
        assert AuditEvent.objects.get(action="kafka.topic.purge", target=unique).result == "error"
        assert operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}").status_code == 200
        return
    if kafka_broker != "apache":
        return
    assert response.status_code == 200, response.content
    assert response.json() == {
        "partitions": [{"partition": 0, "low": 3}],
        "message": f"Purged {unique}: partition 0 now starts at 3",
    }
    assert lows(operator_client, unique) == {0: (3, 6), 1: (0, 4)}
    # An offset past the end purges up to the end rather than failing.
    beyond = purge(operator_client, unique, {"partitions": [1], "before": {"offset": 1000}})
    assert beyond.status_code == 200 and beyond.json()["partitions"] == [{"partition": 1, "low": 4}]
    everything = purge(operator_client, unique, {"partitions": None, "before": None})
    assert everything.json()["partitions"] == [{"partition": 0, "low": 6}, {"partition": 1, "low": 4}]
    assert lows(operator_client, unique) == {0: (6, 6), 1: (4, 4)}
    events = list(AuditEvent.objects.filter(action="kafka.topic.purge", target=unique).order_by("id"))
    assert [e.result for e in events] == ["ok", "ok", "ok"]
    assert events[0].params == {"partitions": [0], "before": {"offset": 3}}
    assert events[2].params == {"partitions": None, "before": None}


def test_purge_before_a_time(operator_client, kafka_bootstrap, kafka_broker, unique):
    if kafka_broker != "apache":
        return
    kh.create_topic(kafka_bootstrap, unique)
    base = int(time.time() * 1000) - 60_000
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 0})
    for i in range(4):
        producer.produce(unique, b"v", partition=0, timestamp=base + i * 10_000)
    assert producer.flush(10) == 0
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((base + 15_000) / 1000)) + f".{(base + 15_000) % 1000:03d}Z"
    response = purge(operator_client, unique, {"before": {"time": moment}})
    assert response.status_code == 200, response.content
    assert response.json()["partitions"] == [{"partition": 0, "low": 2}]
    # A time after every record: the whole partition goes.
    later = purge(operator_client, unique, {"before": {"time": "2999-01-01T00:00:00Z"}})
    assert later.json()["partitions"] == [{"partition": 0, "low": 4}]


def test_page_form_needs_the_typed_name(operator_client, kafka_bootstrap, kafka_broker, unique):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    kh.produce(kafka_bootstrap, unique, [b"a"] * 3, partition=1)
    page = operator_client.get(f"/clusters/kafka/topics/{unique}").content.decode()
    assert f'action="/clusters/kafka/topics/{unique}/purge" data-confirm-text="{unique}"' in page
    url = f"/clusters/kafka/topics/{unique}/purge"
    refused = operator_client.post(
        url, {"partitions": "1", "before": "everything", "confirm": "no"}, headers={"Referer": "/back"}
    )
    assert refused.status_code == 302 and refused["Location"] == "/back"
    done = operator_client.post(
        url, {"partitions": "1", "before": "offset", "before_value": "2", "confirm": unique}, follow=True
    )
    html = done.content.decode()
    if kafka_broker == "tansu":
        assert "DeleteRecords" in html
        return
    if kafka_broker != "apache":
        return
    assert f"Purged {unique}: partition 1 now starts at 2" in html
    assert lows(operator_client, unique)[1] == (2, 3)


def test_writes_to_a_down_broker_are_503_and_audited(operator_client, dead_port, unique):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=1):
        started = time.monotonic()
        purged = purge(operator_client, unique, {})
        configs = operator_client.patch(
            f"/api/v1/clusters/kafka/topics/{unique}/configs?dry_run=true",
            {"set": {"retention.ms": "1"}},
            content_type="application/json",
        )
        elapsed = time.monotonic() - started
    assert purged.status_code == 503 and configs.status_code == 503 and elapsed < 16
    results = {e.action: e.result for e in AuditEvent.objects.filter(target=unique)}
    assert results == {"kafka.topic.purge": "error", "kafka.topic.alter_configs": "error"}


def test_the_child_process_that_sends_delete_records_reports_its_own_failure():
    # A setting librdkafka refuses makes the child end with a traceback: a ChildFailed, not a hang.
    with pytest.raises(isolated.ChildFailed, match="exit status 1"):
        isolated.delete_records({"bootstrap.servers": "127.0.0.1:1", "socket.timeout.ms": "soon"}, [("t", 0, 1)], 1)


def test_the_child_process_answers_a_broker_that_is_down_per_partition(dead_port):
    started = time.monotonic()
    lows, failures = isolated.delete_records({"bootstrap.servers": f"127.0.0.1:{dead_port}"}, [("t", 0, 1)], 1)
    assert lows == {} and list(failures) == [0]
    assert time.monotonic() - started < 11
