"""Searches and exports that cannot finish: the broker dies part-way (a private broker of the
suite's kind, stopped for real) or the topic is deleted. A search ends ``failed`` saying what it
scanned; an export ends with an error line, so a cut-short download is never taken for a whole one."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from confluent_kafka import Producer
from django.test import Client

from dev import apache_kafka as apache
from dev import devstack
from streams.models import Cluster
from streams.search.export import error_line
from tests.brokers import KAFKA_BROKER
from tests.kafka import helpers as kh
from tests.search.test_kafka_search import wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]

# Costs about 20 µs of jq per message: slow enough to stop the broker half-way through the range.
MODERATE = "reduce range(40) as $i (0; . + $i) < 0"


class PrivateKafka:
    """A broker of the suite's kind (tansu, or Apache Kafka under STREAMDESK_TEST_KAFKA=apache) that a
    test may stop, known to every Streamdesk process as the cluster ``doomed`` (an admin-defined row)."""

    def __init__(self, directory: Path) -> None:
        if KAFKA_BROKER == "apache":
            if reason := apache.missing_reason():
                pytest.skip(reason)
            self.apache = apache.apache_kafka(directory).start()
            self.bootstrap = self.apache.bootstrap
        else:
            self.tansu = devstack.tansu_server(directory).start()
            self.bootstrap = f"127.0.0.1:{self.tansu.port}"

    def stop(self) -> None:
        if KAFKA_BROKER == "apache":
            self.apache.stop()
        else:
            self.tansu.stop()


@pytest.fixture
def doomed(tmp_path: Path) -> Iterator[PrivateKafka]:
    if KAFKA_BROKER == "external":
        pytest.skip("stops a broker of its own; an external broker is not ours to stop")
    broker = PrivateKafka(tmp_path)
    try:
        Cluster.objects.create(slug="doomed", kind="kafka", name="Doomed", servers=broker.bootstrap)
        yield broker
    finally:
        broker.stop()


def fill(bootstrap: str, topic: str, count: int, size: int) -> None:
    """``count`` values of ``size`` bytes, batched: fast, whatever tansu's watermarks make of batches."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 500_000})
    body = b"x" * max(size - 8, 0)
    for i in range(count):
        while True:
            try:
                producer.produce(topic, b"%08d" % i + body)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def test_a_broker_outage_mid_search_fails_it_with_what_was_scanned(celery_worker, viewer_client, doomed, unique):
    topic = kh.create_topic(doomed.bootstrap, unique)
    total = 400_000
    fill(doomed.bootstrap, topic, total, 16)
    response = viewer_client.post(
        f"/api/v1/clusters/doomed/topics/{topic}/search", {"from": "beginning", "jq": MODERATE},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 202, response.content
    search = int(response.json()["search"])
    deadline = time.monotonic() + 30
    while viewer_client.get(f"/api/v1/searches/{search}").json()["scanned"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    doomed.stop()
    final = wait(viewer_client, search, timeout=120)
    assert final["state"] == "failed", final
    assert 0 < final["scanned"] < total
    error = final["error"]
    assert "stopped answering" in error, error
    assert f"{final['scanned']:,} of " in error and "partition 0 up to offset" in error


def exported(response: Any, *, messages_read: Any) -> str:
    """The whole body, calling ``messages_read`` (blocking) once the first chunk of messages has been read."""

    async def collect() -> bytes:
        chunks: list[bytes] = []
        called = False
        async for chunk in response.streaming_content:
            chunks.append(chunk)
            if not called and not chunk.startswith(b"partition,"):  # the CSV header comes before any read
                called = True
                await sync_to_async(messages_read, thread_sensitive=False)()
        return b"".join(chunks)

    return async_to_sync(collect)().decode()


def test_an_export_cut_short_by_the_broker_ends_with_an_error_line(viewer_client: Client, doomed, unique):
    topic = kh.create_topic(doomed.bootstrap, unique)
    total = 40_000
    fill(doomed.bootstrap, topic, total, 1000)
    response = viewer_client.get(f"/api/v1/clusters/doomed/topics/{topic}/export", {"from": "beginning"})
    assert response.status_code == 200
    lines = exported(response, messages_read=doomed.stop).splitlines()
    last = json.loads(lines[-1])
    assert set(last) == {"error", "exported"}, last
    assert last["error"].startswith("Export cut short: The broker stopped answering")
    assert last["exported"] == len(lines) - 1 and 0 < last["exported"] < total
    messages = [json.loads(x) for x in lines[:-1]]
    assert all("error" not in m and m["partition"] == 0 for m in messages)
    assert [m["offset"] for m in messages] == list(range(len(messages)))


def test_an_export_of_a_topic_deleted_mid_way_ends_with_an_error_row(viewer_client: Client, kafka_bootstrap, unique):
    if KAFKA_BROKER == "tansu":
        pytest.skip("tansu re-creates a deleted topic as soon as a client's metadata request names it")
    topic = kh.create_topic(kafka_bootstrap, unique)
    total = 40_000
    fill(kafka_bootstrap, topic, total, 1000)
    response = viewer_client.get(f"/api/v1/clusters/kafka/topics/{topic}/export", {"format": "csv"})
    assert response.status_code == 200
    client = kh.admin(kafka_bootstrap)

    def delete() -> None:
        client.delete_topics([topic], operation_timeout=10)[topic].result(10)

    rows = list(csv.reader(io.StringIO(exported(response, messages_read=delete))))
    assert rows[0] == ["partition", "offset", "timestamp", "key", "value", "headers"]
    last = rows[-1]
    assert last[0] == "error" and topic in last[4] and "Export cut short" in last[4], last
    assert f"({len(rows) - 2:,} messages written before)" in last[4]
    assert all(r[0] == "0" for r in rows[1:-1]) and len(rows) - 2 < total


def test_error_lines_of_both_formats():
    line = json.loads(error_line("jsonl", "Export cut short: gone", 12))
    assert line == {"error": "Export cut short: gone", "exported": 12}
    [row] = list(csv.reader(io.StringIO(error_line("csv", "Export cut short: gone", 1234).decode())))
    assert row == ["error", "", "", "", "Export cut short: gone (1,234 messages written before)", ""]
