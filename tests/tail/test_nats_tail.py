"""Core NATS subjects and JetStream streams through the tail socket, on a real nats-server."""

from __future__ import annotations

import asyncio

import pytest

from tests.nats.helpers import create_own_stream, stream_info
from tests.polling import wait_until_async
from tests.tail.helpers import js_publish, nats_publish, open_tail, texts

pytestmark = pytest.mark.django_db(transaction=True)


async def test_core_subject_with_wildcards(viewer, nats_urls, unique):
    tail = await open_tail(viewer, "nats")
    subscribed = await tail.subscribe("subject", f"{unique}.*.temp")
    assert subscribed["type"] == "subscribed" and subscribed["from"] == "now"
    await nats_publish(
        nats_urls[0],
        [(f"{unique}.lab.temp", b"21.5"), (f"{unique}.lab.humidity", b"40"), (f"{unique}.office.temp", b"19")],
    )
    items = await tail.collect(2)
    assert texts(items) == ["21.5", "19"]
    assert [i["subject"] for i in items] == [f"{unique}.lab.temp", f"{unique}.office.temp"]
    assert items[0]["seq"] is None and items[0]["time"]
    await tail.close()


async def test_stream_from_beginning_with_a_subject_filter(viewer, nats_urls, unique):
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    await js_publish(url, [(f"{unique}.a", b"one"), (f"{unique}.b", b"two"), (f"{unique}.a", b"three")])
    tail = await open_tail(viewer, "nats")
    subscribed = await tail.subscribe("stream", name, **{"from": "beginning", "subject": f"{unique}.a"})
    assert subscribed["type"] == "subscribed", subscribed
    items = await tail.collect(2)
    assert texts(items) == ["one", "three"]
    assert [i["seq"] for i in items] == [1, 3]
    await js_publish(url, [(f"{unique}.a", b"four")])
    assert texts(await tail.collect(3)) == ["one", "three", "four"]
    await tail.close()
    await _no_consumers_left(url, name)


async def _no_consumers_left(url, name):
    await wait_until_async(
        lambda: asyncio.to_thread(stream_info, url, name),
        until=lambda info: info["state"]["consumer_count"] == 0,
        timeout=5,
        interval=0.1,
        message="the tail consumer leaving with the socket",
    )


async def test_a_work_queue_stream_is_not_tailed_because_that_would_consume_it(viewer, nats_urls, unique):
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique, retention="workqueue")
    await js_publish(url, [(f"{unique}.job", b"work")])
    tail = await open_tail(viewer, "nats")
    error = await tail.subscribe("stream", name, **{"from": "beginning"})
    assert error["type"] == "error" and error["field"] == "name" and "work queue" in error["error"]
    await tail.close()
    assert (await asyncio.to_thread(stream_info, url, name))["state"]["messages"] == 1
