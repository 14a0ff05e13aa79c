"""Key-Value watches through the tail socket on a real Daphne and nats-server, as the viewer's token.

Changes are written by an independent nats-py client; the watch must show every one,
in revision order, with deletes and purges named, and count what a slow client lost.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
import pytest
from websockets.asyncio.client import ClientConnection

from dev.webprocess import WebProcess
from tests.nats.helpers import FAIL_FAST
from tests.tail.test_real_server import _read, _read_or_drop, _socket, _subscribed

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tail-web")]


def _bucket(unique: str) -> str:
    return unique.replace("-", "_")


async def _kv(url: str, bucket: str, work: Any, *, history: int = 5) -> Any:
    nc = await nats.connect(url, **FAIL_FAST)
    try:
        js = nc.jetstream()
        try:
            store = await js.key_value(bucket)
        except Exception:  # noqa: BLE001 - not there yet
            store = await js.create_key_value(bucket=bucket, history=history, storage="memory")
        return await work(nc, store)
    finally:
        await nc.close()


async def _consumers(url: str, bucket: str) -> int:
    nc = await nats.connect(url, **FAIL_FAST)
    try:
        info = await nc.jetstream().stream_info(f"KV_{bucket}")
        return info.state.consumer_count
    finally:
        await nc.close()


def _changes(items: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(i["key"], i["operation"], i["value"]["text"] if i["operation"] == "PUT" else None) for i in items]


async def test_beginning_gives_every_current_value_then_updates_deletes_and_purges(web: WebProcess, nats_urls, unique):
    url, bucket = nats_urls[0], _bucket(unique)

    async def seed(nc: Any, store: Any) -> None:
        await store.put("app.db.host", b"h1")
        await store.put("app.db.host", b"h2")
        await store.put("a/b=c.d", b"slash")
        await store.put("gone", b"x")
        await store.delete("gone")

    await _kv(url, bucket, seed)
    async with _socket(web, "nats") as ws:
        subscribed = await _subscribed(ws, {"source": "kv", "name": bucket, "keys": None, "from": "beginning"})
        assert subscribed["source"] == "kv" and subscribed["name"] == bucket
        current = await _read(ws, 3)
        # The latest revision of every key, oldest change first, the delete marker included.
        assert _changes(current) == [("app.db.host", "PUT", "h2"), ("a/b=c.d", "PUT", "slash"), ("gone", "DEL", None)]
        assert [i["revision"] for i in current] == [2, 3, 5]
        assert all(i["created"] for i in current)

        async def change(nc: Any, store: Any) -> None:
            await store.put("app.db.host", b"h3")
            await store.delete("a/b=c.d")

        async def purge(nc: Any, store: Any) -> None:
            await store.purge("app.db.host")
            await store.put("new", b"\x00\xff")

        # The purge's rollup removes h3 from the stream: a watch that had not yet been sent
        # h3 would rightly never see it, so the purge waits until h3 has arrived.
        await _kv(url, bucket, change)
        later = await _read(ws, 2)
        await _kv(url, bucket, purge)
        later += await _read(ws, 2)
    assert [(i["key"], i["operation"]) for i in later] == [
        ("app.db.host", "PUT"),
        ("a/b=c.d", "DEL"),
        ("app.db.host", "PURGE"),
        ("new", "PUT"),
    ]
    assert [i["revision"] for i in later] == [6, 7, 8, 9]
    assert later[0]["value"]["text"] == "h3"
    assert later[3]["value"] == {"text": None, "base64": "AP8="}


async def test_now_loses_nothing_in_order_and_sockets_share_one_consumer(web: WebProcess, nats_urls, unique):
    url, bucket = nats_urls[0], _bucket(unique)

    async def create(nc: Any, store: Any) -> None:
        await store.put("before", b"not shown")

    await _kv(url, bucket, create)
    count = 3000
    async with _socket(web, "nats") as first, _socket(web, "nats") as second:
        for ws in (first, second):
            await _subscribed(ws, {"source": "kv", "name": bucket, "from": "now"})
        # One upstream for both sockets: one consumer on the bucket's stream.
        assert await _consumers(url, bucket) == 1

        # Each change its own key: a key's older revisions past the bucket's history are the
        # server's to drop, read or not.
        async def flood(nc: Any, store: Any) -> None:
            for i in range(count):
                await nc.publish(f"$KV.{bucket}.k.{i}", b"%d" % i)
            await nc.flush()

        await _kv(url, bucket, flood)
        for ws in (first, second):
            items = await _read(ws, count)
            assert [i["value"]["text"] for i in items] == [str(i) for i in range(count)]
            assert [i["revision"] for i in items] == list(range(2, count + 2))
            assert [i["key"] for i in items[:3]] == ["k.0", "k.1", "k.2"]


async def test_a_key_pattern_watches_only_its_keys(web: WebProcess, nats_urls, unique):
    url, bucket = nats_urls[0], _bucket(unique)

    async def seed(nc: Any, store: Any) -> None:
        await store.put("app.db.host", b"in")
        await store.put("app.web", b"out")
        await store.put("app.db.port", b"in too")

    await _kv(url, bucket, seed)
    async with _socket(web, "nats") as ws:
        await _subscribed(ws, {"source": "kv", "name": bucket, "keys": "app.db.*", "from": "beginning"})
        assert [i["key"] for i in await _read(ws, 2)] == ["app.db.host", "app.db.port"]

        async def more(nc: Any, store: Any) -> None:
            await store.put("app.web", b"out")
            await store.put("app.db.user", b"in")
            await store.put("app.db.deep.er", b"out: two tokens")
            await store.put("app.db.host", b"in")

        await _kv(url, bucket, more)
        assert [i["key"] for i in await _read(ws, 2)] == ["app.db.user", "app.db.host"]
        # Nothing else is on its way.
        with pytest.raises(TimeoutError):
            await _read(ws, 1, timeout=1)


async def _error(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"action": "subscribe", **frame}))
    async with asyncio.timeout(20):
        while True:
            answer = json.loads(await ws.recv())
            if answer["type"] in ("subscribed", "error"):
                return answer


async def test_bad_and_unknown_buckets_and_patterns_are_errors_naming_the_field(web: WebProcess, unique):
    async with _socket(web, "nats") as ws:
        unknown = await _error(ws, {"source": "kv", "name": _bucket(unique)})
        assert unknown["type"] == "error" and unknown["field"] == "name" and "bucket" in unknown["error"]
        bad = await _error(ws, {"source": "kv", "name": "a.b"})
        assert bad["type"] == "error" and bad["field"] == "name"
        pattern = await _error(ws, {"source": "kv", "name": "b", "keys": "a.>.c"})
        assert pattern["type"] == "error" and pattern["field"] == "keys"
        late = await _error(ws, {"source": "kv", "name": "b", "from": {"last": 3}})
        assert late["type"] == "error" and late["field"] == "from"
        wrong = await _error(ws, {"source": "stream", "name": "b", "keys": "a"})
        assert wrong["type"] == "error" and wrong["field"] == "keys"


async def test_a_slow_client_is_told_how_many_changes_it_lost(web: WebProcess, nats_urls, unique):
    url, bucket = nats_urls[0], _bucket(unique)
    await _kv(url, bucket, lambda nc, store: store.put("seed", b"s"))
    # More than the socket's queue (10,000 messages) and the ack window hold.
    count = 20_000
    async with _socket(web, "nats") as ws:
        await _subscribed(ws, {"source": "kv", "name": bucket, "from": "now"})

        async def flood(nc: Any, store: Any) -> None:
            for i in range(count):
                await nc.publish(f"$KV.{bucket}.k.{i}", b"%d" % i)
            await nc.flush()

        # Nothing read, nothing acknowledged while the changes arrive.
        await _kv(url, bucket, flood)
        await asyncio.sleep(2)  # unread, the changes pile up on the server: only time makes them
        items, dropped = await _read_or_drop(ws, count, timeout=30)
    assert len(items) + dropped == count
    assert dropped > 0
    kept = [int(i["value"]["text"]) for i in items]
    assert kept == sorted(kept) and kept[-1] == count - 1


async def test_a_reconnecting_page_resumes_after_the_last_revision_it_showed(web: WebProcess, nats_urls, unique):
    url, bucket = nats_urls[0], _bucket(unique)

    async def seed(nc: Any, store: Any) -> None:
        for i in range(5):
            await store.put(f"k.{i}", b"%d" % i)

    await _kv(url, bucket, seed)
    async with _socket(web, "nats") as ws:
        subscribed = await _subscribed(ws, {"source": "kv", "name": bucket, "from": {"seq": 4}})
        assert subscribed["from"] == {"seq": 4}
        assert [(i["key"], i["revision"]) for i in await _read(ws, 2)] == [("k.3", 4), ("k.4", 5)]
