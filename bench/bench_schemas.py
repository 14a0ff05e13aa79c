"""Schema decoding: a message browser page of 500 Avro messages against the same page of plain JSON,
and a live tail of Avro messages into one socket.

- **Page**: tansu (or Apache Kafka with ``--kafka apache``) and the test suite's stand-in Schema
  Registry on a real socket, both started here. 500 records go to one topic as Avro (confluent-kafka's
  ``AvroSerializer``) and to another as the same records in plain JSON text. The message browser's
  API twin and its HTML page are timed through Django's test client, the broker read included
  (``from=beginning``, ``limit=500``); medians of ``BENCH_SCHEMAS_RUNS`` runs (default 15), the two
  topics taken in turns. A second, in-process figure: the 500 values decoded and written as the API's
  JSON, no broker and no view.
- **Tail**: a real Daphne (dev/webprocess.py, as bench/bench_tail.py) with the same broker and
  registry; a publisher process writes ``BENCH_SCHEMAS_TAIL`` (default 200,000) messages at 20,000
  msg/s (above the 15,000 msg/s target), plain JSON first and then Avro, each to a topic of its own;
  one WebSocket client acknowledging every frame counts what it received and was told was dropped.

    .venv/bin/python -m bench schemas
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = 500
TARGET = 1.5
TAIL_RATE = 20_000
TAIL_TARGET = 15_000

RECORD = {
    "type": "record",
    "name": "Order",
    "namespace": "bench",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "items", "type": {"type": "array", "items": "string"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def log(text: str) -> None:
    print(f"[bench_schemas] {text}", file=sys.stderr, flush=True)


def records() -> list[dict[str, Any]]:
    return [
        {"id": i, "customer": f"customer-{i}", "amount": i * 1.5, "items": ["a", "b", "c"], "at": 1700000000000 + i}
        for i in range(PAGE)
    ]


def avro_values(registry_url: str, topic: str) -> list[bytes]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    serialize = AvroSerializer(SchemaRegistryClient({"url": registry_url}), json.dumps(RECORD))
    return [serialize(r, SerializationContext(topic, MessageField.VALUE)) for r in records()]


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from bench._common import batched_producer_config

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer(batched_producer_config(bootstrap))
    for i, value in enumerate(values):
        producer.produce(topic, value, key=b"order-%d" % i)
        producer.poll(0)
    assert producer.flush(60) == 0


# -- the page ---------------------------------------------------------------------------


def page_figures(bootstrap: str, registry_url: str, runs: int) -> dict[str, float]:
    from bench._common import superuser_get

    produce(bootstrap, "orders-avro", avro_values(registry_url, "orders-avro"))
    produce(bootstrap, "orders-json", [json.dumps(r).encode() for r in records()])
    get = superuser_get()
    params = {"from": "beginning", "limit": PAGE}
    for topic in ("orders-json", "orders-avro"):
        api = get(f"/api/v1/clusters/kafka/topics/{topic}/messages", **params).json()
        assert len(api["messages"]) == PAGE, (topic, len(api["messages"]))
        decoded = api["messages"][0]["value"]["decoded"]
        assert (decoded is not None) == (topic == "orders-avro"), decoded
        html = get(f"/clusters/kafka/topics/{topic}/messages", **params).content
        assert html.count(b"customer-499") >= 1, topic
    # In turns, plain then Avro, so that the other work on the machine weighs on both alike.
    paths = {
        f"{view}_{topic}": path.format(topic)
        for view, path in (
            ("api", "/api/v1/clusters/kafka/topics/{}/messages"),
            ("html", "/clusters/kafka/topics/{}/messages"),
        )
        for topic in ("orders-json", "orders-avro")
    }
    samples: dict[str, list[float]] = {key: [] for key in paths}
    for _ in range(runs):
        for key, path in paths.items():
            started = time.perf_counter()
            get(path, **params)
            samples[key].append(time.perf_counter() - started)
    for key, values in samples.items():
        log(f"{key}: {', '.join(f'{v * 1000:.0f}' for v in sorted(values))} ms")
    return {key: statistics.median(values) for key, values in samples.items()}


def micro_figures(registry_url: str, runs: int) -> dict[str, float]:
    """The 500 values decoded and written as the API's JSON, in-process: the decoder alone."""
    from bench._common import median_seconds
    from streams.clusters import ClusterConfig
    from streams.payloads import Payload
    from streams.schemas import registry as schema_registry
    from streams.schemas.decode import decode_payload

    cluster = ClusterConfig(slug="b", kind="kafka", name="b", servers=("x:1",), schema_registry_url=registry_url)
    avro = avro_values(registry_url, "orders")
    plain = [json.dumps(r).encode() for r in records()]

    def page(values: list[bytes]) -> None:
        out = [decode_payload(cluster, "orders", "value", Payload.of(v)).as_api() for v in values]
        json.dumps({"messages": out}, ensure_ascii=False)

    schema_registry._registries.clear()
    page(avro)  # the one lookup and the parse, as on the first page a user opens
    return {"plain": median_seconds(lambda: page(plain), runs), "avro": median_seconds(lambda: page(avro), runs)}


class Record:
    """What the tail reads of a confluent-kafka Message, for timing its conversion in-process."""

    def __init__(self, topic: str, offset: int, key: bytes, value: bytes, stamp: int) -> None:
        self._topic, self._offset, self._key, self._value, self._stamp = topic, offset, key, value, stamp

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return 1, self._stamp

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._offset % 3

    def offset(self) -> int:
        return self._offset

    def headers(self) -> None:
        return None


def item_figures(registry_url: str, runs: int, count: int = 2000) -> dict[str, float]:
    """Seconds per message for the tail's conversion of a record (streams.tail.messages.kafka_item) to the
    JSON a frame carries, in-process, for the tail's own ~100-byte messages (bench/_publish.py)."""
    from bench._common import median_seconds
    from bench._publish import avro_body, body
    from streams.clusters import ClusterConfig
    from streams.tail.messages import kafka_item

    cluster = ClusterConfig(slug="b", kind="kafka", name="b", servers=("x:1",), schema_registry_url=registry_url)
    bare = ClusterConfig(slug="b", kind="kafka", name="b", servers=("x:1",))
    os.environ.setdefault("BENCH_SCHEMA_REGISTRY_URL", registry_url)
    make_avro = avro_body("tail-kafka-avro")
    stamp = int(time.time() * 1000)
    plain = [Record("tail-kafka", i, b"k%d" % (i % 16), body(i, 100), stamp + i // 20) for i in range(count)]
    avro = [Record("tail-kafka-avro", i, b"k%d" % (i % 16), make_avro(i, 100), stamp + i // 20) for i in range(count)]

    def per_message(records: list[Record], config: ClusterConfig) -> float:
        kafka_item(records[0], config)  # the schema's one lookup and parse
        return median_seconds(lambda: [kafka_item(r, config) for r in records], runs) / count

    return {
        "plain_bare": per_message(plain, bare),
        "plain": per_message(plain, cluster),
        "avro": per_message(avro, cluster),
    }


# -- the tail ---------------------------------------------------------------------------


async def tail_figures(web: Any, bootstrap: str, registry_url: str, count: int, kind: str) -> dict[str, Any]:
    """One tail of a fresh topic while ``kind`` (``kafka-avro`` or ``kafka``: plain JSON) is published at a pace."""
    from bench.bench_tail import Tail, cpu_seconds, create_topic

    topic = f"tail-{kind}"
    await asyncio.to_thread(create_topic, bootstrap, topic, 3)
    async with Tail(web, "kafka") as tail:
        await tail.subscribe({"source": "topic", "name": topic})
        cpu0, t0 = cpu_seconds(web.pid), time.perf_counter()
        argv = [sys.executable, "-m", "bench._publish", kind, bootstrap, topic, str(count)]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            str(TAIL_RATE),
            "100",
            cwd=ROOT,
            env={**os.environ, "BENCH_SCHEMA_REGISTRY_URL": registry_url},
            stdout=asyncio.subprocess.PIPE,
        )
        await tail.read(count)
        cpu = (cpu_seconds(web.pid) - cpu0) / (time.perf_counter() - t0)
        out, _ = await proc.communicate()
        sent = json.loads(out.decode().strip().splitlines()[-1])
        status = await tail.final_status()
        return {
            "published": count,
            "published_rate": count / sent["seconds"],
            "received": tail.received,
            "dropped": tail.dropped,
            "matched": status.get("matched"),
            "decoded": tail.decoded,
            "rate": tail.rate,
            "web_cpu": cpu,
        }


# -- running and reporting ----------------------------------------------------------------


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench._common import django_on, kafka_server
    from dev.webprocess import WebProcess
    from tests.schemas.standin import StandinRegistry

    runs = int(os.environ.get("BENCH_SCHEMAS_RUNS", "15"))
    tail_count = int(os.environ.get("BENCH_SCHEMAS_TAIL", "200000"))
    results: dict[str, Any] = {"runs": runs}
    registry = StandinRegistry()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            with kafka_server(workdir) as bootstrap:
                brokers = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_SCHEMA_REGISTRY_URL": registry.url}
                with django_on(workdir, brokers):
                    log("page")
                    results["page"] = page_figures(bootstrap, registry.url, runs)
                    log("decoder alone")
                    results["micro"] = micro_figures(registry.url, runs)
                    log("tail item alone")
                    results["item"] = item_figures(registry.url, runs)
                if tail_count:
                    log("tail")
                    web = WebProcess(workdir / "web", brokers).prepare().start()
                    try:
                        for kind in ("kafka", "kafka-avro"):
                            log(f"tail, {kind}")
                            results[f"tail_{kind}"] = asyncio.run(
                                tail_figures(web, bootstrap, registry.url, tail_count, kind)
                            )
                    finally:
                        web.stop()
    finally:
        registry.close()
    print(report(results))


def report(r: dict[str, Any]) -> str:
    from bench._common import command, kafka_label, machine, ms

    page, micro = r["page"], r["micro"]

    def ratio(avro: float, plain: float) -> float:
        return avro / plain if plain else float("inf")

    def met(x: float) -> str:
        return "yes" if x <= TARGET else "**no**"

    api, html = (ratio(page[f"{v}_orders-avro"], page[f"{v}_orders-json"]) for v in ("api", "html"))
    small = ratio(micro["avro"], micro["plain"])
    lines = [
        "## Schema decoding",
        "",
        f"Measured on {machine()}, against {kafka_label()} and the tests' stand-in Schema Registry on localhost, "
        f"started by the benchmark. {PAGE} records written as Avro by confluent-kafka's `AvroSerializer` to one "
        "topic and as plain JSON text to another; the message browser read from the beginning with "
        f"`limit={PAGE}`, through Django's test client (the broker read, the decoding, the view and the template); "
        f"medians of {r['runs']} runs.",
        "",
        "| A page of 500 messages | Plain JSON | Avro | Avro / plain | Target | Met |",
        "|---|---:|---:|---:|---|---|",
        f"| Message browser API | {ms(page['api_orders-json'])} | {ms(page['api_orders-avro'])} | {api:.2f}x "
        f"| ≤ {TARGET}x | {met(api)} |",
        f"| Message browser page (HTML) | {ms(page['html_orders-json'])} | {ms(page['html_orders-avro'])} "
        f"| {html:.2f}x | ≤ {TARGET}x | {met(html)} |",
        f"| Decoder alone: 500 values decoded and written as the API's JSON (in-process) | {ms(micro['plain'])} "
        f"| {ms(micro['avro'])} | {small:.2f}x | | |",
    ]
    if "item" in r:
        item = r["item"]

        def us(seconds: float) -> str:
            return f"{seconds * 1e6:.1f} µs"

        lines += [
            "",
            "| One tail message, record to frame JSON (in-process) | No registry | Registry, plain JSON | "
            "Registry, Avro |",
            "|---|---:|---:|---:|",
            f"| `kafka_item` per message | {us(item['plain_bare'])} | {us(item['plain'])} | {us(item['avro'])} |",
        ]
    if "tail_kafka-avro" in r:

        def tail_row(label: str, t: dict[str, Any], target: bool) -> str:
            exact = t["received"] + t["dropped"] == t["published"]
            goal = f"≥ {TAIL_TARGET:,}/s" if target else ""
            ok = ("yes" if t["rate"] >= TAIL_TARGET and exact else "**no**") if target else ""
            return (
                f"| {label} | {t['published']:,} at {t['published_rate']:,.0f}/s | {t['received']:,} "
                f"| {t['dropped']:,} | {'yes' if exact else '**no**'} | {t['decoded']:,} | {t['rate']:,.0f} "
                f"| {t['web_cpu'] * 100:.0f}% | {goal} | {ok} |"
            )

        lines += [
            "",
            "| Live tail into one socket | Published | Received | Dropped | Received + dropped = published "
            "| Decoded | Received msg/s | Web CPU | Target | Met |",
            "|---|---:|---:|---:|---|---:|---:|---:|---|---|",
            tail_row("Avro values on a Kafka topic, paced", r["tail_kafka-avro"], True),
            tail_row("Plain JSON values on a Kafka topic, paced (same run)", r["tail_kafka"], False),
        ]
    lines += ["", command("schemas"), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
