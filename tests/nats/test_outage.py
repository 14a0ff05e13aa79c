"""A NATS server that is down: 503 JSON and an error banner within the timeout, and
recovery without a restart of the console once the server is back."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from dev import devstack
from tests.nats import helpers as h
from tests.polling import wait_until

ENDPOINTS = (
    "clusters/nats/server",
    "clusters/nats/connections",
    "clusters/nats/subjects",
    "clusters/nats/streams",
    "clusters/nats/streams/ANY",
    "clusters/nats/streams/ANY/messages",
    "clusters/nats/streams/ANY/consumers",
    "clusters/nats/streams/ANY/consumers/worker",
)


@pytest.fixture(autouse=True)
def _fresh_reads(settings):
    settings.BROKER_CACHE_SECONDS = 0


def test_dead_server_is_503_json_and_a_banner(viewer_client, dead_port):
    with override_settings(NATS_URL=f"nats://127.0.0.1:{dead_port}", NATS_MONITOR_URL=f"http://127.0.0.1:{dead_port}"):
        for path in ENDPOINTS:
            started = time.monotonic()
            response = viewer_client.get(f"/api/v1/{path}")
            assert time.monotonic() - started < 10, path  # bounded by the broker timeout, never a hang
            assert response.status_code == 503, (path, response.content)
            assert response.json()["error"], path
            page = viewer_client.get(f"/{path}")
            assert page.status_code == 503, path
            assert b"Broker unavailable" in page.content and b'role="alert"' in page.content


def test_dead_server_write_is_503_and_audited(operator_client, dead_port):
    from streams.models import AuditEvent

    with override_settings(NATS_URL=f"nats://127.0.0.1:{dead_port}"):
        response = operator_client.post(
            "/api/v1/clusters/nats/streams/ANY/consumers/worker/resume", content_type="application/json"
        )
    assert response.status_code == 503
    assert AuditEvent.objects.get(action="nats.consumer.resume").result == "error"


@pytest.mark.slow
def test_stopped_then_restarted_server_is_used_again(viewer_client, tmp_path, unique):
    server = devstack.nats_server(tmp_path).start()
    url = f"nats://127.0.0.1:{server.port}"
    monitor = f"http://127.0.0.1:{server.extra_ports['monitor']}"
    name = unique.upper().replace("-", "_")
    try:
        h.create_stream(url, name, [f"{unique}.>"], storage="file")
        h.publish(url, [(f"{unique}.a", b"kept on disk", None)])
        with override_settings(NATS_URL=url, NATS_MONITOR_URL=monitor):
            api = f"/api/v1/clusters/nats/streams/{name}"
            assert viewer_client.get(api).json()["messages"] == 1

            server.stop()
            started = time.monotonic()
            down = viewer_client.get(api)
            assert down.status_code == 503 and time.monotonic() - started < 10
            assert viewer_client.get("/api/v1/clusters/nats/server").status_code == 503
            page = viewer_client.get("/clusters/nats/streams")
            assert page.status_code == 503 and b"Broker unavailable" in page.content

            server.start()
            back = wait_until(
                lambda: viewer_client.get(api),
                until=lambda answer: answer.status_code == 200,
                timeout=20,
                interval=0.3,
                message="the stream's API answering again",
            )
            assert back.status_code == 200, back.content
            assert back.json()["messages"] == 1
            messages = viewer_client.get(f"{api}/messages").json()["messages"]
            assert messages[0]["value"]["text"] == "kept on disk"
            assert viewer_client.get("/api/v1/clusters/nats/server").json()["connections"] >= 1
    finally:
        server.stop()


@pytest.mark.slow
def test_cached_answers_are_dropped_the_moment_the_server_goes(viewer_client, tmp_path, settings):
    """Answers are cached for a minute here, yet the first load after the server stopped says so."""
    settings.BROKER_CACHE_SECONDS = 60
    server = devstack.nats_server(tmp_path).start()
    try:
        with override_settings(NATS_URL=f"nats://127.0.0.1:{server.port}", NATS_MONITOR_URL=""):
            assert viewer_client.get("/api/v1/clusters/nats/streams").status_code == 200
            server.stop()
            status = wait_until(
                lambda: viewer_client.get("/api/v1/clusters/nats/streams").status_code,
                until=lambda status: status != 200,
                timeout=5,
                message="the streams listing no longer answering from its cache",
            )
            assert status == 503
    finally:
        server.stop()
