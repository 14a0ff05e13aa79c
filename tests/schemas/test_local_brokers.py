"""Local decoders on real servers: Kafka's browser and tail, JetStream's browser, message page and tail,
core NATS tails, and framed payloads on NATS through a registry. Payloads written by fastavro, protobuf, json."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.test import override_settings

from streams import adapters
from streams.schemas import registry as schema_registry
from tests.kafka import helpers as kh
from tests.nats import helpers as nh
from tests.schemas import localfiles
from tests.schemas.standin import StandinRegistry
from tests.tail.helpers import nats_publish, open_tail

READING = {"sensor": "boiler", "count": 2**55, "at": 1700000000123, "raw": b"\x01\x02"}
READING_JSON = {"sensor": "boiler", "count": str(2**55), "at": 1700000000123, "raw": "AQI="}


@pytest.fixture
def local_clusters(tmp_path: Path, kafka_bootstrap: str, nats_urls: tuple[str, str]) -> Iterator[Path]:
    path = localfiles.clusters_file(tmp_path, kafka_bootstrap, nats_urls[0])
    with override_settings(STREAMDESK_CLUSTERS=str(path), BROKER_CACHE_SECONDS=0):
        adapters.reset()
        yield path
    adapters.reset()


def shipment_bytes() -> bytes:
    message = localfiles.shipment_class()(shipment_id=9, carrier="ups", state=1)
    return bytes(message.SerializeToString())


def test_kafka_browser_decodes_by_local_files(viewer_client, kafka_bootstrap, unique, local_clusters):
    readings, shipments = f"{unique}-readings", f"{unique}-shipments"
    kh.create_topic(kafka_bootstrap, readings)
    kh.create_topic(kafka_bootstrap, shipments)
    key = json.dumps({"id": 1, "tags": ["hot"]}).encode()
    kh.produce(kafka_bootstrap, readings, [localfiles.avro_bytes(READING), b"poison"], key=key, partition=0)
    kh.produce(kafka_bootstrap, shipments, [shipment_bytes()], key=b"s-9", partition=0)

    response = viewer_client.get(f"/api/v1/clusters/lk/topics/{readings}/messages", {"from": "beginning"})
    assert response.status_code == 200, response.content
    good, poison = response.json()["messages"]
    assert good["value"]["decoded"] == {
        "format": "avro",
        "schema_id": None,
        "subject": None,
        "version": None,
        "type": "plant.Reading",
        "file": "reading.avsc",
        "data": READING_JSON,
    }
    assert good["key"]["decoded"]["format"] == "json-schema" and good["key"]["decoded"]["data"]["tags"] == ["hot"]
    assert poison["value"]["decoded"] is None and poison["value"]["text"] == "poison"
    assert poison["value"]["decode_error"].startswith("does not decode with reading.avsc (avro)")

    pb = viewer_client.get(f"/api/v1/clusters/lk/topics/{shipments}/messages", {"from": "beginning"}).json()
    (shipment,) = pb["messages"]
    assert shipment["value"]["decoded"]["type"] == "ship.Shipment"
    assert shipment["value"]["decoded"]["data"] == {"shipment_id": "9", "carrier": "ups", "state": "SENT"}
    assert shipment["key"]["decoded"] is None

    page = viewer_client.get(f"/clusters/lk/topics/{readings}/messages", {"from": "beginning"}).content.decode()
    assert "decoded · avro plant.Reading · local schema reading.avsc" in page
    assert "Not decoded: does not decode with reading.avsc (avro)" in page


@pytest.mark.django_db(transaction=True)
async def test_kafka_tail_frames_decode_by_local_files(viewer, kafka_bootstrap, unique, local_clusters):
    topic = f"{unique}-shipments"
    await asyncio.to_thread(kh.create_topic, kafka_bootstrap, topic)
    tail = await open_tail(viewer, "lk")
    subscribed = await tail.subscribe("topic", topic)
    assert subscribed["type"] == "subscribed", subscribed
    await asyncio.to_thread(kh.produce, kafka_bootstrap, topic, [shipment_bytes(), b"\xff\xff"], key=b"k")
    good, poison = await tail.collect(2)
    assert good["value"]["decoded"]["data"]["carrier"] == "ups"
    assert good["value"]["decoded"]["file"] == "shipment.desc"
    assert poison["value"]["decoded"] is None and "shipment.desc (protobuf)" in poison["value"]["decode_error"]
    await tail.close()


def test_jetstream_browser_and_message_page_decode(viewer_client, nats_urls, unique, local_clusters):
    url = nats_urls[0]
    stream = nh.stream_name(unique)
    nh.create_stream(url, stream, [f"tickets.{unique}.>", f"readings.{unique}"])
    nh.publish(
        url,
        [
            (f"tickets.{unique}.new", json.dumps({"id": 7, "tags": ["a"]}).encode(), None),
            (f"tickets.{unique}.new", b'{"tags": []}', None),
            (f"readings.{unique}", localfiles.avro_bytes(READING), None),
        ],
    )
    response = viewer_client.get(f"/api/v1/clusters/ln/streams/{stream}/messages")
    assert response.status_code == 200, response.content
    ticket, missing, reading = response.json()["messages"]
    assert ticket["value"]["decoded"]["format"] == "json-schema"
    assert ticket["value"]["decoded"]["data"] == {"id": 7, "tags": ["a"]}
    assert ticket["value"]["decoded"]["type"] == "Ticket" and ticket["value"]["decode_error"] is None
    assert missing["value"]["decoded"] is None and missing["value"]["text"] == '{"tags": []}'
    assert missing["value"]["decode_error"] == (
        "does not decode with ticket.json (json-schema): "
        "does not match the JSON Schema at $: 'id' is a required property"
    )
    assert reading["value"]["decoded"]["data"] == READING_JSON

    one = viewer_client.get(f"/api/v1/clusters/ln/streams/{stream}/messages/3")
    assert one.status_code == 200 and one.json()["message"]["value"]["decoded"]["type"] == "plant.Reading"
    page = viewer_client.get(f"/clusters/ln/streams/{stream}/messages/3").content.decode()
    assert "decoded · avro plant.Reading · local schema reading.avsc" in page
    listing = viewer_client.get(f"/clusters/ln/streams/{stream}/messages").content.decode()
    assert "Not decoded: does not decode with ticket.json" in listing


@pytest.mark.django_db(transaction=True)
async def test_nats_tails_decode_by_subject(viewer, nats_urls, unique, local_clusters):
    url = nats_urls[0]
    tail = await open_tail(viewer, "ln")
    subscribed = await tail.subscribe("subject", f"tickets.{unique}.>")
    assert subscribed["type"] == "subscribed", subscribed
    await nats_publish(url, [(f"tickets.{unique}.eu", b'{"id": 3}'), (f"tickets.{unique}.eu", b"not json")])
    good, poison = await tail.collect(2)
    assert good["value"]["decoded"]["data"] == {"id": 3}
    assert poison["value"]["decode_error"] == "does not decode with ticket.json (json-schema): is not JSON"
    assert poison["value"]["text"] == "not json"
    await tail.close()

    stream = nh.stream_name(unique)
    await asyncio.to_thread(nh.create_stream, url, stream, [f"readings.{unique}"])
    await asyncio.to_thread(nh.publish, url, [(f"readings.{unique}", localfiles.avro_bytes(READING), None)])
    tail = await open_tail(viewer, "ln")
    subscribed = await tail.subscribe("stream", stream, **{"from": "beginning"})
    assert subscribed["type"] == "subscribed", subscribed
    (reading,) = await tail.collect(1)
    assert reading["value"]["decoded"]["data"] == READING_JSON and reading["seq"] == 1
    await tail.close()


@pytest.fixture
def nats_with_registry(tmp_path: Path, nats_urls: tuple[str, str]) -> Iterator[StandinRegistry]:
    server = StandinRegistry()
    schema_registry._registries.clear()
    path = tmp_path / "clusters.toml"
    path.write_text(
        f'[[clusters]]\nslug = "nr"\nkind = "nats"\nservers = "{nats_urls[0]}"\n'
        f'schema_registry = {{url = "{server.url}"}}\n'
    )
    with override_settings(STREAMDESK_CLUSTERS=str(path), BROKER_CACHE_SECONDS=0):
        adapters.reset()
        yield server
    adapters.reset()
    server.close()
    schema_registry._registries.clear()


def framed_reading(registry_url: str, subject: str) -> bytes:
    serialize = AvroSerializer(SchemaRegistryClient({"url": registry_url}), json.dumps(localfiles.READING))
    return bytes(serialize(READING, SerializationContext(subject, MessageField.VALUE)))


@pytest.mark.django_db(transaction=True)
async def test_framed_nats_payloads_decode_through_the_registry_in_a_tail(
    viewer, nats_urls, unique, nats_with_registry
):
    url = nats_urls[0]
    framed = await asyncio.to_thread(framed_reading, nats_with_registry.url, f"orders.{unique}")
    # Each id's first lookup waits off the NATS loop, which every NATS call shares; order is kept.
    tail = await open_tail(viewer, "nr")
    assert (await tail.subscribe("subject", f"orders.{unique}"))["type"] == "subscribed"
    await nats_publish(url, [(f"orders.{unique}", framed), (f"orders.{unique}", b"\x00\x00\x00\x00\x2aX")])
    await nats_publish(url, [(f"orders.{unique}", b"plain")])
    good, unknown, plain = await tail.collect(3)
    assert good["value"]["decoded"]["schema_id"] == 1 and good["value"]["decoded"]["data"] == READING_JSON
    assert unknown["value"]["decode_error"] == "schema id 42 is not in the registry"
    assert plain["value"]["decoded"] is None and plain["value"]["text"] == "plain"
    await tail.close()


def test_framed_jetstream_payloads_decode_through_the_registry(viewer_client, nats_urls, unique, nats_with_registry):
    url = nats_urls[0]
    stream = nh.stream_name(unique)
    nh.create_stream(url, stream, [f"orders.{unique}"])
    nh.publish(url, [(f"orders.{unique}", framed_reading(nats_with_registry.url, f"orders.{unique}"), None)])
    response = viewer_client.get(f"/api/v1/clusters/nr/streams/{stream}/messages")
    assert response.status_code == 200, response.content
    (stored,) = response.json()["messages"]
    assert stored["value"]["decoded"]["subject"] == f"orders.{unique}-value"
    assert stored["value"]["decoded"]["data"] == READING_JSON


@pytest.mark.django_db(transaction=True)
def test_export_filters_and_writes_the_locally_decoded_form(viewer_client, kafka_bootstrap, unique, local_clusters):
    from tests.search.test_kafka_export import body

    topic = f"{unique}-readings"
    kh.create_topic(kafka_bootstrap, topic)
    values = [localfiles.avro_bytes({**READING, "count": n, "sensor": f"s{n}"}) for n in range(6)]
    kh.produce(kafka_bootstrap, topic, [*values, b"poison"], partition=0)
    url = f"/api/v1/clusters/lk/topics/{topic}/export"
    response = viewer_client.get(url, {"from": "beginning", "jq": ".value.count % 2 == 1"})
    assert response.status_code == 200
    lines = [json.loads(x) for x in body(response).splitlines()]
    assert [m["value"]["decoded"]["data"]["sensor"] for m in lines] == ["s1", "s3", "s5"]
    texts = viewer_client.get(url, {"from": "beginning", "text": '"sensor": "s4"'})
    (found,) = [json.loads(x) for x in body(texts).splitlines()]
    assert found["offset"] == 4 and found["value"]["decoded"]["file"] == "reading.avsc"
