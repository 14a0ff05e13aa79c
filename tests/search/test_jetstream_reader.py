"""The stream reader on its own against the real nats-server: whole batches in order, nothing read
twice or left out, no failure to recover from on the way; and the raw-bytes text test agreeing
with the filters' own."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest

from streams.clusters import ClusterConfig
from streams.search import jetstream_read as jr
from streams.search.filters import matcher
from streams.search.jetstream_scan import item_matcher
from tests.nats import helpers as h

N = 12_345


@pytest.fixture
def url(nats_urls: tuple[str, str]) -> str:
    return nats_urls[0]


def fill(url: str, unique: str) -> None:
    async def work(nc: Any) -> None:
        js = nc.jetstream()
        for start in range(0, N, 1000):
            acks = [
                await js.publish_async(f"{unique}.{i % 3}", b"v%d" % i, headers={"n": str(i)} if i % 100 == 0 else None)
                for i in range(start, min(N, start + 1000))
            ]
            await asyncio.gather(*acks)

    h.run(url, work)


def read(url: str, name: str, method: str, where: jr.Range, batch: int) -> tuple[list[jr.Item], list[int]]:
    async def main() -> tuple[list[jr.Item], list[int]]:
        nc = await nats.connect(url)
        reader = jr.StreamReader(nc, where, method, batch=batch, max_bytes=1 << 20, timeout=5)
        items: list[jr.Item] = []
        sizes: list[int] = []
        try:
            await reader.open()
            while True:
                got = await reader.next_batch(5)  # any Idle or ReadFailed fails the test
                if not got and reader.done:
                    return items, sizes
                items.extend(got)
                sizes.append(len(got))
        finally:
            await reader.close()
            await nc.close()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("retention", "allow_direct", "method"),
    [("limits", False, jr.CONSUMER), ("workqueue", True, jr.DIRECT), ("workqueue", False, jr.MSG_GET)],
)
def test_a_range_is_read_whole_in_order_in_batches(url, unique, retention, allow_direct, method):
    name = h.create_own_stream(url, unique, retention=retention, allow_direct=allow_direct)
    fill(url, unique)
    info = h.stream_info(url, name)
    assert jr.method_for(info, "2.15.1") == method

    items, sizes = read(url, name, method, jr.Range(name, 1, N + 1, None), 1000)
    assert [i[0] for i in items] == list(range(1, N + 1))
    assert items[100][1] == f"{unique}.1" and items[100][4] == b"v100"
    assert jr.header_list(items[100][3]) == [("n", b"100")] and not jr.header_list(items[101][3])
    assert jr.iso(items[0][2]) is not None
    if method != jr.MSG_GET:
        assert max(sizes) == 1000 and len(sizes) <= N // 1000 + 2, sizes

    inner, _ = read(url, name, method, jr.Range(name, 2001, 9001, f"{unique}.2"), 500)
    assert [i[0] for i in inner] == [s for s in range(2001, 9001) if (s - 1) % 3 == 2]
    assert h.stream_info(url, name)["state"]["consumer_count"] == 0


def test_text_on_raw_bytes_agrees_with_the_filters():
    config = ClusterConfig(slug="n", kind="nats", name="n", servers=("nats://x:1",))
    items: list[jr.Item] = [
        (1, "a", 0, None, b'{"order": 4711}'),
        (2, "a", 0, {"trace": "4711"}, b"other"),
        (3, "a", 0, {"trace": "x"}, b"4 7 1 1"),
        (4, "a", 0, None, b""),
        (5, "a", 0, [("raw", b"\xff4711")], b"\xff\xfe"),
    ]
    for text in ("4711", "x", '"order"', "\xff"):
        fast = item_matcher(config, {"text": text}, matcher(text, None))
        slow = item_matcher(config, {"text": text, "jq": "true"}, matcher(text, "true"))
        assert [fast(i) for i in items] == [slow(i) for i in items], text
    assert all(item_matcher(config, {}, matcher(None, None))(i) for i in items)
