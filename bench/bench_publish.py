"""Publishing: bulk rates to Kafka, NATS core and JetStream as ratios to a bare client loop doing
the same work in the same run, and the single-publish API round trip.

The bulk figures run the Celery task's body (``streams.publish.bulk.run``) in this process, so
they measure Streamdesk's sending loop (placeholders rendered per message, delivery confirmed,
progress written to the database) without the queue hop in front of it. The bare loops confirm
delivery the same way: Kafka delivery reports, a NATS round trip at the end, JetStream acks.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import command, django_on, kafka_label, kafka_server, machine

KAFKA_N = 200_000
NATS_N = 300_000
JS_N = 50_000
ROUND_TRIPS = 300
VALUE = '{"order": {{i}}, "customer": "ada", "total": 42.5}'
TARGET_RATIO = 0.8


def bare_kafka(bootstrap: str, topic: str, n: int) -> float:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    delivered = 0

    def done(err: Any, msg: Any) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1

    started = time.perf_counter()
    for i in range(n):
        value = VALUE.replace("{{i}}", str(i)).encode()
        while True:
            try:
                producer.produce(topic, value, b"k", on_delivery=done)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    assert delivered == n, delivered
    return n / elapsed


async def _bare_nats(url: str, subject: str, n: int, jetstream: bool) -> float:
    import nats

    nc = await nats.connect(url)
    try:
        started = time.perf_counter()
        if jetstream:
            js = nc.jetstream()
            acks = []
            for i in range(n):
                acks.append(await js.publish_async(subject, VALUE.replace("{{i}}", str(i)).encode()))
                if len(acks) >= 1000:
                    await asyncio.gather(*acks)
                    acks = []
            await asyncio.gather(*acks)
        else:
            for i in range(n):
                await nc.publish(subject, VALUE.replace("{{i}}", str(i)).encode())
            await nc.flush(30)
        return n / (time.perf_counter() - started)
    finally:
        await nc.close()


def streamdesk_bulk(kind: str, target: str, n: int, spec: dict[str, Any]) -> float:
    from streams.publish import bulk
    from streams.publish.models import PublishJob

    job = PublishJob.objects.create(kind=kind, cluster=kind, target=target, spec=spec, total=n)
    started = time.perf_counter()
    bulk.run(job.pk)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    assert job.state == "done" and job.sent == n, (job.state, job.sent, job.error)
    return n / elapsed


def round_trips(path: str, body: dict[str, Any]) -> tuple[float, float]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})[0]
    user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    samples = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        response = client.post(path, body, content_type="application/json")
        samples.append(time.perf_counter() - started)
        assert response.status_code in (200, 201), response.content
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def measure(bootstrap: str, nats_url: str) -> dict[str, Any]:
    from tests.kafka.helpers import create_topic
    from tests.nats.helpers import create_stream

    create_topic(bootstrap, "bench-bare", 1)
    create_topic(bootstrap, "bench-ours", 1)
    create_topic(bootstrap, "bench-single", 1)
    create_stream(nats_url, "BENCH", ["bench.js.>"])
    r: dict[str, Any] = {}
    # Alternate bare and ours, twice, and keep each one's best: the machine is shared and noisy.
    for _ in range(2):
        r.setdefault("kafka_bare", []).append(bare_kafka(bootstrap, "bench-bare", KAFKA_N))
        spec = {"key": "k", "value": VALUE, "encoding": "text"}
        r.setdefault("kafka_ours", []).append(streamdesk_bulk("kafka", "bench-ours", KAFKA_N, spec))
        r.setdefault("nats_bare", []).append(asyncio.run(_bare_nats(nats_url, "bench.core", NATS_N, False)))
        r.setdefault("nats_ours", []).append(streamdesk_bulk("nats", "bench.core", NATS_N, {"value": VALUE}))
        r.setdefault("js_bare", []).append(asyncio.run(_bare_nats(nats_url, "bench.js.bare", JS_N, True)))
        js_spec = {"value": VALUE, "mode": "jetstream"}
        r.setdefault("js_ours", []).append(streamdesk_bulk("nats", "bench.js.ours", JS_N, js_spec))
    r["kafka_rt"] = round_trips("/api/v1/clusters/kafka/topics/bench-single/publish", {"value": "x", "key": "k"})
    r["nats_rt"] = round_trips("/api/v1/clusters/nats/publish", {"subject": "bench.rt", "value": "x"})
    r["js_rt"] = round_trips(
        "/api/v1/clusters/nats/publish", {"subject": "bench.js.rt", "value": "x", "mode": "jetstream"}
    )
    return r


def report(r: dict[str, Any]) -> str:
    def row(what: str, bare: str, ours: str, target: str) -> str:
        best_bare, best_ours = max(r[bare]), max(r[ours])
        ratio = best_ours / best_bare
        met = "" if not target else ("yes" if ratio >= TARGET_RATIO else "**no**")
        return f"| {what} | {best_bare:,.0f} msg/s | {best_ours:,.0f} msg/s | {ratio:.2f}x | {target} | {met} |"

    def rt(what: str, key: str) -> str:
        p50, p99 = r[key]
        return f"| {what} | {p50 * 1000:.1f} ms | {p99 * 1000:.1f} ms |"

    return "\n".join(
        [
            "## Publishing",
            "",
            f"Measured on {machine()}, against {kafka_label()} and nats-server 2.15 on localhost, started by "
            "the benchmark. Bulk: the Celery task's body run in this process against a bare client loop sending "
            "the same messages (a JSON value with its index rendered in, delivery confirmed) in the same run, "
            "alternating, best of two each.",
            "",
            "| Bulk publish | Bare client loop | Streamdesk | Ratio | Target | Met |",
            "|---|---:|---:|---:|---|---|",
            row(f"Kafka, {KAFKA_N:,} messages", "kafka_bare", "kafka_ours", "≥ 0.8x"),
            row(f"NATS core, {NATS_N:,} messages", "nats_bare", "nats_ours", "≥ 0.8x"),
            row(f"JetStream with acks, {JS_N:,} messages", "js_bare", "js_ours", ""),
            "",
            f"Single publish through the API (Django's test client, {ROUND_TRIPS} in a row, delivery confirmed "
            "before the answer):",
            "",
            "| Single publish | p50 | p99 |",
            "|---|---:|---:|",
            rt("Kafka topic (partition and offset answered)", "kafka_rt"),
            rt("NATS core (answered after a server round trip)", "nats_rt"),
            rt("JetStream (stream and sequence answered)", "js_rt"),
            "",
            command("publish"),
            "",
        ]
    )


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="streamdesk-bench-publish-"))
    from dev import devstack

    nats_server = devstack.nats_server(workdir).start()
    url = f"nats://127.0.0.1:{nats_server.port}"
    try:
        with (
            kafka_server(workdir) as bootstrap,
            django_on(workdir, {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "NATS_URL": url}),
        ):
            print(report(measure(bootstrap, url)))
    finally:
        nats_server.stop()


if __name__ == "__main__":
    main()
