"""An export read slowly from a real Daphne: the web process reads the topic only as fast as the
client takes it, so its memory stays bounded while the export is many times larger."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from dev.webprocess import WebProcess
from tests.kafka import helpers as kh

pytestmark = [pytest.mark.slow]

MESSAGES = 60_000
SIZE = 1024  # 60 MB of values
READ_SECONDS = 20
RATE = 100 * 1024  # bytes a second the client takes
BOUND = 16 * 1024 * 1024


def rss(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def read_slowly(web: WebProcess, path: str) -> tuple[int, int, int]:
    """GET ``path`` as a client taking RATE bytes a second for READ_SECONDS: (bytes read, the web
    process's RSS once the answer started, its peak while reading)."""
    sock = socket.create_connection(("127.0.0.1", web.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {web.token}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:300]
    time.sleep(1)
    before = rss(web.pid)
    peak = before
    received = len(head)
    started = time.monotonic()
    while time.monotonic() - started < READ_SECONDS:
        received += len(sock.recv(RATE // 10))
        time.sleep(0.1)
        peak = max(peak, rss(web.pid))
    sock.close()
    return received, before, peak


def test_slow_client_keeps_the_web_process_memory_bounded(tmp_path, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 20})
    for i in range(MESSAGES):
        producer.produce(topic, value=(b"%08d" % i) + b"x" * (SIZE - 8))
        if i % 5000 == 0:
            producer.flush()
    assert producer.flush(60) == 0

    web = WebProcess(tmp_path / "web", {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}).prepare().start()
    try:
        received, before, peak = read_slowly(web, f"/api/v1/clusters/kafka/topics/{topic}/export?from=beginning")
        total = MESSAGES * SIZE
        assert received < total / 10, "the client read too much to prove anything"
        assert total > 3 * BOUND
        assert peak - before < BOUND, f"RSS grew {(peak - before) / 2**20:.1f} MB over {received / 2**20:.1f} MB read"
    finally:
        web.stop()
