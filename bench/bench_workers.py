"""Managed consumers: throughput of the ``discard`` and ``forward`` handlers against a bare client
loop doing the same work in the same run, for Kafka and JetStream; and how long pause and resume
take to be felt, through a real runconsumers process.

Throughput runs one consumer loop (``KafkaLoop``/``NatsLoop``, as runconsumers runs them) in this
process and a bare loop on the same client library: consume a batch, (forward every message with
its headers plus provenance headers, confirm delivery,) commit or acknowledge, repeat. Both are
timed from their first batch to the last message, so the group join is left out of both.

Pause and resume: a runconsumers process runs a handler that stamps the time of each call while
messages keep arriving; the pause and resume action functions are called as the page calls them
(the Redis notification wakes the runner). Pause: from the call to the last handler call.
Resume: from the call to the first handler call after it.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._common import command, django_on, kafka_label, kafka_server, machine

KAFKA_N = 200_000
NATS_N = 100_000
BATCH = 500
TARGET = 0.8
ROUNDS = 5
VALUE = b'{"order": 12345, "customer": "ada", "total": 42.5}'
ROOT = Path(__file__).resolve().parent.parent


# -- bare loops ---------------------------------------------------------------------------------------


def bare_kafka(bootstrap: str, topic: str, group: str, n: int, forward_to: str | None) -> float:
    from confluent_kafka import Consumer, Producer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"}) if forward_to else None
    consumer.subscribe([topic])
    seen, started, counted = 0, 0.0, 0
    try:
        while seen < n:
            batch = consumer.consume(BATCH, 0.1)
            if not batch:
                continue
            if not started:
                started, counted = time.perf_counter(), len(batch)
            if producer is not None:
                for msg in batch:
                    headers = [
                        *(msg.headers() or ()),
                        ("streamdesk-origin-cluster", b"kafka"),
                        ("streamdesk-origin-topic", msg.topic().encode()),
                        ("streamdesk-origin-partition", str(msg.partition()).encode()),
                        ("streamdesk-origin-offset", str(msg.offset()).encode()),
                        ("streamdesk-consumer", b"bare"),
                    ]
                    producer.produce(forward_to, msg.value(), msg.key(), headers=headers)
                producer.flush(30)
            consumer.commit(asynchronous=False)
            seen += len(batch)
    finally:
        consumer.close()
    return (n - counted) / (time.perf_counter() - started)


async def _bare_nats(url: str, stream: str, durable: str, n: int, forward_to: str | None) -> float:
    import nats
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_consumer(stream, durable_name=durable, ack_policy="explicit", deliver_policy="all")
        sub = await js.pull_subscribe_bind(durable, stream)
        seen, started, counted = 0, 0.0, 0
        while seen < n:
            try:
                batch = await sub.fetch(BATCH, timeout=0.5)
            except NatsTimeout:
                continue
            if not started:
                started, counted = time.perf_counter(), len(batch)
            if forward_to:
                for msg in batch:
                    meta = msg.metadata
                    headers = {
                        **(msg.headers or {}),
                        "streamdesk-origin-cluster": "nats",
                        "streamdesk-origin-stream": stream,
                        "streamdesk-origin-subject": msg.subject,
                        "streamdesk-origin-seq": str(meta.sequence.stream),
                        "streamdesk-consumer": "bare",
                    }
                    await nc.publish(forward_to, msg.data, headers=headers)
                try:
                    await nc.request(nc.new_inbox(), b"", timeout=5)
                except NoRespondersError:
                    pass
            for msg in batch:
                await msg.ack()
            seen += len(batch)
        return (n - counted) / (time.perf_counter() - started)
    finally:
        await nc.close()


# -- Streamdesk's loops -------------------------------------------------------------------------------


def ours(kind: str, source: str, group: str, n: int, handler: str, config: dict[str, Any]) -> float:
    from streams import adapters
    from streams.workers.kafka_loop import KafkaLoop
    from streams.workers.loop import ConsumerLoop, Spec
    from streams.workers.nats_loop import NatsLoop

    spec = Spec(
        id=0, name=group, cluster=kind, source_kind="topic" if kind == "kafka" else "stream", source=source,
        group=group, filter_subject="", handler=handler, config=config, start="earliest", batch_size=BATCH,
        concurrency=1, max_retries=0, retry_backoff_ms=0, retry_backoff_max_ms=0, dead_letter=None, generation=1,
        desired="running",
    )  # fmt: skip
    clusters = adapters.clusters(fresh=True)
    loop: ConsumerLoop = (KafkaLoop if kind == "kafka" else NatsLoop)(
        spec, lambda slug: adapters.find(slug, clusters), "bench"
    )
    loop.start()
    try:
        while loop.stats.processed == 0:
            assert loop.error is None or loop.state != "failing", loop.error
            time.sleep(0.005)
        started, counted = time.perf_counter(), loop.stats.processed
        while loop.stats.processed < n:
            time.sleep(0.005)
        return (n - counted) / (time.perf_counter() - started)
    finally:
        loop.request_stop()
        loop.join(30)


# -- setup --------------------------------------------------------------------------------------------


def fill_kafka(bootstrap: str, topic: str, n: int) -> None:
    from confluent_kafka import Producer

    from tests.kafka.helpers import create_topic

    create_topic(bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i in range(n):
        while True:
            try:
                producer.produce(topic, VALUE, b"k", headers=[("trace", b"t")])
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def fill_stream(url: str, stream: str, subject: str, n: int) -> None:
    import nats

    from tests.nats.helpers import create_stream

    create_stream(url, stream, [f"{subject}.>"])

    async def work() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        acks = []
        for _ in range(n):
            acks.append(await js.publish_async(f"{subject}.x", VALUE, headers={"trace": "t"}))
            if len(acks) >= 2000:
                await asyncio.gather(*acks)
                acks = []
        await asyncio.gather(*acks)
        await nc.close()

    asyncio.run(work())


def throughput(bootstrap: str, url: str) -> dict[str, list[float]]:
    from tests.kafka.helpers import create_topic

    r: dict[str, list[float]] = {}
    fill_kafka(bootstrap, "bench-in", KAFKA_N)
    create_topic(bootstrap, "bench-out", 1)
    fill_stream(url, "BENCHIN", "bench.in", NATS_N)
    for round_ in range(2):
        r.setdefault("kafka_discard_bare", []).append(
            bare_kafka(bootstrap, "bench-in", f"bare-d{round_}", KAFKA_N, None)
        )
        r.setdefault("kafka_discard_ours", []).append(
            ours("kafka", "bench-in", f"ours-d{round_}", KAFKA_N, "discard", {})
        )
        r.setdefault("kafka_forward_bare", []).append(
            bare_kafka(bootstrap, "bench-in", f"bare-f{round_}", KAFKA_N, "bench-out")
        )
        r.setdefault("kafka_forward_ours", []).append(
            ours("kafka", "bench-in", f"ours-f{round_}", KAFKA_N, "forward", {"cluster": "kafka", "topic": "bench-out"})
        )
        r.setdefault("nats_discard_bare", []).append(
            asyncio.run(_bare_nats(url, "BENCHIN", f"bare-d{round_}", NATS_N, None))
        )
        r.setdefault("nats_discard_ours", []).append(ours("nats", "BENCHIN", f"ours-d{round_}", NATS_N, "discard", {}))
        r.setdefault("nats_forward_bare", []).append(
            asyncio.run(_bare_nats(url, "BENCHIN", f"bare-f{round_}", NATS_N, "bench.out"))
        )
        r.setdefault("nats_forward_ours", []).append(
            ours("nats", "BENCHIN", f"ours-f{round_}", NATS_N, "forward", {"cluster": "nats", "subject": "bench.out"})
        )
    return r


# -- pause and resume through a runconsumers process ------------------------------------------------------


def stamps(path: Path) -> list[float]:
    try:
        return [float(line) for line in path.read_text().split()]
    except FileNotFoundError:
        return []


def pause_resume(workdir: Path, env: dict[str, str], bootstrap: str, url: str) -> dict[str, list[float]]:
    from asgiref.sync import async_to_sync

    from streams.workers import actions
    from streams.workers.models import ManagedConsumer
    from tests.kafka.helpers import create_topic, produce
    from tests.nats.helpers import create_stream, publish

    create_topic(bootstrap, "bench-pause", 1)
    create_stream(url, "BENCHPAUSE", ["bench.pause.>"])
    found: dict[str, list[float]] = {}
    log = (workdir / "runconsumers.log").open("wb")
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "runconsumers"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        for kind, source in (("kafka", "bench-pause"), ("nats", "BENCHPAUSE")):
            path = workdir / f"stamps-{kind}.txt"
            ManagedConsumer.objects.create(
                name=f"pause-{kind}", cluster=kind, source_kind="topic" if kind == "kafka" else "stream",
                source=source, group=f"pause-{kind}", handler="bench.stamp", config={"path": str(path)},
                start="latest", batch_size=10,
            )  # fmt: skip
            stop = threading.Event()

            def feed(kind: str = kind, stop: threading.Event = stop) -> None:
                # About 200 messages a second, as steady as a sleep allows.
                while not stop.is_set():
                    if kind == "kafka":
                        produce(bootstrap, "bench-pause", [b"x"] * 4)
                    else:
                        publish(url, [("bench.pause.x", b"x", None)] * 4)
                    time.sleep(0.02)

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            deadline = time.monotonic() + 60
            while len(stamps(path)) < 50:
                assert time.monotonic() < deadline and runner.poll() is None, (workdir / "runconsumers.log").read_text()
                time.sleep(0.1)
            for _ in range(ROUNDS):
                clicked = time.time()
                async_to_sync(actions.do_pause_worker)(None, f"pause-{kind}")
                time.sleep(2.5)
                before = [s for s in stamps(path) if s >= clicked - 5]
                found.setdefault(f"{kind}_pause", []).append(max(0.0, max(before) - clicked) if before else 0.0)
                clicked = time.time()
                async_to_sync(actions.do_resume_worker)(None, f"pause-{kind}")
                deadline = time.monotonic() + 30
                while not [s for s in stamps(path) if s >= clicked]:
                    assert time.monotonic() < deadline, "no handler call after resume"
                    time.sleep(0.01)
                first = min(s for s in stamps(path) if s >= clicked)
                found.setdefault(f"{kind}_resume", []).append(first - clicked)
                time.sleep(1)
            stop.set()
            feeder.join()
    finally:
        runner.terminate()
        runner.wait(30)
        log.close()
    return found


def report(r: dict[str, list[float]], p: dict[str, list[float]]) -> str:
    def row(what: str, key: str) -> str:
        bare, mine = max(r[f"{key}_bare"]), max(r[f"{key}_ours"])
        ratio = mine / bare
        met = "yes" if ratio >= TARGET else "**no**"
        return f"| {what} | {bare:,.0f} msg/s | {mine:,.0f} msg/s | {ratio:.2f}x | ≥ {TARGET}x | {met} |"

    def timing(what: str, key: str) -> str:
        values = p[key]
        return f"| {what} | {statistics.median(values) * 1000:,.0f} ms | {max(values) * 1000:,.0f} ms |"

    return "\n".join(
        [
            "## Managed consumers",
            "",
            f"Measured on {machine()}, against {kafka_label()} and nats-server 2.15 (JetStream, memory "
            f"storage) on localhost, started by the benchmark. Throughput: one managed-consumer loop (the thread "
            f"runconsumers runs per consumer) against a bare client loop doing the same work in the same run, "
            f"batches of {BATCH}, each batch committed (Kafka, synchronously) or every message acknowledged "
            "(JetStream) after the handler returned; forward copies key, value and headers, adds provenance "
            "headers and confirms delivery before the commit/acks. Alternating, best of two each; timed from the "
            f"first batch to the last message ({KAFKA_N:,} Kafka messages, {NATS_N:,} JetStream messages).",
            "",
            "| Handler | Bare client loop | Managed consumer | Ratio | Target | Met |",
            "|---|---:|---:|---:|---|---|",
            row("Kafka, `discard`", "kafka_discard"),
            row("Kafka -> Kafka, `forward`", "kafka_forward"),
            row("JetStream, `discard`", "nats_discard"),
            row("JetStream -> NATS, `forward`", "nats_forward"),
            "",
            f"Pause and resume through a runconsumers process (a handler stamping each call, about 200 messages "
            f"a second arriving, batches of 10), from the action function (what the page's button calls; it "
            f"notifies the runner through Redis) to the last handler call (pause) and the first one (resume); "
            f"{ROUNDS} rounds each:",
            "",
            "| Time from the action to | Median | Worst |",
            "|---|---:|---:|",
            timing("Kafka: the last handler call after pause", "kafka_pause"),
            timing("Kafka: the first handler call after resume", "kafka_resume"),
            timing("JetStream: the last handler call after pause", "nats_pause"),
            timing("JetStream: the first handler call after resume", "nats_resume"),
            "",
            command("workers"),
            "",
        ]
    )


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="streamdesk-bench-workers-"))
    from dev import devstack

    kafka = kafka_server(workdir)
    bootstrap = kafka.__enter__()
    nats_server = devstack.nats_server(workdir).start()
    valkey = devstack.valkey_server(workdir).start()
    url = f"nats://127.0.0.1:{nats_server.port}"
    redis_url = f"redis://127.0.0.1:{valkey.port}/0"
    brokers = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "NATS_URL": url, "REDIS_URL": redis_url}
    os.environ["STREAMDESK_HANDLER_MODULES"] = "bench.stamp_handlers"
    os.environ["STREAMDESK_WORKER_SESSION_TIMEOUT_MS"] = "6000"
    try:
        with django_on(workdir, brokers):
            r = throughput(bootstrap, url)
            env = {**os.environ, "LOG_LEVEL": "WARNING"}
            p = pause_resume(workdir, env, bootstrap, url)
            print(report(r, p))
    finally:
        valkey.stop()
        nats_server.stop()
        kafka.__exit__(None, None, None)


if __name__ == "__main__":
    main()
