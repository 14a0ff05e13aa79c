"""A broker that hangs (process stopped, socket open) answers 503 within the
timeout, and the console recovers by itself once the broker runs again."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.test import override_settings

from dev import devstack
from tests.kafka import helpers as kh
from tests.polling import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hung")]


def _until_ok(client, path: str, bound: float) -> float:
    started = time.monotonic()
    wait_until(lambda: client.get(path).status_code == 200, timeout=bound, interval=0.2, message=f"{path} recovering")
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("kafka", "/api/v1/clusters/kafka/topics"),
        ("kafka", "/api/v1/clusters/kafka/groups"),
        ("nats", "/api/v1/clusters/nats/streams"),
    ],
)
def test_hung_broker_gives_503_then_recovers(viewer_client, tmp_path, kind, path):
    if kind == "kafka":
        server = devstack.tansu_server(tmp_path).start()
        bootstrap = f"127.0.0.1:{server.port}"
        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        kh.create_topic(bootstrap, "orders")
        kh.produce(bootstrap, "orders", [b"a", b"b"])
        kh.commit(bootstrap, "billing", {("orders", 0): 1})
    else:
        server = devstack.nats_server(tmp_path).start()
        env = {"NATS_URL": f"nats://127.0.0.1:{server.port}"}
    assert server.proc is not None
    try:
        with override_settings(BROKER_CACHE_SECONDS=0, **env):
            assert viewer_client.get(path).status_code == 200
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                for _ in range(2):
                    started = time.monotonic()
                    response = viewer_client.get(path)
                    assert response.status_code == 503, response.content
                    assert "did not answer" in response.json()["error"]
                    assert time.monotonic() - started < 8  # bounded by the broker timeout
                health = viewer_client.get("/api/v1/clusters?fresh=1").json()["clusters"]
                assert next(c for c in health if c["slug"] == kind)["reachable"] is False
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            _until_ok(viewer_client, path, bound=20)
            health = viewer_client.get("/api/v1/clusters?fresh=1").json()["clusters"]
            assert next(c for c in health if c["slug"] == kind)["reachable"] is True
    finally:
        server.stop()


def test_cached_answers_are_dropped_once_the_client_loses_the_broker(viewer_client, tmp_path, settings):
    """Answers are cached for a minute here, yet loads soon after the broker stopped say so."""
    settings.BROKER_CACHE_SECONDS = 60
    server = devstack.tansu_server(tmp_path).start()
    bootstrap = f"127.0.0.1:{server.port}"
    try:
        with override_settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap):
            kh.create_topic(bootstrap, "orders")
            assert viewer_client.get("/api/v1/clusters/kafka/topics").status_code == 200
            server.stop()
            status = wait_until(
                lambda: viewer_client.get("/api/v1/clusters/kafka/topics").status_code,
                until=lambda status: status != 200,
                timeout=15,
                interval=0.2,
                message="the topics listing no longer answering from its cache",
            )
            assert status == 503
    finally:
        server.stop()
