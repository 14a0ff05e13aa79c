"""The clusters overview and its JSON twin, against the real servers."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from dev import devstack
from tests.polling import wait_until


def test_api_lists_both_default_clusters_reachable(viewer_client):
    response = viewer_client.get("/api/v1/clusters")
    assert response.status_code == 200
    clusters = {c["slug"]: c for c in response.json()["clusters"]}
    assert set(clusters) == {"kafka", "nats"}
    assert clusters["kafka"]["kind"] == "kafka"
    assert clusters["nats"]["kind"] == "nats"
    for cluster in clusters.values():
        assert cluster["reachable"] is True, cluster
        assert cluster["error"] is None
        assert cluster["rtt_ms"] >= 0
    assert clusters["nats"]["version"].startswith("2.")


def test_overview_page_shows_each_cluster(viewer_client):
    response = viewer_client.get("/clusters")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-cluster="kafka"' in html and 'data-cluster="nats"' in html
    assert "reachable" in html
    # the htmx refresh gets the table alone, not the whole layout
    partial = viewer_client.get("/clusters", headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and b'data-cluster="kafka"' in partial.content


@pytest.mark.parametrize("kind", ["kafka", "nats"])
def test_dead_broker_is_unreachable_with_its_error_quickly(viewer_client, dead_port, kind):
    env = {
        "kafka": {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{dead_port}"},
        "nats": {"NATS_URL": f"nats://127.0.0.1:{dead_port}"},
    }[kind]
    with override_settings(**env):
        started = time.monotonic()
        response = viewer_client.get("/api/v1/clusters")
        elapsed = time.monotonic() - started
        page = viewer_client.get("/clusters")
    assert response.status_code == 200
    cluster = next(c for c in response.json()["clusters"] if c["slug"] == kind)
    assert cluster["reachable"] is False
    assert cluster["error"]
    assert page.status_code == 200 and b"unreachable" in page.content
    # bounded by the broker timeout, never a hang
    assert elapsed < 10


@pytest.mark.slow
def test_nats_stopped_mid_way_then_back_without_restart(viewer_client, tmp_path):
    server = devstack.nats_server(tmp_path).start()
    try:
        with override_settings(NATS_URL=f"nats://127.0.0.1:{server.port}"):
            assert _nats(viewer_client)["reachable"] is True
            server.stop()
            down = _nats(viewer_client)
            assert down["reachable"] is False and down["error"]
            server.start()
            state = wait_until(
                lambda: _nats(viewer_client),
                until=lambda state: state["reachable"],
                timeout=15,
                interval=0.3,
                message="NATS reachable again",
            )
            assert state["reachable"] is True
    finally:
        server.stop()


def _nats(client) -> dict:
    # fresh=1: a check made now, not the last background check
    return next(c for c in client.get("/api/v1/clusters?fresh=1").json()["clusters"] if c["slug"] == "nats")


def test_htmx_history_restore_gets_the_whole_page(viewer_client):
    restore = viewer_client.get("/clusters", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert b"<html" in restore.content
    assert "HX-Request" in restore["Vary"]
