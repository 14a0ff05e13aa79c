"""Searching a topic end to end: the API starts a search, a real Celery worker scans the range
on a real broker, and the search's row tells progress, matches and its end."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from streams import adapters
from streams.audit import AuditEvent
from streams.models import Cluster
from tests.kafka import helpers as kh
from tests.search.helpers import search_answer, wait_scanning

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]


def start(client: Client, topic: str, body: dict[str, Any]) -> int:
    response = client.post(f"/api/v1/clusters/kafka/topics/{topic}/search", body, content_type="application/json")
    assert response.status_code == 202, response.content
    return int(response.json()["search"])


def test_viewer_finds_substring_and_jq_matches_across_partitions(celery_worker, viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique, partitions=2)
    for p in (0, 1):
        kh.produce(
            kafka_bootstrap,
            topic,
            [json.dumps({"order": p * 100 + i, "note": "x"}) for i in range(100)],
            partition=p,
            headers=[("trace", b"t-4711" if p == 1 else b"none")],
        )
    search = start(viewer_client, topic, {"from": "beginning", "text": '"order": 142,'})
    final = search_answer(viewer_client, search)
    assert final["state"] == "done", final
    assert (final["scanned"], final["matched"], final["progress"]) == (200, 1, 1.0)
    assert [(m["partition"], m["offset"]) for m in final["results"]] == [(1, 42)]

    by_header = search_answer(viewer_client, start(viewer_client, topic, {"from": "beginning", "text": "4711"}))
    assert by_header["matched"] == 100

    jq = start(viewer_client, topic, {"from": "beginning", "jq": ".value.order % 50 == 0", "limit": 3})
    done = search_answer(viewer_client, jq, page_size=2)
    assert (done["state"], done["matched"], done["total_results"], len(done["results"])) == ("done", 4, 3, 2)
    assert AuditEvent.objects.filter(action="kafka.topic.search", target=topic).count() == 3


def test_bad_jq_is_a_400_naming_jq(viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    response = viewer_client.post(
        f"/api/v1/clusters/kafka/topics/{topic}/search", {"jq": ".a |||"}, content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "jq" and "syntax error" in body["error"]


def test_a_search_belongs_to_its_user(celery_worker, viewer_client, operator, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, ["a", "b"])
    search = start(viewer_client, topic, {"from": "beginning", "text": "a"})
    other = Client()
    other.force_login(operator)
    assert other.get(f"/api/v1/searches/{search}").status_code == 404
    assert other.post(f"/api/v1/searches/{search}/cancel").status_code == 404
    assert search_answer(viewer_client, search)["matched"] == 1


def test_a_cluster_added_just_before_a_search_is_the_one_it_reads(
    celery_worker, viewer_client, kafka_bootstrap, unique
):
    """The worker reads clusters afresh for a search: the one before it (a second earlier) must not
    leave it a list without the cluster just added."""
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, ["a", "b"])
    assert search_answer(viewer_client, start(viewer_client, topic, {"from": "beginning"}))["state"] == "done"
    slug = f"added-{unique}"
    Cluster.objects.create(slug=slug, kind="kafka", name="Added", servers=kafka_bootstrap)
    adapters.clusters(fresh=True)
    response = viewer_client.post(
        f"/api/v1/clusters/{slug}/topics/{topic}/search", {"from": "beginning"}, content_type="application/json"
    )
    assert response.status_code == 202, response.content
    final = search_answer(viewer_client, int(response.json()["search"]))
    assert (final["state"], final["scanned"]) == ("done", 2), final


# About a millisecond of jq per message, so that a few thousand messages keep a search running.
SLOW = "reduce range(3000) as $i (0; . + $i) < 0"


def test_cancel_ends_a_running_search_with_what_it_scanned(celery_worker, viewer_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, [f"m{i}" for i in range(20_000)])
    search = start(viewer_client, topic, {"from": "beginning", "jq": SLOW})
    wait_scanning(viewer_client, search)
    running = viewer_client.get(f"/api/v1/searches/{search}").json()
    assert running["state"] == "running" and 0 < running["progress"] < 1 and running["rate"] > 0
    assert viewer_client.post(f"/api/v1/searches/{search}/cancel").status_code == 202
    final = search_answer(viewer_client, search)
    assert final["state"] == "cancelled" and 0 < final["scanned"] < 20_000
    assert viewer_client.post(f"/api/v1/searches/{search}/cancel").status_code == 409


def test_a_topic_deleted_mid_search_fails_the_search_with_the_reason(
    celery_worker, viewer_client, kafka_bootstrap, unique
):
    if kh.KAFKA_BROKER == "tansu":
        pytest.skip("tansu re-creates a deleted topic as soon as a client's metadata request names it")
    topic = kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, topic, [f"m{i}" for i in range(20_000)])
    search = start(viewer_client, topic, {"from": "beginning", "jq": SLOW})
    wait_scanning(viewer_client, search)
    client = kh.admin(kafka_bootstrap)
    client.delete_topics([topic], operation_timeout=10)[topic].result(10)
    final = search_answer(viewer_client, search, timeout=90)
    assert final["state"] == "failed", final
    assert topic in final["error"] and "scanned" in final["error"] and final["scanned"] < 20_000


@pytest.mark.django_db
def test_a_results_page_beyond_any_search_is_bad_input(viewer_client, viewer):
    from streams.search.models import Search

    search = Search.objects.create(cluster="kafka", target="t", params={"text": "x"}, created_by=viewer)
    far = viewer_client.get(f"/api/v1/searches/{search.pk}", {"page": 2**62})
    assert far.status_code == 400 and far.json()["field"] == "page"
    last = viewer_client.get(f"/api/v1/searches/{search.pk}", {"page": 1_000_000})
    assert last.status_code == 200 and last.json()["results"] == []
