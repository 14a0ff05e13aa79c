"""A Kafka that is down or silent: 503 JSON and an error banner within the timeout, never a 500 or a hang."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings

from streams.models import AuditEvent

READS = [
    "clusters/kafka/topics",
    "clusters/kafka/topics/some-topic",
    "clusters/kafka/topics/some-topic/messages",
    "clusters/kafka/groups",
    "clusters/kafka/groups/some-group",
]
BOUND = 8.0  # seconds: the 1 s broker timeout plus generous slack, far from a hang


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("path", READS)
def test_down_broker_is_503_json_quickly(viewer_client, dead_port, path):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=1):
        started = time.monotonic()
        response = viewer_client.get(f"/api/v1/{path}")
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert "Kafka" in response.json()["error"]
    assert elapsed < BOUND


@pytest.mark.parametrize("path", ["clusters/kafka/topics", "clusters/kafka/groups"])
def test_down_broker_page_shows_a_banner(viewer_client, dead_port, path):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=1):
        page = viewer_client.get(f"/{path}")
        partial = viewer_client.get(f"/{path}", headers={"HX-Request": "true"})
    assert page.status_code == 503 and b"Broker unavailable" in page.content and b"<html" in page.content
    assert partial.status_code == 503 and b'class="banner error"' in partial.content and b"<html" not in partial.content


def test_silent_broker_times_out_into_503(viewer_client, silent_port):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{silent_port}", BROKER_TIMEOUT_SECONDS=1):
        started = time.monotonic()
        response = viewer_client.get("/api/v1/clusters/kafka/groups")
        elapsed = time.monotonic() - started
    assert response.status_code == 503 and elapsed < BOUND


def test_writes_to_a_down_broker_are_503_and_audited(operator_client, dead_port, unique):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=1):
        create = operator_client.post(
            "/api/v1/clusters/kafka/topics", {"name": unique}, content_type="application/json"
        )
        reset = operator_client.post(
            "/api/v1/clusters/kafka/groups/g/reset",
            {"topic": unique, "to": "earliest"},
            content_type="application/json",
        )
        form = operator_client.post("/clusters/kafka/new-topic", {"name": unique}, headers={"Referer": "/back"})
    assert create.status_code == 503 and reset.status_code == 503
    assert form.status_code == 302 and form["Location"] == "/back"
    events = AuditEvent.objects.filter(action="kafka.topic.create", target=unique)
    assert events.count() == 2 and {e.result for e in events} == {"error"}


def test_bad_parameters_are_checked_before_the_broker_is_asked(viewer_client, dead_port):
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=1):
        started = time.monotonic()
        response = viewer_client.get("/api/v1/clusters/kafka/topics", {"page_size": "100000"})
        elapsed = time.monotonic() - started
    assert response.status_code == 400 and response.json()["field"] == "page_size"
    assert elapsed < 0.9
