"""The demo's Avro and Protobuf topics and JSON Schema order events, decoded through the console by the
local schema files ``make run`` names (dev/demo/*-decoders.toml)."""

from __future__ import annotations

import asyncio
import io
import json
import random

from django.core.management import call_command
from django.test import override_settings

from dev.devrun import DEMO_DIR
from dev.management.commands._demo import DemoNames, order
from dev.management.commands.demo_traffic import Traffic
from streams import adapters
from streams.clusters import ClusterConfig
from streams.schemas.decode import decode
from streams.schemas.local import load_decoders_file


def test_seeded_readings_and_shipments_decode_in_the_browser(viewer_client, kafka_bootstrap, unique):
    names = DemoNames(f"{unique}-")
    out = io.StringIO()
    call_command(
        "seed_demo", prefix=names.prefix, allow_remote=True, skip_nats=True, skip_saved=True, skip_workers=True,
        stdout=out,
    )  # fmt: skip
    assert f"{names.readings} (13 messages)" in out.getvalue() and f"{names.shipments} (8 messages)" in out.getvalue()
    with override_settings(KAFKA_DECODERS=str(DEMO_DIR / "kafka-decoders.toml")):
        adapters.reset()
        try:
            readings = viewer_client.get(f"/api/v1/clusters/kafka/topics/{names.readings}/messages?from=beginning")
            shipments = viewer_client.get(f"/api/v1/clusters/kafka/topics/{names.shipments}/messages?from=beginning")
            topic_page = viewer_client.get(f"/clusters/kafka/topics/{names.readings}").content.decode()
        finally:
            adapters.reset()
    assert readings.status_code == 200, readings.content
    values = [m["value"] for m in readings.json()["messages"]]
    decoded = [v["decoded"] for v in values if v["decoded"]]
    assert len(decoded) == 12 and {d["type"] for d in decoded} == {"demo.plant.Reading"}
    assert {d["data"]["room"] for d in decoded} <= {"LAB", "OFFICE", "SERVER_ROOM"}
    (cut,) = [v for v in values if v["decode_error"]]
    assert cut["decode_error"].startswith("does not decode with reading.avsc (avro)")
    items = [m["value"]["decoded"] for m in shipments.json()["messages"]]
    assert len(items) == 8 and all(d and d["type"] == "demo.ship.Shipment" for d in items)
    assert all(d["data"]["shipment_id"].startswith("s-") and d["data"]["parcels"] for d in items)
    assert "read by the local schema <code>reading.avsc</code>" in topic_page


async def test_demo_traffic_sends_readings_and_shipments_every_few_ticks(kafka_bootstrap, nats_urls, unique):
    names = DemoNames(f"{unique}-")
    await asyncio.to_thread(
        call_command, "seed_demo", prefix=names.prefix, allow_remote=True, skip_nats=False, skip_saved=True,
        skip_workers=True, stdout=io.StringIO(),
    )  # fmt: skip
    traffic = Traffic(names, kafka_bootstrap, [nats_urls[0]], seed=5)
    await traffic.start()
    try:
        for _ in range(12):
            await traffic.step()
        assert traffic.producer is not None
        await asyncio.to_thread(traffic.producer.flush, 5)
        assert traffic.errors == 0
    finally:
        await traffic.close()

    def highs(topic: str, partitions: int) -> int:
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{unique}-count"})
        try:
            return sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)
            )
        finally:
            consumer.close()

    # 13 seeded, then one every third tick; 8 seeded shipments, then one every fourth.
    assert await asyncio.to_thread(highs, names.readings, 1) == 13 + 4
    assert await asyncio.to_thread(highs, names.shipments, 2) == 8 + 3


def test_the_demo_order_events_fit_their_json_schema():
    nats_cluster = ClusterConfig(
        slug="nats",
        kind="nats",
        name="NATS",
        servers=("nats://127.0.0.1:4222",),
        decoders=load_decoders_file(str(DEMO_DIR / "nats-decoders.toml"), kind="nats"),
    )
    rng = random.Random(1)
    for number in range(1, 30):
        _, body = order(rng, number)
        got = decode(nats_cluster, "orders.created", "value", body)
        assert got.decoded is not None and got.decoded.type == "OrderEvent", got.error
    poison = decode(nats_cluster, "orders.notes", "value", b"customer asked to leave the parcel")
    assert poison.error == "does not decode with order-event.json (json-schema): is not JSON"
    wrong = decode(nats_cluster, "orders.paid", "value", json.dumps({"order_id": "x"}).encode())
    assert wrong.error is not None and "does not match the JSON Schema" in wrong.error
