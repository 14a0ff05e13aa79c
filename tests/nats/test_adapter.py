"""The adapter's own guards: one connection however many first calls race, and paged
lists read with bounded concurrency and a bounded number of pages."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from streams.clusters import ClusterConfig
from streams.nats import adapter as nats_broker
from streams.nats import connection, jetstream
from streams.nats.adapter import NatsAdapter
from tests.polling import wait_until


def adapter_for(url: str, monitor_url: str, unique: str) -> NatsAdapter:
    return NatsAdapter(ClusterConfig(slug=unique, kind="nats", name=unique, servers=(url,), monitor_url=monitor_url))


def streamdesk_connections(monitor_url: str) -> set[int]:
    connz = httpx.get(f"{monitor_url}/connz", params={"limit": 10_000}, timeout=5).json()
    return {c["cid"] for c in connz.get("connections") or [] if c.get("name") == "streamdesk"}


def settled_connections(monitor_url: str, expected: int, before: set[int]) -> set[int]:
    """The console's new connections, once the server shows ``expected`` of them."""
    return wait_until(
        lambda: streamdesk_connections(monitor_url) - before,
        until=lambda new: len(new) == expected,
        timeout=2,
        interval=0.05,
        message=f"{expected} new connections of the console",
    )


def test_concurrent_first_calls_share_one_connection(nats_urls, unique):
    url, monitor_url = nats_urls
    before = streamdesk_connections(monitor_url)
    adapter = adapter_for(url, monitor_url, unique)
    try:

        async def race() -> list[Any]:
            return await asyncio.gather(*(adapter.ping() for _ in range(8)))

        health = asyncio.run(race())
        assert all(one.reachable for one in health), [one.error for one in health]
        assert len(settled_connections(monitor_url, 1, before)) == 1
    finally:
        adapter.close()
    assert settled_connections(monitor_url, 0, before) == set()


def test_concurrent_first_calls_share_one_failure(monkeypatch, dead_port, unique):
    adapter = adapter_for(f"nats://127.0.0.1:{dead_port}", "", unique)
    attempts = 0
    real_connect = connection.nats.connect

    async def counting_connect(**options: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await real_connect(**options)

    monkeypatch.setattr(connection.nats, "connect", counting_connect)
    try:

        async def race() -> list[Any]:
            return await asyncio.gather(*(adapter.ping() for _ in range(8)))

        health = asyncio.run(race())
    finally:
        adapter.close()
    assert not any(one.reachable for one in health)
    assert attempts == 1  # the others waited for it, then met its backoff


def test_paged_lists_bound_concurrency_and_pages(monkeypatch, unique):
    monkeypatch.setattr(jetstream, "LIST_CONCURRENCY", 3)
    monkeypatch.setattr(jetstream, "LIST_MAX_PAGES", 10)
    adapter = adapter_for("nats://127.0.0.1:4222", "", unique)
    asked: list[int] = []
    in_flight = peak = 0

    async def fake_api(api: str, body: dict[str, Any] | None = None, *, what: str) -> dict[str, Any]:
        nonlocal in_flight, peak
        offset = (body or {})["offset"]
        asked.append(offset)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        items = [{"config": {"name": f"S{offset + i}"}} for i in range(256)]
        return {"total": 10_000_000, "limit": 256, "offset": offset, "streams": items}

    monkeypatch.setattr(adapter, "api", fake_api)
    try:
        found = asyncio.run(adapter._list_all("STREAM.LIST", "streams", nats_broker._stream_name, what="Listing"))
    finally:
        adapter.close()
    assert len(asked) == 10 and len(found) == 10 * 256
    assert peak == 3
