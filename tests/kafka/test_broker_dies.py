"""A broker of a three-broker Apache Kafka dies mid-way (replication factor 3, min ISR 2).

While a producer writes with acks=all, the leader of a partition is killed with SIGKILL:
the topic's JSON shows the shrunk ISR and the new leaders, a live tail (real Daphne) and a
managed consumer (real runconsumers) carry on and miss none of the acknowledged messages,
and the broker's return shows in the ISR and the brokers list.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from django.test import Client, override_settings
from websockets.asyncio.client import connect

from dev import apache_kafka as apache
from dev.kafka_cluster import KafkaCluster, kafka_cluster
from dev.webprocess import WebProcess
from streams import adapters
from tests.brokers import KAFKA_BROKER
from tests.kafka import helpers as kh
from tests.polling import wait_until
from tests.workers.conftest import notify, runconsumers  # noqa: F401 - fixtures
from tests.workers.test_kafka import define

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.xdist_group("kafka-cluster"),
    pytest.mark.usefixtures("notify"),
]

PARTITIONS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaCluster, Path]]:
    if KAFKA_BROKER != "apache":
        pytest.skip("runs in the Apache Kafka pass (make test-kafka): four JVMs are too slow for every pass")
    if reason := apache.missing_reason():
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("kafka-cluster")
    brokers = kafka_cluster(directory, brokers=3).start()
    clusters_file = directory / "clusters.toml"
    servers = ", ".join(f'"{server}"' for server in brokers.bootstrap.split(","))
    clusters_file.write_text(f'[[clusters]]\nslug = "ha"\nkind = "kafka"\nservers = [{servers}]\n')
    try:
        yield brokers, clusters_file
    finally:
        brokers.stop()


class AckedProducer(threading.Thread):
    """Writes ``m0``, ``m1``, ... with acks=all until stopped; ``acked`` holds what the
    cluster acknowledged (a message the cluster refused is not expected anywhere)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.topic = topic
        self.producer = Producer(
            {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5, "log_level": 2}
        )
        self.acked: set[str] = set()
        self.failed: list[str] = []
        self.sent = 0
        self.stopping = threading.Event()

    def _report(self, error: KafkaError | None, message: Message) -> None:
        value = (message.value() or b"").decode()
        (self.failed.append(f"{value}: {error}") if error else self.acked.add(value))

    def run(self) -> None:
        while not self.stopping.is_set():
            self.producer.produce(self.topic, f"m{self.sent}".encode(), key=str(self.sent), on_delivery=self._report)
            self.sent += 1
            self.producer.poll(0.004)
        self.producer.flush(60)

    def finish(self) -> None:
        self.stopping.set()
        self.join(90)


class TailReader(threading.Thread):
    """A live tail of the topic from the beginning, through the web process's socket."""

    def __init__(self, web: WebProcess, topic: str) -> None:
        super().__init__(daemon=True)
        self.web, self.topic = web, topic
        self.seen: set[str] = set()
        self.dropped = 0
        self.errors: list[Any] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self._read())

    async def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.web.token}"}
        async with connect(f"{self.web.ws_url}/ws/clusters/ha/tail", additional_headers=headers) as ws:
            subscribe = {"action": "subscribe", "source": "topic", "name": self.topic, "from": "beginning"}
            await ws.send(json.dumps(subscribe))
            while not self.stopping.is_set():
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if frame["type"] == "messages":
                    self.seen.update(item["value"]["text"] for item in frame["items"])
                    self.dropped += frame.get("dropped", 0)
                    await ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
                elif frame["type"] == "error":
                    self.errors.append(frame)


def partitions(web: WebProcess, topic: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{web.url}/api/v1/clusters/ha/topics/{topic}", headers={"Authorization": f"Bearer {web.token}"}, timeout=15
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["partitions"])


def broker_ids(web: WebProcess) -> set[int]:
    answer = httpx.get(
        f"{web.url}/api/v1/clusters/ha/brokers", headers={"Authorization": f"Bearer {web.token}"}, timeout=15
    )
    assert answer.status_code == 200, answer.text
    return {broker["id"] for broker in answer.json()["items"]}


def read_values(bootstrap: str, topic: str, wanted: set[str], timeout: float) -> set[str]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    found: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while not wanted <= found and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    found.add((message.value() or b"").decode())
    finally:
        consumer.close()
    return found


def test_a_broker_dies_and_returns_while_a_tail_and_a_managed_consumer_lose_nothing(
    cluster: tuple[KafkaCluster, Path],
    operator_client: Client,
    runconsumers: Any,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    unique: str,
) -> None:
    brokers, clusters_file = cluster
    bootstrap = brokers.bootstrap
    source, copy = f"{unique}-ha", f"{unique}-ha-copy"
    admin = kh.admin(bootstrap)
    new = [
        NewTopic(source, PARTITIONS, 3, config={"min.insync.replicas": "2"}),
        NewTopic(copy, 1, 3, config={"min.insync.replicas": "2"}),
    ]
    for future in admin.create_topics(new, operation_timeout=15).values():
        future.result(20)

    web = WebProcess(tmp_path / "web", {"STREAMDESK_CLUSTERS": str(clusters_file)}).prepare().start()
    producer = AckedProducer(bootstrap, source)
    tail = TailReader(web, source)
    try:
        assert all(len(p["isr"]) == 3 for p in partitions(web, source))
        with override_settings(STREAMDESK_CLUSTERS=str(clusters_file)):
            adapters.invalidate()
            define(operator_client, name=f"{unique}-ha", cluster="ha", topic=source, group=f"{unique}-ha",
                   start="earliest", handler="forward", config={"cluster": "ha", "topic": copy})  # fmt: skip
        adapters.invalidate()
        runconsumers(STREAMDESK_CLUSTERS=str(clusters_file))
        tail.start()
        producer.start()
        time.sleep(3)  # traffic through the tail and the consumer before the kill

        victim = next(p["leader"] for p in partitions(web, source) if p["partition"] == 0)
        brokers.kill_broker(victim)
        killed_at = time.monotonic()

        def shrunk() -> list[dict[str, Any]] | None:
            shown = partitions(web, source)
            moved = all(p["leader"] != victim and victim not in p["isr"] and len(p["isr"]) == 2 for p in shown)
            return shown if moved else None

        shown = wait_until(shrunk, message="the shrunk ISR and new leaders on the topic", timeout=30, interval=0.5)
        print(f"ISR shrink shown {time.monotonic() - killed_at:.1f} s after the kill: {shown}")
        assert victim not in broker_ids(web)
        with override_settings(STREAMDESK_CLUSTERS=str(clusters_file)):
            adapters.invalidate()
            page = operator_client.get(f"/clusters/ha/topics/{source}").content.decode()
        adapters.invalidate()
        assert page.count("under-replicated") == PARTITIONS, page
        time.sleep(3)  # writes go on with two in-sync replicas

        brokers.start_broker(victim)
        wait_until(
            lambda: all(len(p["isr"]) == 3 for p in partitions(web, source)),
            message="the returned broker back in every ISR",
            timeout=90,
            interval=0.5,
        )
        assert victim in broker_ids(web)
        time.sleep(2)  # traffic with the broker back
    finally:
        producer.finish()
        try:
            acked = producer.acked
            assert producer.sent > 0 and not producer.failed, producer.failed[:5]
            assert len(acked) == producer.sent
            wait_until(lambda: acked <= tail.seen, message="every acknowledged message in the live tail", timeout=60)
            assert tail.dropped == 0 and not tail.errors, (tail.dropped, tail.errors[:3])
            copied = read_values(bootstrap, copy, acked, timeout=90)
            assert acked <= copied, f"{len(acked - copied)} acknowledged messages never reached the copy"
            print(f"{len(acked)} messages through the broker's death and return")
        finally:
            tail.stopping.set()
            tail.join(10)
            web.stop()
