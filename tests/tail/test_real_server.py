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
from tests.polling import wait_until_async
from tests.tail.helpers import js_publish, nats_publish, texts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tail-web")]


def _socket(web: WebProcess, cluster: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token if token is not None else web.token}"}
    return connect(f"{web.ws_url}/ws/clusters/{cluster}/tail", additional_headers=headers, open_timeout=10)


async def _read(ws: ClientConnection, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    items, dropped = await _read_or_drop(ws, count, timeout)
    assert dropped == 0
    return items


async def _read_or_drop(ws: ClientConnection, count: int, timeout: float) -> tuple[list[dict[str, Any]], int]:
    """Reads until `count` changes were delivered or counted as dropped, acknowledging each frame."""
    items: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    dropped = 0
    try:
        async with asyncio.timeout(timeout):
            while len(items) + dropped < count:
                frame = json.loads(await ws.recv())
                if frame["type"] == "messages":
                    items.extend(frame["items"])
                    dropped = frame["total_dropped"]
                    await ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
                elif frame["type"] == "error":
                    raise AssertionError(frame)
                else:
                    others.append(frame)
    except TimeoutError:
        raise TimeoutError(f"{len(items)} of {count} items in {timeout} s: {items}; other frames: {others}") from None
    return items, dropped


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
    await asyncio.sleep(0.05)  # a time strictly between the two messages' timestamps: only the clock makes one
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
    await asyncio.sleep(0.05)  # a time strictly between the two messages' timestamps: only the clock makes one
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
        await wait_until_async(
            lambda: asyncio.to_thread(stream_info, url, name),
            until=lambda info: info["state"]["consumer_count"] == 0,
            timeout=20,
            interval=0.2,
            message="the server deleting the idle tail consumer",
        )
        from tests.tail.test_kafka_tail import _group_ids

        assert not {g for g in await asyncio.to_thread(_group_ids, kafka_bootstrap) if "streamdesk" in g}
    finally:
        await asyncio.to_thread(web.start)


async def test_acks_without_the_frames_token_get_no_more_than_the_window(web, nats_urls, unique):
    subject = f"{unique}.blind"
    async with _socket(web, "nats") as ws:
        await _subscribed(ws, {"source": "subject", "name": subject})
        for start in range(0, 400, 40):
            await nats_publish(nats_urls[0], [(subject, b"m%d" % i) for i in range(start, start + 40)])
            await asyncio.sleep(0.06)  # a frame every 50 ms: more frames than the window
        frames: list[dict[str, Any]] = []
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "messages":
                        frames.append(frame)
                        await ws.send(json.dumps({"action": "ack", "seq": frame["seq"]}))
                        await ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": "guess"}))
        assert len(frames) == 4, "acks without the token opened the window"
        await ws.send(json.dumps({"action": "ack", "seq": frames[-1]["seq"], "token": frames[-1]["token"]}))
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "messages":
                    assert frame["seq"] == 5
                    break


async def test_the_socket_limit_per_user_holds_in_the_web_process(web):
    from tests.tail.conftest import SOCKETS_PER_USER

    async def refused() -> int | None:
        async with _socket(web, "nats") as ws:
            try:
                await asyncio.wait_for(ws.recv(), 1.0)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None
            except TimeoutError:
                return None
        return None

    sockets = [await _socket(web, "nats").__aenter__() for _ in range(SOCKETS_PER_USER)]
    try:
        assert await refused() == 4429
    finally:
        for ws in sockets:
            await ws.close()
    # Daphne hands the closes to the application in its own time.
    await wait_until_async(
        refused, until=lambda code: code is None, timeout=10, interval=0.1, message="closed sockets no longer counted"
    )


async def test_daphne_drops_a_frame_over_a_megabyte_before_the_application_sees_it(web):
    async with _socket(web, "nats") as ws:
        # Autobahn fails the connection (1009) as soon as the frame's length is read: the client may be
        # cut off while it is still sending, or before it reads the close frame.
        with pytest.raises((ConnectionClosed, ConnectionResetError)) as closed:
            await ws.send("x" * (2 * 1024 * 1024))
            await asyncio.wait_for(ws.recv(), 10)
    if isinstance(closed.value, ConnectionClosed):
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
