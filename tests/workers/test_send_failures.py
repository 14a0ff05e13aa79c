"""Sends that fail, through real runconsumers processes: a header name NATS refuses is made valid,
a message that can never be sent is retried and dead-lettered (once, no duplicates of its
neighbours), a dead letter that cannot be sent either stops the consumer on it, and sends that
keep failing show the consumer failing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from streams.models import Cluster
from tests.kafka import helpers as kh
from tests.polling import wait_until
from tests.publish.helpers import Collector, read_topic_to_end
from tests.workers.test_kafka import define, done, get

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("workers"),
    pytest.mark.usefixtures("notify"),
]

# Over the Kafka producer's 1,000,000-byte limit, under NATS's 1 MiB max_payload.
TOO_LARGE_FOR_KAFKA = b"x" * 1_020_000


def test_kafka_header_names_nats_refuses_are_percent_encoded_and_nothing_is_sent_twice(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, nats_urls: Any, unique: str
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    kh.produce(kafka_bootstrap, source, ["m0", "m1"])
    kh.produce(kafka_bootstrap, source, ["m2"], headers=[("bad name", b"1"), ("ünï:x", b"2"), ("ok%", b"3")])
    kh.produce(kafka_bootstrap, source, ["m3", "m4"])
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="forward", config={"cluster": "nats", "subject": f"bridged.{unique}"})  # fmt: skip
    with Collector(nats_urls[0], f"bridged.{unique}") as bridged:
        runconsumers()
        wait_until(
            lambda: done(kh.committed(kafka_bootstrap, f"{unique}-g", source, [0])) == 5,
            message="committed",
            timeout=30,
        )
        got = bridged.everything_before_now(timeout=20)
    assert [m.data for m in got] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    headers = got[2].headers or {}
    assert headers["bad%20name"] == "1" and headers["%C3%BCn%C3%AF%3Ax"] == "2" and headers["ok%25"] == "3"
    # The state comes with the next heartbeat, which may follow the work it describes.
    worker = wait_until(lambda: get(operator_client, unique), until=lambda w: w["state"] != "starting")
    assert worker["state"] == "running" and worker["failed"] == 0


def test_a_message_too_large_to_forward_is_retried_then_dead_lettered_alone(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, nats_urls: Any, unique: str
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    copy = kh.create_topic(kafka_bootstrap, f"{unique}-copy")
    kh.produce(kafka_bootstrap, source, [b"m0", b"m1", TOO_LARGE_FOR_KAFKA, b"m3", b"m4"])
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="forward", config={"cluster": "kafka", "topic": copy}, max_retries=1, retry_backoff_ms=50,
           dead_letter={"cluster": "nats", "subject": f"dead.{unique}"})  # fmt: skip
    with Collector(nats_urls[0], f"dead.{unique}") as dead:
        runconsumers()
        letters = dead.wait_for(1, timeout=30)
        wait_until(
            lambda: done(kh.committed(kafka_bootstrap, f"{unique}-g", source, [0])) == 5,
            message="committed",
            timeout=30,
        )
        assert len(dead.everything_before_now()) == 1
    letter = letters[0]
    assert letter.data == TOO_LARGE_FOR_KAFKA
    headers = letter.headers or {}
    assert headers["streamdesk-error"].startswith("SendFailed: Kafka refused a message for")
    assert headers["streamdesk-attempts"] == "2" and headers["streamdesk-origin-offset"] == "2"
    # Its neighbours went once each: no batch was sent again for its sake.
    copied = read_topic_to_end(kafka_bootstrap, copy, [0], timeout=5)
    assert [r.value for r in copied] == [b"m0", b"m1", b"m3", b"m4"]
    worker = wait_until(
        lambda: (w := get(operator_client, unique))["dead_lettered"] == 1 and w, message="counted", timeout=30
    )
    assert worker["state"] == "running" and worker["failed"] == 2 and worker["processed"] == 4


def test_a_dead_letter_that_cannot_be_sent_either_stops_the_consumer_on_its_message(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    copy = kh.create_topic(kafka_bootstrap, f"{unique}-copy")
    dead = kh.create_topic(kafka_bootstrap, f"{unique}-dead")
    kh.produce(kafka_bootstrap, source, [b"m0", TOO_LARGE_FOR_KAFKA, b"m2"])
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="forward", config={"cluster": "kafka", "topic": copy}, max_retries=1, retry_backoff_ms=50,
           dead_letter={"cluster": "kafka", "topic": dead})  # fmt: skip
    runconsumers()
    worker = wait_until(
        lambda: (w := get(operator_client, unique))["state"] == "failing" and w, message="failing", timeout=30
    )
    assert "the dead letter could not be sent either" in worker["last_error"]
    assert worker["last_error_origin"]["offset"] == 1
    time.sleep(3)  # a stuck consumer shows only by doing nothing: time for it to go on, were it to
    # Stopped on it: committed up to it, the message after it sent once, nothing dead-lettered.
    assert kh.committed(kafka_bootstrap, f"{unique}-g", source, [0]) == {0: 1}
    assert [r.value for r in read_topic_to_end(kafka_bootstrap, copy, [0])] == [b"m0", b"m2"]
    assert read_topic_to_end(kafka_bootstrap, dead, [0]) == []
    assert get(operator_client, unique)["state"] == "failing"


def test_sends_that_keep_failing_show_the_consumer_failing_and_commit_nothing(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str, dead_port: int
) -> None:
    Cluster.objects.create(slug=f"{unique}-down", kind="nats", name="Down", servers=f"nats://127.0.0.1:{dead_port}")
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    kh.produce(kafka_bootstrap, source, ["m0", "m1"])
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="forward", config={"cluster": f"{unique}-down", "subject": "x"})  # fmt: skip
    runconsumers()
    worker = wait_until(lambda: (w := get(operator_client, unique))["state"] == "failing" and w, message="failing",
                        timeout=60)  # fmt: skip
    assert "sends keep failing (5 times in a row" in worker["last_error"]
    assert done(kh.committed(kafka_bootstrap, f"{unique}-g", source, [0])) == 0
