"""Managed consumers on JetStream streams, run by a real runconsumers process: the durable made
when missing, forwarding to Kafka and NATS, dead letters to a subject, pause on the server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.kafka import helpers as kh
from tests.nats import helpers as nh
from tests.polling import wait_until
from tests.publish.helpers import Collector, read_topic
from tests.workers.conftest import lines
from tests.workers.test_kafka import define, get

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("workers"),
    pytest.mark.usefixtures("notify"),
]


def publish(url: str, subject: str, values: list[str]) -> None:
    nh.publish(url, [(subject, v.encode(), {"trace": "t"}) for v in values])


def test_bridge_to_kafka_and_dead_letters_to_a_subject(
    operator_client: Client, runconsumers: Any, nats_urls: Any, kafka_bootstrap: str, unique: str
) -> None:
    url = nats_urls[0]
    stream = nh.create_own_stream(url, unique)
    topic = kh.create_topic(kafka_bootstrap, f"{unique}-bridged")
    publish(url, f"{unique}.orders", [f"o{i}" for i in range(10)])
    publish(url, f"{unique}.junk", ["not json"])
    define(operator_client, name=f"{unique}-bridge", cluster="nats", stream=stream, durable="bridge",
           handler="forward", config={"cluster": "kafka", "topic": topic}, start="earliest",
           filter_subject=f"{unique}.orders")  # fmt: skip
    define(operator_client, name=f"{unique}-check", cluster="nats", stream=stream, durable="check",
           handler="validate", config={"schema": {"type": "string"}}, start="earliest",
           dead_letter={"cluster": "nats", "subject": f"dead.{unique}"})  # fmt: skip
    with Collector(url, f"dead.{unique}") as dead:
        runconsumers()
        records = read_topic(kafka_bootstrap, topic, [0], expect=10, timeout=40)
        assert sorted(r.value or b"" for r in records) == sorted(f"o{i}".encode() for i in range(10))
        headers = dict(records[0].headers)
        assert headers["trace"] == b"t" and headers["streamdesk-origin-stream"] == stream.encode()
        assert (
            headers["streamdesk-origin-subject"] == f"{unique}.orders".encode() and "streamdesk-origin-seq" in headers
        )
        # Every order is a JSON string? No: "o1" is not JSON at all, and neither is "not json".
        letters = dead.wait_for(11, timeout=30)
    assert len(letters) == 11
    first = letters[0].headers or {}
    assert first["streamdesk-handler"] == "validate" and first["streamdesk-attempts"] == "1"
    assert first["streamdesk-error"].startswith("DeadLetter: the value is not JSON")
    assert first["streamdesk-origin-stream"] == stream and first["trace"] == "t"
    info = nh.consumer_info(url, stream, "bridge")
    assert info["config"]["filter_subject"] == f"{unique}.orders" and info["config"]["ack_policy"] == "explicit"
    wait_until(
        lambda: nh.consumer_info(url, stream, "bridge")["num_ack_pending"] == 0, message="all acknowledged", timeout=30
    )
    assert nh.consumer_info(url, stream, "bridge")["num_pending"] == 0
    wait_until(
        lambda: nh.consumer_info(url, stream, "check")["num_ack_pending"] == 0,
        message="letters acknowledged",
        timeout=30,
    )
    check = wait_until(lambda: (w := get(operator_client, f"{unique}-check"))["dead_lettered"] == 11 and w,
                       message="counts", timeout=30)  # fmt: skip
    assert check["lag"] == 0 and check["state"] == "running"


def test_pause_is_seen_on_the_server_and_stops_handler_calls_then_resume_drains(
    operator_client: Client, runconsumers: Any, nats_urls: Any, unique: str, calls: Path
) -> None:
    url = nats_urls[0]
    stream = nh.create_own_stream(url, unique)
    define(operator_client, name=unique, cluster="nats", stream=stream, durable="worker", start="earliest",
           handler="test.arecord", config={"path": str(calls)}, batch_size=5)  # fmt: skip
    publish(url, f"{unique}.a", [f"before-{i}" for i in range(10)])
    runconsumers()
    wait_until(lambda: len(lines(calls)) == 10, message="the first 10 handled", timeout=30)

    paused = operator_client.post(f"/api/v1/workers/{unique}/pause")
    assert paused.status_code == 202 and paused.json()["pause_mode"] == "server"
    assert nh.consumer_info(url, stream, "worker")["paused"] is True
    wait_until(lambda: get(operator_client, unique)["state"] == "paused", message="paused", timeout=10)
    publish(url, f"{unique}.a", [f"during-{i}" for i in range(15)])
    time.sleep(2.5)  # a paused consumer shows only by doing nothing: no event follows what it must not take
    assert len(lines(calls)) == 10
    assert nh.consumer_info(url, stream, "worker")["num_pending"] == 15
    assert get(operator_client, unique)["lag"] == 15

    assert operator_client.post(f"/api/v1/workers/{unique}/resume").status_code == 202
    assert not nh.consumer_info(url, stream, "worker").get("paused")
    wait_until(lambda: len(lines(calls)) == 25, message="drained after resume", timeout=30)
    assert [line.rsplit(":", 1)[-1] for line in lines(calls)][10:] == [f"during-{i}" for i in range(15)]


def test_a_handler_slower_than_ack_wait_is_not_delivered_to_another_instance_meanwhile(
    operator_client: Client, runconsumers: Any, nats_urls: Any, unique: str, calls: Path
) -> None:
    url = nats_urls[0]
    stream = nh.create_own_stream(url, unique)
    # A durable made elsewhere with a short ack_wait: a batch takes four times as long.
    nh.add_consumer(url, stream, "slow", ack_wait=1_000_000_000, deliver_policy="all")
    publish(url, f"{unique}.a", [f"m{i}" for i in range(4)])
    runconsumers()
    runconsumers()
    define(operator_client, name=unique, cluster="nats", stream=stream, durable="slow", start="earliest",
           handler="test.record", config={"path": str(calls), "sleep": 1.0}, batch_size=4)  # fmt: skip
    wait_until(lambda: nh.consumer_info(url, stream, "slow")["num_ack_pending"] == 0 and len(lines(calls)) >= 4,
               message="all handled and acknowledged", timeout=40)  # fmt: skip
    time.sleep(2)  # a redelivery after ack_wait would come unannounced: time for one to show, were there one
    # Each handled once, at its first attempt, by whichever instance fetched it.
    assert sorted(line.split(":", 1)[1] for line in lines(calls)) == [f"{i + 1}:1:m{i}" for i in range(4)]
    assert nh.consumer_info(url, stream, "slow")["num_redelivered"] == 0
