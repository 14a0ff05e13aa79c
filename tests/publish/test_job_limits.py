"""What a bulk job enforces itself: the size cap on every generated message, its time limit, and
read-only mode when it starts. The task body runs here, in-process, against the real brokers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from streams.publish import bulk
from streams.publish.models import PublishJob, Target
from tests.kafka import helpers as kh
from tests.nats import helpers as h
from tests.publish.helpers import Collector, read_topic_to_end

pytestmark = pytest.mark.django_db(transaction=True)

# Messages 0..999 come out at 98 to 100 bytes; message 1000 at 101.
GROWING: dict[str, Any] = {"value": "x" * 97 + "{{i}}", "encoding": "text", "headers": []}


def job(kind: str, cluster: str, target: str, total: int, rate: float | None = None, **spec: Any) -> PublishJob:
    return PublishJob.objects.create(kind=kind, cluster=cluster, target=target, spec=spec, total=total, rate=rate)


def finished(created: PublishJob) -> PublishJob:
    bulk.run(created.pk)
    return PublishJob.objects.get(pk=created.pk)


@override_settings(PUBLISH_MAX_BYTES=100)
def test_a_kafka_message_grown_past_the_cap_ends_the_job_at_it(kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    done = finished(job(Target.KAFKA, "kafka", unique, 5000, **GROWING))
    assert (done.state, done.sent, done.failed) == ("failed", 1000, 0)
    assert done.error.startswith("Message 1000 (0-based) is 101 bytes; Streamdesk (STREAMDESK_PUBLISH_MAX_BYTES)")
    records = read_topic_to_end(kafka_bootstrap, unique, [0])
    assert [r.value for r in records] == [f"{'x' * 97}{i}".encode() for i in range(1000)]


@override_settings(PUBLISH_MAX_BYTES=100)
def test_a_kafka_key_counts_too(kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    done = finished(job(Target.KAFKA, "kafka", unique, 50, key="k" * 90 + "{{i}}", value="123456789"))
    assert (done.state, done.sent) == ("failed", 10) and "Message 10 (0-based) is 101 bytes" in done.error
    # The same message every time (the cap lowered after the job was queued): measured once.
    done = finished(job(Target.KAFKA, "kafka", unique, 50, key="k", value="v" * 100))
    assert (done.state, done.sent) == ("failed", 0) and "Message 0 (0-based) is 101 bytes" in done.error


@override_settings(PUBLISH_MAX_BYTES=100)
def test_a_nats_message_grown_past_the_cap_ends_the_job_at_it(nats_urls, unique):
    url = nats_urls[0]
    with Collector(url, f"{unique}.core") as seen:
        done = finished(job(Target.NATS, "nats", f"{unique}.core", 5000, **GROWING))
        assert (done.state, done.sent, done.failed) == ("failed", 1000, 0)
        assert "Message 1000 (0-based) is 101 bytes" in done.error
        assert len(seen.everything_before_now()) == 1000

    stream = h.create_own_stream(url, unique, [f"{unique}.js"])
    done = finished(job(Target.NATS, "nats", f"{unique}.js", 5000, mode="jetstream", **GROWING))
    assert (done.state, done.sent) == ("failed", 1000) and "Message 1000 (0-based)" in done.error
    assert h.stream_info(url, stream)["state"]["messages"] == 1000
    # With a Nats-Msg-Id per message, the header counts too: 85 + 11 + 4 bytes, 5 from "id-10" on.
    done = finished(job(Target.NATS, "nats", f"{unique}.js", 50, mode="jetstream", msg_id="id-{{i}}", value="x" * 85))
    assert (done.state, done.sent) == ("failed", 10) and "Message 10 (0-based) is 101 bytes" in done.error


def test_the_servers_max_payload_applies_to_generated_nats_messages(nats_urls, unique):
    with Collector(nats_urls[0], f"{unique}.big") as seen, override_settings(PUBLISH_MAX_BYTES=10 * 1024 * 1024):
        huge: dict[str, Any] = {"value": "x" * (1024 * 1024 - 1) + "{{i}}", "encoding": "text", "headers": []}
        done = finished(job(Target.NATS, "nats", f"{unique}.big", 20, **huge))
        assert len(seen.everything_before_now()) == 10
    assert (done.state, done.sent) == ("failed", 10)
    limit = "this NATS server (max_payload) takes at most 1,048,576"
    assert f"Message 10 (0-based) is 1,048,577 bytes; {limit}" in done.error


@override_settings(BULK_TIME_LIMIT_SECONDS=1.0)
def test_a_job_stops_itself_at_the_time_limit_and_counts_what_it_sent(nats_urls, kafka_bootstrap, unique):
    with Collector(nats_urls[0], f"{unique}.slow") as seen:
        done = finished(job(Target.NATS, "nats", f"{unique}.slow", 100_000, value="{{i}}", rate=200))
        assert done.state == "failed" and 50 < done.sent < 1000 and "time limit" in done.error
        assert "STREAMDESK_BULK_TIME_LIMIT_SECONDS" in done.error
        assert len(seen.everything_before_now()) == done.sent
    kh.create_topic(kafka_bootstrap, unique)
    done = finished(job(Target.KAFKA, "kafka", unique, 100_000, value="{{i}}", rate=200))
    assert done.state == "failed" and 50 < done.sent < 1000 and "time limit" in done.error
    assert len(read_topic_to_end(kafka_bootstrap, unique, [0])) == done.sent


def test_celery_time_limits_back_the_jobs_own():
    from streams.publish.tasks import run_publish_job

    limit = settings.BULK_TIME_LIMIT_SECONDS
    assert (run_publish_job.soft_time_limit, run_publish_job.time_limit) == (limit + 60, limit + 120)


@override_settings(READ_ONLY=True)
def test_a_queued_job_that_starts_in_read_only_mode_is_refused_and_sends_nothing(nats_urls, unique):
    with Collector(nats_urls[0], f"{unique}.ro") as seen:
        done = finished(job(Target.NATS, "nats", f"{unique}.ro", 10, value="v"))
        assert (done.state, done.sent, done.started_at) == ("failed", 0, None) and done.finished_at
        assert done.error == "Refused: Streamdesk runs read-only (STREAMDESK_READ_ONLY); nothing was sent."
        assert seen.everything_before_now() == []


def test_a_running_job_whose_worker_stopped_reporting_ends_failed_once_stale():
    from asgiref.sync import async_to_sync

    from streams.publish.actions import STALE_AFTER, expire_stale_jobs

    running = job(Target.NATS, "nats", "t", 10)
    PublishJob.objects.filter(pk=running.pk).update(state="running")
    reported = PublishJob.objects.get(pk=running.pk).updated_at
    async_to_sync(expire_stale_jobs)(now=reported + STALE_AFTER)
    assert PublishJob.objects.get(pk=running.pk).state == "running"
    async_to_sync(expire_stale_jobs)(now=reported + STALE_AFTER + timedelta(seconds=1))
    stale = PublishJob.objects.get(pk=running.pk)
    assert (stale.state, stale.finished_at) == ("failed", reported + STALE_AFTER + timedelta(seconds=1))
    assert "stopped reporting" in stale.error


def test_a_job_is_out_of_time_from_its_expiry_on_and_stays_so():
    created = job(Target.NATS, "nats", "t", 10)
    control = bulk.Control(created.pk, expires_at=100.0)
    progress = bulk.Progress()
    assert not control.tick(progress, force=True, now=99.9) and not control.expired
    assert control.tick(progress, force=True, now=100.0) and control.expired
    assert control.tick(progress, force=True, now=50.0), "an expired job does not come back to life"
    assert not control.cancelled
