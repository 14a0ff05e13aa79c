"""Searches and exports that cannot finish: the broker dies part-way (a private broker of the
suite's kind, stopped for real) or the topic is deleted. A search ends ``failed`` saying what it
scanned; an export ends with an error line, so a cut-short download is never taken for a whole one."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import socket
import threading
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
from tests.search.helpers import search_answer, wait_scanning

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]

# A jq expression: the scan then takes a few milliseconds per large message.
ANY_JQ = '.value | startswith("0")'


class SlowLink:
    """A TCP proxy that passes what the broker sends at ``rate`` bytes/s: the reader's client then
    cannot prefetch the whole range before the broker stops (tansu answers a fetch with all it has)."""

    def __init__(self, upstream_port: int, rate: float) -> None:
        self.upstream_port, self.rate = upstream_port, rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.rate), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, rate: float | None) -> None:
        started, sent = time.monotonic(), 0
        try:
            while data := source.recv(16384):
                sink.sendall(data)
                sent += len(data)
                if rate is not None and (ahead := sent / rate - (time.monotonic() - started)) > 0:
                    time.sleep(ahead)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()


class PrivateKafka:
    """A broker of the suite's kind (tansu, or Apache Kafka under STREAMDESK_TEST_KAFKA=apache) that a
    test may stop, reached through a ``SlowLink`` and known to every Streamdesk process as the
    cluster ``doomed`` (an admin-defined row)."""

    def __init__(self, directory: Path, rate: float) -> None:
        port = devstack.free_port()
        self.link = SlowLink(port, rate)
        if KAFKA_BROKER == "apache":
            if reason := apache.missing_reason():
                pytest.skip(reason)
            self.server = apache.apache_kafka(directory, port=port, advertised_port=self.link.port).start().server
        else:
            argv = [devstack.tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                    "--advertised-listener-url", f"tcp://127.0.0.1:{self.link.port}",
                    "--storage-engine", "memory://tansu/"]  # fmt: skip
            self.server = devstack.Server("tansu", port, argv, directory / "tansu.log").start()
        self.bootstrap = f"127.0.0.1:{self.link.port}"

    def stop(self) -> None:
        """At once: the link first, then the broker (SIGKILL), so nothing more reaches the reader."""
        self.link.close()
        if self.server.proc is not None and self.server.proc.poll() is None:
            self.server.proc.kill()
            self.server.proc.wait(10)


@pytest.fixture
def doomed(tmp_path: Path) -> Iterator[PrivateKafka]:
    if KAFKA_BROKER == "external":
        pytest.skip("stops a broker of its own; an external broker is not ours to stop")
    broker = PrivateKafka(tmp_path, rate=10_000_000)
    try:
        Cluster.objects.create(slug="doomed", kind="kafka", name="Doomed", servers=broker.bootstrap)
        yield broker
    finally:
        broker.stop()


def fill(bootstrap: str, topic: str, count: int, size: int) -> None:
    """``count`` values of ``size`` bytes, batched: fast, whatever tansu's watermarks make of batches."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "message.max.bytes": 1_000_000})
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
    # 60 MB, passed at 10 MB/s (tansu answers a fetch with about 6 MB): most of the range is
    # still on the broker when it stops.
    total = 3000
    fill(doomed.bootstrap, topic, total, 20_000)
    response = viewer_client.post(
        f"/api/v1/clusters/doomed/topics/{topic}/search", {"from": "beginning", "jq": ANY_JQ},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 202, response.content
    search = int(response.json()["search"])
    wait_scanning(viewer_client, search, timeout=60)  # the Celery worker may still be on a test before
    doomed.stop()
    final = search_answer(viewer_client, search, timeout=120)
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
    total = 20_000
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
