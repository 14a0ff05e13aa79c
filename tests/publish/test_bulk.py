"""Bulk publishing end to end: the API queues a job, a real Celery worker sends it, the job
row tells its progress, and independent clients count what arrived."""

from __future__ import annotations

import os

import pytest

from dev import devstack
from streams.models import Cluster
from tests.kafka import helpers as kh
from tests.nats import helpers as h
from tests.publish.helpers import Collector, job_answers, read_topic, read_topic_to_end, start_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("celery"), pytest.mark.slow]


def test_kafka_bulk_sends_every_message_in_order_with_progress(celery_worker, operator_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique, partitions=2)
    job = start_job(
        operator_client,
        f"/api/v1/clusters/kafka/topics/{topic}/publish",
        {"key": "k", "value": "order {{i}}", "partition": 1, "count": 1500, "rate": 1000},
    )
    seen = job_answers(operator_client, job, ("done", "failed"))
    final = seen[-1]
    assert final["state"] == "done" and (final["sent"], final["failed"], final["total"]) == (1500, 0, 1500)
    assert final["started_at"] and final["finished_at"] and final["error"] is None
    assert any(0 < s["sent"] < 1500 and s["state"] == "running" for s in seen), "no progress was reported"
    records = read_topic(kafka_bootstrap, topic, [0, 1], expect=1500)
    assert [r.value for r in records] == [f"order {i}".encode() for i in range(1500)]
    assert {r.partition for r in records} == {1}


def test_cancel_stops_a_running_job_and_counts_what_was_sent(celery_worker, operator_client, kafka_bootstrap, unique):
    topic = kh.create_topic(kafka_bootstrap, unique)
    job = start_job(
        operator_client,
        f"/api/v1/clusters/kafka/topics/{topic}/publish",
        {"value": "{{i}}", "count": 100_000, "rate": 300},
    )
    job_answers(operator_client, job, ("running",), sending=True)
    cancel = operator_client.post(f"/api/v1/jobs/{job}/cancel")
    assert cancel.status_code == 202
    final = job_answers(operator_client, job, ("cancelled", "done", "failed"))[-1]
    assert final["state"] == "cancelled" and 0 < final["sent"] < 100_000
    records = read_topic_to_end(kafka_bootstrap, topic, [0])
    assert len(records) == final["sent"]
    assert operator_client.post(f"/api/v1/jobs/{job}/cancel").status_code == 409


def test_nats_core_and_jetstream_bulk(celery_worker, operator_client, nats_urls, unique):
    url = nats_urls[0]
    with Collector(url, f"{unique}.core") as seen:
        job = start_job(
            operator_client,
            "/api/v1/clusters/nats/publish",
            {"subject": f"{unique}.core", "value": "{{i}}", "count": 3000},
        )
        final = job_answers(operator_client, job, ("done", "failed"))[-1]
        assert final["state"] == "done" and final["sent"] == 3000
        assert [m.data for m in seen.wait_for(3000)] == [str(i).encode() for i in range(3000)]

    stream = h.create_own_stream(url, unique, [f"{unique}.js.>"])
    job = start_job(
        operator_client,
        "/api/v1/clusters/nats/publish",
        {"subject": f"{unique}.js.x", "value": "m", "mode": "jetstream", "msg_id": "id-{{i}}", "count": 500},
    )
    final = job_answers(operator_client, job, ("done", "failed"))[-1]
    assert final["state"] == "done" and final["sent"] == 500
    assert h.stream_info(url, stream)["state"]["messages"] == 500
    missing = operator_client.post(
        "/api/v1/clusters/nats/publish",
        {"subject": f"{unique}.nowhere", "value": "m", "mode": "jetstream", "count": 5},
        content_type="application/json",
    )
    assert missing.status_code == 404 and missing.json()["field"] == "subject"


def test_a_broker_that_dies_fails_the_job_with_the_count_really_sent(celery_worker, operator_client, tmp_path, unique):
    server = devstack.tansu_server(tmp_path).start()
    try:
        bootstrap = f"127.0.0.1:{server.port}"
        Cluster.objects.create(slug="doomed", kind="kafka", name="Doomed", servers=bootstrap)
        kh.create_topic(bootstrap, unique)
        job = start_job(
            operator_client,
            f"/api/v1/clusters/doomed/topics/{unique}/publish",
            {"value": "x", "count": 50_000, "rate": 400},
        )
        job_answers(operator_client, job, ("running",), sending=True)
        server.stop()
        final = job_answers(operator_client, job, ("failed", "done"), timeout=90)[-1]
    finally:
        server.stop()
    assert final["state"] == "failed" and final["error"]
    assert 0 < final["sent"] < 50_000


def test_jobs_list_and_page_survive_a_reload(celery_worker, operator_client, nats_urls, unique):
    job = start_job(
        operator_client, "/api/v1/clusters/nats/publish", {"subject": f"{unique}.p", "value": "v", "count": 10}
    )
    job_answers(operator_client, job, ("done",))
    listing = operator_client.get("/api/v1/jobs").json()
    assert listing["items"][0]["id"] == job and listing["items"][0]["created_by"] == "olivia"
    page = operator_client.get(f"/jobs/{job}")
    assert page.status_code == 200 and b'data-state="done"' in page.content
    assert b"10 sent of 10" in page.content.replace(b"</span>", b"").replace(b"<span data-sent>", b"")


def test_bulk_jobs_have_their_own_queue_and_a_worker_without_q_consumes_it(celery_worker, operator_client, unique):
    from console.celery import app

    route = app.amqp.router.route({}, "streams.publish.run_job")
    assert route["queue"].name == "bulk"
    assert app.amqp.router.route({}, "streams.tasks.refresh_cluster_health")["queue"].name == "celery"
    # The session's worker was started as `celery -A console worker`, without -Q.
    replies = app.control.inspect(timeout=5).active_queues() or {}
    mine = next(queues for name, queues in replies.items() if name.startswith(f"test-{os.getpid()}@"))
    assert {q["name"] for q in mine} == {"celery", "bulk"}
    job = start_job(
        operator_client, "/api/v1/clusters/nats/publish", {"subject": f"{unique}.q", "value": "v", "count": 3}
    )
    assert job_answers(operator_client, job, ("done", "failed"))[-1]["state"] == "done"


def test_a_paced_job_longer_than_the_time_limit_is_refused_before_it_starts(operator_client, unique):
    response = operator_client.post(
        "/api/v1/clusters/nats/publish",
        {"subject": f"{unique}.slow", "value": "v", "count": 1_000_000, "rate": 10},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["field"] == "rate"
    assert "STREAMDESK_BULK_TIME_LIMIT_SECONDS" in response.json()["error"]
