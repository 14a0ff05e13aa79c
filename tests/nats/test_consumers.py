"""JetStream consumers: numbers after known publishes and acks, and server-side pause/resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from streams import adapters
from streams.models import AuditEvent
from tests.nats import helpers as h

# Shared fixtures: pytest finds fixtures among a module's names.


@pytest.fixture
def stream(url, unique) -> str:
    """Ten messages: six on <unique>.a, four on <unique>.b."""
    name = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.{'a' if i < 6 else 'b'}", f"m{i}".encode(), None) for i in range(10)])
    return name


@pytest.fixture
def worker(url, stream, unique) -> str:
    """A durable pull consumer on <unique>.a that fetched 4 and acknowledged 3."""
    h.add_consumer(url, stream, "worker", filter_subject=f"{unique}.a")
    h.fetch_and_ack(url, stream, "worker", fetch=4, ack=3)
    return "worker"


def consumers_api(stream: str) -> str:
    return f"/api/v1/clusters/nats/streams/{stream}/consumers"


def test_numbers_after_publishes_and_acks(viewer_client, url, stream, worker, unique):
    h.add_consumer(url, stream, "everything")
    body = viewer_client.get(consumers_api(stream)).json()
    assert body["total"] == 2
    items = {c["name"]: c for c in body["items"]}
    w = items["worker"]
    assert w["durable"] is True
    assert w["filter_subjects"] == [f"{unique}.a"]
    assert w["ack_policy"] == "explicit"
    assert (w["num_pending"], w["lag"]) == (2, 2)  # six on .a, four delivered
    assert w["num_ack_pending"] == 1  # delivered four, acknowledged three
    assert w["num_redelivered"] == 0 and w["num_waiting"] == 0
    assert w["delivered"]["stream_seq"] == 4 and w["ack_floor"]["stream_seq"] == 3
    assert w["paused"] is False and w["pause_remaining_s"] is None
    assert items["everything"]["num_pending"] == 10


def test_ephemeral_consumer_and_detail(viewer_client, url, stream, worker):
    h.add_consumer(url, stream, "passing", durable=False, inactive_threshold=60_000_000_000)
    items = {c["name"]: c for c in viewer_client.get(consumers_api(stream)).json()["items"]}
    assert items["passing"]["durable"] is False
    detail = viewer_client.get(f"{consumers_api(stream)}/worker").json()
    assert detail["name"] == "worker" and detail["num_ack_pending"] == 1
    assert detail["config"]["durable_name"] == "worker" and detail["config"]["ack_policy"] == "explicit"
    page = viewer_client.get(f"/clusters/nats/streams/{stream}/consumers/worker").content.decode()
    assert "Consumer worker" in page and "ack_wait" in page and "30s" in page
    assert "Pause or resume" not in page  # viewers see no write forms


def test_consumers_page_sort_and_partial(viewer_client, url, stream, worker):
    h.add_consumer(url, stream, "zz-everything")
    page = viewer_client.get(f"/clusters/nats/streams/{stream}/consumers", {"sort": "lag"}).content.decode()
    assert page.index('data-consumer="zz-everything"') < page.index('data-consumer="worker"')
    partial = viewer_client.get(
        f"/clusters/nats/streams/{stream}/consumers", {"q": "work"}, headers={"HX-Request": "true"}
    )
    assert b"<html" not in partial.content and b'data-consumer="worker"' in partial.content
    assert b"zz-everything" not in partial.content


def test_unknown_consumer_and_stream_are_404(viewer_client, stream):
    assert viewer_client.get(f"{consumers_api(stream)}/nobody").status_code == 404
    assert viewer_client.get(consumers_api("NO_SUCH_STREAM")).status_code == 404
    assert viewer_client.get("/clusters/nats/streams/NO_SUCH_STREAM/consumers/x").status_code == 404


def test_pause_until_then_resume_verified_on_the_server(operator_client, url, stream, worker):
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    response = operator_client.post(
        f"{consumers_api(stream)}/worker/pause",
        {"until": until.isoformat().replace("+00:00", "Z")},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["paused"] is True and 3500 < body["pause_remaining_s"] <= 3600
    server = h.consumer_info(url, stream, "worker")
    assert server["paused"] is True
    assert datetime.fromisoformat(server["config"]["pause_until"].replace("Z", "+00:00")) == until
    listed = {c["name"]: c for c in operator_client.get(consumers_api(stream)).json()["items"]}
    assert listed["worker"]["paused"] is True and listed["worker"]["pause_remaining_s"] > 3500

    resumed = operator_client.post(f"{consumers_api(stream)}/worker/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert not h.consumer_info(url, stream, "worker").get("paused")
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "target", "result"))
    assert actions == [
        ("nats.consumer.pause", f"{stream}/worker", "ok"),
        ("nats.consumer.resume", f"{stream}/worker", "ok"),
    ]


def test_pause_for_a_duration_and_until_resumed(operator_client, url, stream, worker):
    api = f"{consumers_api(stream)}/worker/pause"
    short = operator_client.post(api, {"for": "10m"}, content_type="application/json").json()
    assert 590 < short["pause_remaining_s"] <= 600
    assert 590 < h.consumer_info(url, stream, "worker")["pause_remaining"] / 1e9 <= 600
    forever = operator_client.post(api, {"until": None}, content_type="application/json").json()
    assert forever["paused"] is True and "until resumed" in forever["message"]
    assert forever["pause_remaining_s"] > 50 * 365 * 86400


def test_pause_from_the_page_form(operator_client, url, stream, worker):
    form = f"/clusters/nats/streams/{stream}/consumers/worker/pause"
    done = operator_client.post(form, {"for": "90s", "until": ""}, follow=True)
    html = done.content.decode()
    assert done.status_code == 200 and "paused for 1m" in html
    assert 'data-paused="true"' in html and "Resume now" in html
    assert h.consumer_info(url, stream, "worker")["paused"] is True
    operator_client.post(f"/clusters/nats/streams/{stream}/consumers/worker/resume")
    assert not h.consumer_info(url, stream, "worker").get("paused")
    indefinite = operator_client.post(form, {"for": "", "until": "", "indefinitely": "1"}, follow=True)
    assert "until resumed" in indefinite.content.decode()
    empty = operator_client.post(form, {"for": "", "until": ""}, follow=True)
    assert "Give a duration" in empty.content.decode()
    garbage = operator_client.post(form, {"for": "", "until": "", "indefinitely": "maybe"}, follow=True)
    assert "indefinitely must be true or false" in garbage.content.decode()


def test_pause_bad_parameters_name_the_field(operator_client, stream, worker):
    api = f"{consumers_api(stream)}/worker/pause"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for body, field in (
        ({}, "until"),
        ({"for": "soon"}, "for"),
        ({"for": "0s"}, "for"),
        ({"until": "tomorrow"}, "until"),
        ({"until": past}, "until"),
        ({"until": 12}, "until"),
        ({"for": "999999999999999999w"}, "for"),
        ({"for": "9" * 39 + "h"}, "for"),
        ({"for": "36526d"}, "for"),
    ):
        response = operator_client.post(api, body, content_type="application/json")
        assert response.status_code == 400, body
        assert response.json()["field"] == field, body
    missing = operator_client.post(
        f"{consumers_api(stream)}/nobody/pause", {"for": "1m"}, content_type="application/json"
    )
    assert missing.status_code == 404
    assert AuditEvent.objects.get(target=f"{stream}/nobody").result == "error"


def test_pause_needs_an_operator(viewer, stream, worker, url):
    viewer_client = Client()
    viewer_client.force_login(viewer)
    api = f"{consumers_api(stream)}/worker/pause"
    assert viewer_client.post(api, {"for": "1m"}, content_type="application/json").status_code == 403
    assert Client().post(api, {"for": "1m"}, content_type="application/json").status_code == 401
    assert not h.consumer_info(url, stream, "worker").get("paused")


def test_older_server_gets_a_clear_message(operator_client, stream, worker, monkeypatch):
    adapter = adapters.get_adapter("nats")
    monkeypatch.setattr(adapter, "server_version", lambda: "2.10.22")
    response = operator_client.post(
        f"{consumers_api(stream)}/worker/pause", {"for": "1m"}, content_type="application/json"
    )
    assert response.status_code == 501
    assert "2.11" in response.json()["error"] and "2.10.22" in response.json()["error"]
    page = operator_client.get(f"/clusters/nats/streams/{stream}/consumers/worker").content.decode()
    assert "needs nats-server 2.11 or newer" in page
