"""Searching a JetStream stream end to end: data written by a plain nats-py client, the API starts
the search, a real Celery worker reads the stream on the real nats-server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from nats.aio.client import Client as NatsClient

from dev import devstack
from streams.audit import AuditEvent
from tests.nats import helpers as h
from tests.polling import wait_until
from tests.search.helpers import search_answer, wait_scanning
from tests.search.test_kafka_export import body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]

# About a millisecond of jq per message, so that a few thousand messages keep a search running.
SLOW = "reduce range(3000) as $i (0; . + $i) < 0"


@pytest.fixture(autouse=True)
def fresh_reads(settings: Any) -> None:
    settings.BROKER_CACHE_SECONDS = 0


@pytest.fixture
def url(nats_urls: tuple[str, str]) -> str:
    return nats_urls[0]


def fill(url: str, items: list[tuple[str, bytes, dict[str, str] | None]]) -> None:
    """Publish many messages, acknowledged a thousand at a time."""

    async def work(nc: NatsClient) -> None:
        js = nc.jetstream()
        for start in range(0, len(items), 1000):
            acks = [await js.publish_async(s, d, headers=hd) for s, d, hd in items[start : start + 1000]]
            await asyncio.gather(*acks)

    h.run(url, work)


def start(client: Client, stream: str, body: dict[str, Any], cluster: str = "nats") -> int:
    response = client.post(f"/api/v1/clusters/{cluster}/streams/{stream}/search", body, content_type="application/json")
    assert response.status_code == 202, response.content
    return int(response.json()["search"])


def no_consumers_left(url: str, name: str) -> bool:
    return wait_until(
        lambda: h.stream_info(url, name)["state"]["consumer_count"] == 0, timeout=5, message=f"no consumers on {name}"
    )


def test_viewer_finds_text_and_jq_matches_with_subject_filters(celery_worker, viewer_client, url, unique):
    name = h.create_own_stream(url, unique)
    fill(
        url,
        [
            (f"{unique}.{'b' if i % 2 else 'a'}", json.dumps({"order": i}).encode(), {"trace": f"t-{i}"})
            for i in range(200)
        ],
    )
    search = start(viewer_client, name, {"from": "beginning", "text": '"order": 142}'})
    final = search_answer(viewer_client, search)
    assert final["state"] == "done", final
    assert (final["scanned"], final["matched"], final["progress"], final["kind"]) == (200, 1, 1.0, "nats")
    [found] = final["results"]
    assert (found["seq"], found["subject"], found["value"]["text"]) == (143, f"{unique}.a", '{"order": 142}')
    assert found["headers"] == [["trace", {"text": "t-142", "base64": "dC0xNDI="}]]
    assert found["timestamp"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
    assert found["key"] is None

    by_header = search_answer(viewer_client, start(viewer_client, name, {"text": "t-19", "subject": f"{unique}.b"}))
    assert (by_header["scanned"], by_header["matched"]) == (100, 6)  # t-19, t-191 ... t-199 odd ones
    assert {m["subject"] for m in by_header["results"]} == {f"{unique}.b"}

    jq = '.value.order % 50 == 0 and (.subject | endswith(".a")) and .seq > 0 and (.timestamp | length) > 0'
    done = search_answer(viewer_client, start(viewer_client, name, {"jq": jq, "limit": 3}), page_size=2)
    assert (done["state"], done["matched"], done["total_results"], len(done["results"])) == ("done", 4, 3, 2)

    ranged = search_answer(viewer_client, start(viewer_client, name, {"from": {"seq": 11}, "until": {"seq": 21}}))
    assert (ranged["scanned"], [m["seq"] for m in ranged["results"]]) == (10, list(range(11, 21)))
    last = search_answer(viewer_client, start(viewer_client, name, {"from": {"last": 5}}))
    assert [m["seq"] for m in last["results"]] == [196, 197, 198, 199, 200]

    assert AuditEvent.objects.filter(action="nats.stream.search", target=name).count() == 5
    latest = AuditEvent.objects.filter(action="nats.stream.search").first()
    assert latest is not None and latest.params["ranges"] == {"seq": [196, 201]}
    # The ordered consumer was ephemeral and is gone; nothing durable was made.
    assert no_consumers_left(url, name)


def test_the_stream_page_form_starts_a_search_and_lands_on_its_page(celery_worker, viewer_client, url, unique):
    name = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.x", b"alpha", None), (f"{unique}.x", b"beta", None)])
    # The stream page's short form (``from=seq:N``) goes to the search page, as the page's own form does.
    response = viewer_client.post(f"/clusters/nats/streams/{name}/search", {"text": "bet", "from": "seq:1"})
    assert response.status_code == 303, response.content
    page = response["Location"]
    query = parse_qs(urlsplit(page).query)
    assert urlsplit(page).path == f"/clusters/nats/streams/{name}/search"
    assert (query["from"], query["from_n"], query["text"]) == (["seq"], ["1"], ["bet"])
    final = search_answer(viewer_client, int(query["search"][0]))
    assert (final["state"], [m["seq"] for m in final["results"]]) == ("done", [2])
    refused = viewer_client.post(f"/clusters/nats/streams/{name}/search", {"jq": ".a |||"})
    assert refused.status_code == 400 and b'data-field="jq"' in refused.content


def test_until_is_fixed_when_the_search_starts(celery_worker, viewer_client, url, unique):
    name = h.create_own_stream(url, unique)
    fill(url, [(f"{unique}.x", b"m%d" % i, None) for i in range(3000)])
    search = start(viewer_client, name, {"jq": SLOW})
    fill(url, [(f"{unique}.x", b"late", None) for _ in range(100)])
    final = search_answer(viewer_client, search, timeout=90)
    assert (final["state"], final["scanned"]) == ("done", 3000), final


def test_cancel_ends_a_running_search_with_what_it_scanned(celery_worker, viewer_client, url, unique):
    name = h.create_own_stream(url, unique)
    fill(url, [(f"{unique}.{'a' if i % 2 else 'b'}", b"m%d" % i, None) for i in range(5000)])
    search = start(viewer_client, name, {"jq": SLOW, "subject": f"{unique}.a"})
    wait_scanning(viewer_client, search)
    running = viewer_client.get(f"/api/v1/searches/{search}").json()
    # The fraction done counts the messages on the filter's subjects (the server's pending count), not sequences.
    assert running["progress"] == round(running["scanned"] / 2500, 4), running
    assert viewer_client.post(f"/api/v1/searches/{search}/cancel").status_code == 202
    final = search_answer(viewer_client, search)
    assert final["state"] == "cancelled" and 0 < final["scanned"] < 2500, final
    assert no_consumers_left(url, name)


def test_bad_input_is_a_400_naming_the_field(viewer_client, url, unique):
    name = h.create_own_stream(url, unique)
    api = f"/api/v1/clusters/nats/streams/{name}/search"
    for sent, field in (
        ({"jq": ".a |||"}, "jq"),
        ({"subject": "a..b"}, "subject"),
        ({"from": {"offset": 1}}, "from"),
        ({"until": {"seq": -1}}, "until"),
        ({"limit": 0}, "limit"),
    ):
        response = viewer_client.post(api, sent, content_type="application/json")
        assert (response.status_code, response.json()["field"]) == (400, field), sent
    missing = viewer_client.post(
        f"/api/v1/clusters/nats/streams/{name}_NONE/search", {}, content_type="application/json"
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("retention", ["workqueue", "interest"])
@pytest.mark.parametrize("allow_direct", [True, False], ids=["direct-get", "message-get"])
def test_search_and_export_leave_a_consuming_stream_untouched(
    celery_worker, viewer_client, url, unique, retention, allow_direct
):
    name = h.create_own_stream(url, unique, retention=retention, allow_direct=allow_direct)
    if retention == "interest":
        h.add_consumer(url, name, "worker")  # an interest stream keeps a message only while a consumer wants it
    fill(url, [(f"{unique}.{'odd' if i % 2 else 'even'}", b"job %d" % i, None) for i in range(1, 301)])
    before = h.stream_info(url, name)

    search = search_answer(viewer_client, start(viewer_client, name, {"text": "job 1", "subject": f"{unique}.odd"}))
    assert search["state"] == "done", search
    assert search["matched"] == len([i for i in range(1, 301, 2) if str(i).startswith("1")])
    ranged = search_answer(viewer_client, start(viewer_client, name, {"from": {"seq": 290}, "until": "now"}))
    assert [m["seq"] for m in ranged["results"]] == list(range(290, 301))
    exported = body(viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/export"))
    assert len(exported.splitlines()) == 300

    after = h.stream_info(url, name)
    assert json.dumps(after["state"], sort_keys=True) == json.dumps(before["state"], sort_keys=True)
    assert after["config"] == before["config"]
    if retention == "interest":
        assert h.consumer_info(url, name, "worker")["num_pending"] == 300


def test_a_stream_deleted_mid_search_fails_the_search_with_the_reason(celery_worker, viewer_client, url, unique):
    name = h.create_own_stream(url, unique)
    fill(url, [(f"{unique}.x", b"m%d" % i, None) for i in range(20_000)])
    search = start(viewer_client, name, {"jq": SLOW})
    wait_scanning(viewer_client, search)
    h.run(url, lambda nc: h.api(nc, f"STREAM.DELETE.{name}"))
    final = search_answer(viewer_client, search, timeout=90)
    assert final["state"] == "failed", final
    assert name in final["error"] and "deleted" in final["error"] and "scanned" in final["error"]
    assert 0 < final["scanned"] < 20_000


def test_a_server_that_stops_mid_search_fails_it_with_what_was_scanned(celery_worker, viewer_client, tmp_path, unique):
    from streams.models import Cluster

    server = devstack.nats_server(tmp_path).start()
    url = f"nats://127.0.0.1:{server.port}"
    try:
        Cluster.objects.create(slug="private-nats", kind="nats", name="Private", servers=url)
        name = h.create_own_stream(url, unique)
        fill(url, [(f"{unique}.x", b"m%d" % i, None) for i in range(20_000)])
        search = start(viewer_client, name, {"jq": SLOW}, cluster="private-nats")
        wait_scanning(viewer_client, search)
        server.stop()
        final = search_answer(viewer_client, search, timeout=90)
    finally:
        server.stop()
    assert final["state"] == "failed", final
    assert "NATS" in final["error"] and f"{final['scanned']:,} messages were scanned" in final["error"]
    assert 0 < final["scanned"] < 20_000
