"""Kafka topics through the tail socket, on a real broker: start positions, partitions, no group left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from streams.tail import hub as tail_hub
from tests.kafka.helpers import admin, create_topic, produce
from tests.tail.helpers import open_tail, texts

pytestmark = pytest.mark.django_db(transaction=True)


async def _topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    return await asyncio.to_thread(create_topic, bootstrap, name, partitions)


async def _produce(bootstrap: str, topic: str, values: list[bytes | None], **kwargs) -> None:
    await asyncio.to_thread(produce, bootstrap, topic, values, **kwargs)


async def test_topic_from_now_sees_only_what_comes_after(viewer, kafka_bootstrap, unique):
    topic = await _topic(kafka_bootstrap, unique)
    await _produce(kafka_bootstrap, topic, [b"old-1", b"old-2"])
    tail = await open_tail(viewer, "kafka")
    subscribed = await tail.subscribe("topic", topic)
    assert subscribed["type"] == "subscribed", subscribed
    assert subscribed["start"] == {"offsets": {"0": 2}}
    await _produce(kafka_bootstrap, topic, [b"new-1", b"new-2"], key=b"k1", headers=[("h", b"v")])
    items = await tail.collect(2)
    assert texts(items) == ["new-1", "new-2"]
    first = items[0]
    assert first["partition"] == 0 and first["offset"] == 2 and first["key"]["text"] == "k1"
    assert first["headers"] == [["h", {"text": "v", "base64": "dg=="}]]
    assert first["timestamp"] and first["truncated"] is False
    await tail.close()


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("beginning", ["m0", "m1", "m2", "m3"]),
        ({"last": 2}, ["m2", "m3"]),
        ({"offset": 1}, ["m1", "m2", "m3"]),
    ],
)
async def test_topic_start_positions(viewer, kafka_bootstrap, unique, start, expected):
    topic = await _topic(kafka_bootstrap, unique)
    await _produce(kafka_bootstrap, topic, [b"m0", b"m1", b"m2", b"m3"])
    tail = await open_tail(viewer, "kafka")
    subscribed = await tail.subscribe("topic", topic, **{"from": start})
    assert subscribed["type"] == "subscribed", subscribed
    assert texts(await tail.collect(len(expected))) == expected
    await tail.close()


async def test_topic_from_a_time_and_chosen_partitions(viewer, kafka_bootstrap, unique):
    topic = await _topic(kafka_bootstrap, unique, partitions=2)
    await _produce(kafka_bootstrap, topic, [b"early-0"], partition=0)
    await _produce(kafka_bootstrap, topic, [b"early-1"], partition=1)
    await asyncio.sleep(0.05)  # a time strictly between the two messages' timestamps: only the clock makes one
    since = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await _produce(kafka_bootstrap, topic, [b"late-0"], partition=0)
    await _produce(kafka_bootstrap, topic, [b"late-1"], partition=1)
    tail = await open_tail(viewer, "kafka")
    subscribed = await tail.subscribe("topic", topic, **{"from": {"time": since.isoformat()}, "partitions": [1]})
    assert subscribed["type"] == "subscribed", subscribed
    assert subscribed["start"] == {"offsets": {"1": 1}}
    assert texts(await tail.collect(1)) == ["late-1"]
    # A read of the partition not asked for has no message after it to wait for: a while without one.
    assert not [f for f in await tail.quiet(0.5) if f["type"] == "messages"]
    await tail.close()


async def test_resume_from_per_partition_offsets(viewer, kafka_bootstrap, unique):
    topic = await _topic(kafka_bootstrap, unique, partitions=2)
    await _produce(kafka_bootstrap, topic, [b"a0", b"b0"], partition=0)
    await _produce(kafka_bootstrap, topic, [b"a1", b"b1"], partition=1)
    tail = await open_tail(viewer, "kafka")
    await tail.subscribe("topic", topic, **{"from": {"offsets": {"0": 1, "1": 2}}})
    assert texts(await tail.collect(1)) == ["b0"]
    await tail.close()


async def test_binary_keys_and_hostile_headers_arrive_as_data_and_the_consumer_goes_with_the_socket(
    viewer, kafka_bootstrap, unique
):
    topic = await _topic(kafka_bootstrap, unique)
    tail = await open_tail(viewer, "kafka")
    await tail.subscribe("topic", topic)
    hostile = [("<b>", b"\xff<script>"), ("empty", None)]
    await _produce(kafka_bootstrap, topic, [b"\x00\x01\xfe", None], key=b"\xfe\xff", headers=hostile)
    binary, tombstone = await tail.collect(2)
    assert binary["key"] == {"text": None, "base64": "/v8="}
    assert binary["value"] == {"text": None, "base64": "AAH+"}
    assert binary["headers"] == [["<b>", {"text": None, "base64": "/zxzY3JpcHQ+"}], ["empty", None]]
    assert tombstone["value"] is None
    assert [u for u in tail_hub.hub().upstreams.values() if u.spec.name == topic]
    await tail.close()
    assert not [u for u in tail_hub.hub().upstreams.values() if u.spec.name == topic]


async def test_unknown_topic_is_an_error_frame_naming_the_field(viewer, unique):
    tail = await open_tail(viewer, "kafka")
    error = await tail.subscribe("topic", f"{unique}-missing")
    assert error["type"] == "error" and error["field"] == "name"
    error = await tail.subscribe("subject", "orders.>")
    assert error["type"] == "error" and error["field"] == "source"
    await tail.close()


async def test_no_group_is_created_and_nothing_committed(viewer, kafka_bootstrap, unique):
    topic = await _topic(kafka_bootstrap, unique)
    before = await asyncio.to_thread(_group_ids, kafka_bootstrap)
    tail = await open_tail(viewer, "kafka")
    await tail.subscribe("topic", topic, **{"from": "beginning"})
    await _produce(kafka_bootstrap, topic, [b"x"])
    await tail.collect(1)
    await tail.close()
    # The reader thread closes its consumer after the socket went; a commit on close would come then.
    await asyncio.sleep(0.5)
    after = await asyncio.to_thread(_group_ids, kafka_bootstrap)
    assert not {g for g in after - before if "streamdesk" in g}, after - before


def _group_ids(bootstrap: str) -> set[str]:
    result = admin(bootstrap).list_consumer_groups(request_timeout=10).result(10)
    return {g.group_id for g in result.valid}
