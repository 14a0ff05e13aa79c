"""Brokers that are down or go away: error frames, retries by the server, and resuming where the source allows."""

from __future__ import annotations

import asyncio

import pytest

from dev import devstack
from tests.nats.helpers import create_stream
from tests.tail.helpers import js_publish, nats_publish, open_tail, texts

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_down_broker_is_an_error_frame_and_the_server_retries(viewer, dead_port, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{dead_port}"
    settings.BROKER_TIMEOUT_SECONDS = 1
    tail = await open_tail(viewer, "kafka")
    first = await tail.subscribe("topic", "orders")
    assert first["type"] == "error" and first["retrying"] is True and first["field"] is None, first
    second = await tail.until("error", timeout=15)
    assert second["retrying"] is True
    await tail.close()


@pytest.mark.slow
async def test_a_nats_restart_resumes_a_stream_and_says_what_core_missed(viewer, tmp_path, unique, settings):
    server = devstack.nats_server(tmp_path).start()
    url = f"nats://127.0.0.1:{server.port}"
    settings.NATS_URL = url
    settings.NATS_MONITOR_URL = f"http://127.0.0.1:{server.extra_ports['monitor']}"
    name = unique.upper().replace("-", "_")
    try:
        await asyncio.to_thread(create_stream, url, name, [f"{unique}.>"], storage="file")
        stream_tail, core_tail = await open_tail(viewer, "nats"), await open_tail(viewer, "nats")
        assert (await stream_tail.subscribe("stream", name))["type"] == "subscribed"
        assert (await core_tail.subscribe("subject", f"{unique}-core.x"))["type"] == "subscribed"
        await js_publish(url, [(f"{unique}.a", b"before")])
        assert texts(await stream_tail.collect(1)) == ["before"]

        await asyncio.to_thread(server.stop)
        down = await stream_tail.until("error", timeout=10)
        assert down["retrying"] is True
        assert (await core_tail.until("error", timeout=10))["retrying"] is True
        await asyncio.to_thread(server.start)

        back = await stream_tail.until("subscribed", timeout=30)
        assert back["resumed"] is True and "nothing the stream holds is missed" in back["notice"]
        core_back = await core_tail.until("subscribed", timeout=30)
        assert "missed" in core_back["notice"]
        await js_publish(url, [(f"{unique}.a", b"after")])
        await nats_publish(url, [(f"{unique}-core.x", b"core after")])
        assert texts(await stream_tail.collect(2, timeout=30)) == ["before", "after"]
        assert texts(await core_tail.collect(1, timeout=30)) == ["core after"]
        await stream_tail.close()
        await core_tail.close()
    finally:
        await asyncio.to_thread(server.stop)
