"""The tail socket on a real Daphne, as a script uses it: a bearer token, no Origin, the contract's frames.

Each source and start position once; refusals as close codes on the wire; and what a
kill -9 of the web process leaves behind on the brokers (nothing).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dev.webprocess import WebProcess
from tests.kafka.helpers import create_topic, produce
from tests.nats.helpers import create_own_stream, stream_info
from tests.tail.helpers import js_publish, nats_publish, texts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tail-web")]


def _socket(web: WebProcess, cluster: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token if token is not None else web.token}"}
    return connect(f"{web.ws_url}/ws/clusters/{cluster}/tail", additional_headers=headers, open_timeout=10)


async def _read(ws: ClientConnection, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    dropped = 0
    async with asyncio.timeout(timeout):
        while len(items) + dropped < count:
            frame = json.loads(await ws.recv())
            if frame["type"] == "messages":
                items.extend(frame["items"])
                dropped = frame["total_dropped"]
                await ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
            elif frame["type"] == "error":
                raise AssertionError(frame)
    assert dropped == 0
    return items


async def _subscribed(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"action": "subscribe", **frame}))
    async with asyncio.timeout(20):
        while True:
            answer = json.loads(await ws.recv())
            if answer["type"] in ("subscribed", "error"):
                assert answer["type"] == "subscribed", answer
                return answer


async def _tail(web: WebProcess, cluster: str, frame: dict[str, Any], then: Callable[[], Awaitable[None]], count: int):
    async with _socket(web, cluster) as ws:
        await _subscribed(ws, frame)
        await then()
        return texts(await _read(ws, count))


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("now", ["new"]),
        ("beginning", ["a", "b", "c", "new"]),
        ({"last": 1}, ["c", "new"]),
        ({"offset": 1}, ["b", "c", "new"]),
    ],
)
async def test_kafka_topic(web, kafka_bootstrap, unique, start, expected):
    topic = await asyncio.to_thread(create_topic, kafka_bootstrap, unique)
    await asyncio.to_thread(produce, kafka_bootstrap, topic, [b"a", b"b", b"c"])

    async def then() -> None:
        await asyncio.to_thread(produce, kafka_bootstrap, topic, [b"new"])

    frame = {"source": "topic", "name": topic, "from": start}
    assert await _tail(web, "kafka", frame, then, len(expected)) == expected


async def test_kafka_topic_from_a_time(web, kafka_bootstrap, unique):
    topic = await asyncio.to_thread(create_topic, kafka_bootstrap, unique)
    await asyncio.to_thread(produce, kafka_bootstrap, topic, [b"before"])
    await asyncio.sleep(0.05)
    since = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.05)
    await asyncio.to_thread(produce, kafka_bootstrap, topic, [b"after"])

    async def nothing() -> None:
        return None

    frame = {"source": "topic", "name": topic, "from": {"time": since}}
    assert await _tail(web, "kafka", frame, nothing, 1) == ["after"]


@pytest.mark.parametrize(
    ("start", "expected"),
    [("now", ["new"]), ("beginning", ["a", "b", "new"]), ({"last": 1}, ["b", "new"]), ({"seq": 2}, ["b", "new"])],
)
async def test_jetstream_stream(web, nats_urls, unique, start, expected):
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    await js_publish(url, [(f"{unique}.x", b"a"), (f"{unique}.y", b"b")])

    async def then() -> None:
        await js_publish(url, [(f"{unique}.x", b"new")])

    frame = {"source": "stream", "name": name, "from": start}
    assert await _tail(web, "nats", frame, then, len(expected)) == expected


async def test_jetstream_stream_from_a_time_with_a_subject_filter(web, nats_urls, unique):
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    await js_publish(url, [(f"{unique}.x", b"before")])
    await asyncio.sleep(0.05)
    since = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.05)
    await js_publish(url, [(f"{unique}.y", b"other subject"), (f"{unique}.x", b"after")])

    async def nothing() -> None:
        return None

    frame = {"source": "stream", "name": name, "from": {"time": since}, "subject": f"{unique}.x"}
    assert await _tail(web, "nats", frame, nothing, 1) == ["after"]


async def test_core_subject_pattern(web, nats_urls, unique):
    async def then() -> None:
        await nats_publish(nats_urls[0], [(f"{unique}.a.b", b"deep"), (f"{unique}.a", b"shallow"), ("other", b"no")])

    frame = {"source": "subject", "name": f"{unique}.>"}
    assert await _tail(web, "nats", frame, then, 2) == ["deep", "shallow"]


@pytest.mark.parametrize(("cluster", "token", "code"), [("nats", "sdk_wrong", 4401), ("nope", None, 4404)])
async def test_refusals_are_close_codes_before_any_frame(web, cluster, token, code):
    async with _socket(web, cluster, token) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_kill_9_leaves_no_consumer_and_no_group(web, nats_urls, kafka_bootstrap, unique):
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    topic = await asyncio.to_thread(create_topic, kafka_bootstrap, unique)
    async with _socket(web, "nats") as stream_ws, _socket(web, "kafka") as topic_ws:
        await _subscribed(stream_ws, {"source": "stream", "name": name, "from": "beginning"})
        await _subscribed(topic_ws, {"source": "topic", "name": topic, "from": "beginning"})
        info = await asyncio.to_thread(stream_info, url, name)
        assert info["state"]["consumer_count"] == 1
        web.kill()
    try:
        # The server deletes the idle ephemeral consumer by itself (inactive_threshold, 2 s here).
        for _ in range(100):
            if (await asyncio.to_thread(stream_info, url, name))["state"]["consumer_count"] == 0:
                break
            await asyncio.sleep(0.2)
        assert (await asyncio.to_thread(stream_info, url, name))["state"]["consumer_count"] == 0
        from tests.tail.test_kafka_tail import _group_ids

        assert not {g for g in await asyncio.to_thread(_group_ids, kafka_bootstrap) if "streamdesk" in g}
    finally:
        await asyncio.to_thread(web.start)
