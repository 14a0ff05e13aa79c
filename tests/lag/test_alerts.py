"""Status changes to WARN/ERR are posted to the cluster's webhook, resent on the interval, and audited."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streams import adapters
from streams.lag import alerts, sampling
from streams.lag.models import LagStatus
from streams.models import AuditEvent
from tests.lag.helpers import STEP, times
from tests.nats import helpers as nats

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook endpoint on a free local port that keeps what it is sent and answers ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def alerts_for(self, stream: str, consumer: str) -> list[dict[str, Any]]:
        return [a for body in self.bodies for a in body["alerts"] if (a["stream"], a["consumer"]) == (stream, consumer)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_webhook_alerts_on_change_and_resends(receiver, nats_urls, unique, settings):
    settings.LAG_ALERT_RESEND_SECONDS = 60
    config = replace(adapters.find("nats", adapters.clusters(fresh=True)), alert_webhook_url=receiver.url)
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 3)
    nats.add_consumer(url, stream, "stuck")
    t0, t1, t2, t3 = times(4)

    sampling.sample([config], t0)  # first sight: not judged yet
    assert receiver.alerts_for(stream, "stuck") == []
    sampling.sample([config], t1)  # stopped while lagging: ERR, alerted
    (alert,) = receiver.alerts_for(stream, "stuck")
    assert alert == {**alert, "kind": "nats", "stream": stream, "status": "ERR", "total_lag": 3, "resend": False}
    body = receiver.bodies[-1]
    assert body["cluster"] == "nats" and "stuck" in body["text"] and body["at"] == t1.isoformat()

    sampling.sample([config], t2)  # still ERR, 30 s later: not resent yet
    assert len(receiver.alerts_for(stream, "stuck")) == 1
    sampling.sample([config], t3)  # 60 s after the alert: resent
    resent = receiver.alerts_for(stream, "stuck")
    assert len(resent) == 2 and resent[-1]["resend"] is True

    change = AuditEvent.objects.get(action=alerts.STATUS_CHANGE, target=f"{stream}/stuck")
    assert (change.params["from"], change.params["to"], change.username) == ("OK", "ERR", "system")
    deliveries = AuditEvent.objects.filter(action=alerts.WEBHOOK_SEND, cluster="nats", result="ok")
    assert deliveries.count() == 2
    assert all("secret-token" not in str(e.params) + e.message for e in AuditEvent.objects.all())


def test_a_failed_delivery_is_audited_and_retried(receiver, nats_urls, unique, settings):
    settings.LAG_WEBHOOK_URL = receiver.url  # every cluster without its own webhook
    settings.LAG_ALERT_RESEND_SECONDS = 0
    receiver.status = 500
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 2)
    nats.add_consumer(url, stream, "stuck")
    config = adapters.find("nats", adapters.clusters(fresh=True))
    t0, t1, t2 = times(3)
    sampling.sample([config], t0)
    sampling.sample([config], t1)
    failed = AuditEvent.objects.filter(action=alerts.WEBHOOK_SEND, result="error").first()
    assert failed is not None and "HTTP 500" in failed.message and "secret-token" not in failed.message
    row = LagStatus.objects.get(cluster="nats", stream=stream, consumer="stuck")
    assert row.status == "ERR" and row.alerted_at is None

    receiver.status = 200
    sampling.sample([config], t2)
    assert len(receiver.alerts_for(stream, "stuck")) == 2  # the failed one, then the retry
    row = LagStatus.objects.get(cluster="nats", stream=stream, consumer="stuck")  # rows are replaced every sweep
    assert row.alerted_at == t2 and row.since == t1


def test_a_consumer_that_goes_away_changes_to_notfound(nats_urls, unique):
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 2)
    nats.add_consumer(url, stream, "doomed")
    config = adapters.find("nats", adapters.clusters(fresh=True))
    t0, t1 = times(2)
    sampling.sample([config], t0)
    sampling.sample([config], t1)
    nats.delete_streams(url, [stream])
    sampling.sample([config], t1 + STEP / 2)
    assert not LagStatus.objects.filter(cluster="nats", stream=stream).exists()
    moves = AuditEvent.objects.filter(action=alerts.STATUS_CHANGE, target=f"{stream}/doomed").order_by("id")
    assert [(e.params["from"], e.params["to"]) for e in moves] == [("OK", "ERR"), ("ERR", "NOTFOUND")]
    last = moves.last()
    assert last is not None and last.params["sampled_at"]


def test_resend_interval_counts_from_the_last_delivery(settings):
    settings.LAG_ALERT_RESEND_SECONDS = 600
    (now,) = times(1)
    row = LagStatus(status="ERR", alerted_at=now - timedelta(seconds=599))
    assert alerts._due([row], now) == []
    row.alerted_at = now - timedelta(seconds=600)
    assert alerts._due([row], now) == [row]
    assert alerts._due([LagStatus(status="OK", alerted_at=None)], now) == []


def test_unchanged_statuses_are_not_rewritten(nats_urls, unique, settings):
    settings.LAG_WINDOW = 2  # full from the second sweep on: a subject whose numbers hold stays the same
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.add_consumer(url, stream, "steady", filter_subject=f"{unique}.a")
    nats.add_consumer(url, stream, "moving", filter_subject=f"{unique}.b")
    nats.publish(url, [(f"{unique}.a", b"m", None), (f"{unique}.a", b"m", None), (f"{unique}.b", b"m", None)])
    nats.fetch_and_ack(url, stream, "steady", 2, 2)
    config = adapters.find("nats", adapters.clusters(fresh=True))
    t0, t1, t2 = times(3)
    sampling.sample([config], t0)
    sampling.sample([config], t1)
    before = {r.consumer: r for r in LagStatus.objects.filter(cluster="nats", stream=stream)}
    assert before["steady"].status == "OK" and before["moving"].total_lag == 1
    nats.publish(url, [(f"{unique}.b", b"m", None)])
    sampling.sample([config], t2)
    after = {r.consumer: r for r in LagStatus.objects.filter(cluster="nats", stream=stream)}
    assert after["moving"].at == t2 and after["moving"].total_lag == 2 and after["moving"].pk == before["moving"].pk
    assert after["steady"].at == before["steady"].at < t2 and after["steady"].pk == before["steady"].pk
    assert (after["steady"].status, after["steady"].since) == (before["steady"].status, before["steady"].since)
