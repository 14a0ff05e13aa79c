"""NATS inspection under load: a streams page among 1,000 streams, a consumers page
among 1,000 consumers of one stream.

Starts its own nats-server (JetStream, monitoring) and a throwaway SQLite database,
creates the streams and consumers (memory storage) with raw JetStream API requests,
then times the console's own views in-process through Django's test client (server
time: middleware, view, adapter, JetStream round trips, template; no network to a
browser). Each figure is the median of several runs; "cold" runs start with the
adapter's cache emptied, "cached" runs do not. The baseline pages through the same
lists with nats-py's JetStream manager helpers, one page after the other, in the
same process.

    .venv/bin/python -m bench.bench_nats
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import django_on, machine, median_seconds, superuser_get, table

STREAMS = 1000
CONSUMERS = 1000
COLD_RUNS = 7
WARM_RUNS = 20
TARGET = 0.300
CONSUMERS_STREAM = "BENCH_CONSUMERS"
BROWSE = 500


async def _seed(url: str) -> None:
    """1,000 memory streams with one message each, and one stream with 1,000 durable consumers."""
    import nats

    nc = await nats.connect(url)
    gate = asyncio.Semaphore(32)

    async def api(subject: str, body: dict[str, Any]) -> None:
        async with gate:
            reply = await nc.request(f"$JS.API.{subject}", json.dumps(body).encode(), timeout=30)
            answer = json.loads(reply.data)
            assert "error" not in answer, answer

    try:
        await asyncio.gather(
            *(
                api(
                    f"STREAM.CREATE.BENCH_{i:04d}",
                    {"name": f"BENCH_{i:04d}", "subjects": [f"bench.{i}.>"], "storage": "memory"},
                )
                for i in range(STREAMS - 1)
            )
        )
        await api(
            f"STREAM.CREATE.{CONSUMERS_STREAM}",
            {"name": CONSUMERS_STREAM, "subjects": ["work.>"], "storage": "memory"},
        )
        js = nc.jetstream()
        for i in range(STREAMS - 1):
            await nc.publish(f"bench.{i}.x", b"x")
        for i in range(1000):
            await js.publish(f"work.{i % 10}", b'{"job": %d, "payload": "%s"}' % (i, b"x" * 200))
        await asyncio.gather(
            *(
                api(
                    f"CONSUMER.CREATE.{CONSUMERS_STREAM}.c{i:04d}",
                    {
                        "stream_name": CONSUMERS_STREAM,
                        "config": {
                            "name": f"c{i:04d}",
                            "durable_name": f"c{i:04d}",
                            "ack_policy": "explicit",
                            "filter_subject": f"work.{i % 10}",
                        },
                    },
                )
                for i in range(CONSUMERS)
            )
        )
        await nc.flush()
    finally:
        await nc.close()


async def _allow_direct(url: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        subject = f"$JS.API.STREAM.INFO.{CONSUMERS_STREAM}"
        config = json.loads((await nc.request(subject, b"", timeout=10)).data)["config"]
        config["allow_direct"] = True
        reply = await nc.request(f"$JS.API.STREAM.UPDATE.{CONSUMERS_STREAM}", json.dumps(config).encode(), timeout=10)
        assert "error" not in json.loads(reply.data)
    finally:
        await nc.close()


async def _naive_lists(url: str) -> tuple[int, int]:
    """The baseline: nats-py's manager helpers, page after page, into typed dataclasses."""
    import nats

    nc = await nats.connect(url)
    try:
        jsm = nc.jetstream()
        streams: list[Any] = []
        while True:
            page = await jsm.streams_info(offset=len(streams))
            streams.extend(page)
            if not page:
                break
        consumers: list[Any] = []
        while True:
            found = await jsm.consumers_info(CONSUMERS_STREAM, offset=len(consumers))
            consumers.extend(found)
            if not found:
                break
        return len(streams), len(consumers)
    finally:
        await nc.close()


def measure(url: str) -> dict[str, Any]:
    from streams import adapters

    get = superuser_get()

    def cold() -> None:
        adapters.get_adapter("nats").cache.invalidate()

    seeded_started = time.perf_counter()
    asyncio.run(_seed(url))
    results: dict[str, Any] = {"seed_seconds": time.perf_counter() - seeded_started}

    streams_api = "/api/v1/clusters/nats/streams"
    listing = get(streams_api).json()
    assert listing["total"] == STREAMS, listing["total"]
    consumers_path = f"/clusters/nats/streams/{CONSUMERS_STREAM}/consumers"
    consumers = get(f"/api/v1{consumers_path}").json()
    assert consumers["total"] == CONSUMERS, consumers["total"]

    results["streams_page_cold"] = median_seconds(lambda: get("/clusters/nats/streams"), COLD_RUNS, cold)
    results["streams_page_all_cold"] = median_seconds(
        lambda: get("/clusters/nats/streams", page_size=1000), COLD_RUNS, cold
    )
    results["streams_page_sorted_cold"] = median_seconds(
        lambda: get("/clusters/nats/streams", sort="messages", page=20), COLD_RUNS, cold
    )
    results["streams_api_all_cold"] = median_seconds(lambda: get(streams_api, page_size=1000), COLD_RUNS, cold)
    get("/clusters/nats/streams")
    results["streams_page_cached"] = median_seconds(lambda: get("/clusters/nats/streams"), WARM_RUNS)
    results["streams_search_cached"] = median_seconds(lambda: get("/clusters/nats/streams", q="bench.99"), WARM_RUNS)

    results["consumers_page_cold"] = median_seconds(lambda: get(consumers_path), COLD_RUNS, cold)
    results["consumers_page_all_cold"] = median_seconds(lambda: get(consumers_path, page_size=1000), COLD_RUNS, cold)
    results["consumers_page_lag_cold"] = median_seconds(lambda: get(consumers_path, sort="lag"), COLD_RUNS, cold)
    get(consumers_path)
    results["consumers_page_cached"] = median_seconds(lambda: get(consumers_path), WARM_RUNS)

    results["server_page"] = median_seconds(lambda: get("/clusters/nats/server"), COLD_RUNS)
    results["subjects_page_cold"] = median_seconds(lambda: get("/clusters/nats/subjects"), COLD_RUNS, cold)
    results["subjects_search_cold"] = median_seconds(
        lambda: get("/clusters/nats/subjects", q="bench.7.*"), COLD_RUNS, cold
    )

    messages_api = f"/api/v1/clusters/nats/streams/{CONSUMERS_STREAM}/messages"
    assert len(get(messages_api, limit=BROWSE).json()["messages"]) == BROWSE
    results["browse_msg_get"] = median_seconds(lambda: get(messages_api, limit=BROWSE), COLD_RUNS)
    asyncio.run(_allow_direct(url))
    direct = get(messages_api, limit=BROWSE).json()
    assert direct["method"] == "direct get" and len(direct["messages"]) == BROWSE
    results["browse_direct"] = median_seconds(lambda: get(messages_api, limit=BROWSE), COLD_RUNS)
    messages_page = f"/clusters/nats/streams/{CONSUMERS_STREAM}/messages"
    results["browse_page_direct"] = median_seconds(lambda: get(messages_page, limit=50), COLD_RUNS)
    assert asyncio.run(_naive_lists(url)) == (STREAMS, CONSUMERS)
    results["naive_lists"] = median_seconds(lambda: asyncio.run(_naive_lists(url)), COLD_RUNS)

    adapter = adapters.get_adapter("nats")

    async def adapter_lists() -> tuple[int, int]:
        return len(await adapter.streams()), len(await adapter.consumers(CONSUMERS_STREAM))

    results["adapter_lists"] = median_seconds(lambda: asyncio.run(adapter_lists()), COLD_RUNS, cold)
    return results


def report(results: dict[str, Any]) -> str:
    def met(key: str) -> str:
        return "yes" if results[key] < TARGET else "**no**"

    rows = [
        (f"Streams page (HTML), {STREAMS:,} streams, page of 50, cold", "streams_page_cold", "< 300 ms"),
        ("Streams page (HTML), all 1,000 rows on one page, cold", "streams_page_all_cold", "< 300 ms"),
        ("Streams page (HTML) sorted by messages, page 20, cold", "streams_page_sorted_cold", ""),
        ("Streams page (HTML), cached", "streams_page_cached", ""),
        ("Streams page (HTML), search over names and subjects, cached", "streams_search_cached", ""),
        ("Streams API, all 1,000 in one answer, cold", "streams_api_all_cold", ""),
        (f"Consumers page (HTML), {CONSUMERS:,} consumers, page of 50, cold", "consumers_page_cold", "< 300 ms"),
        ("Consumers page (HTML), all 1,000 rows on one page, cold", "consumers_page_all_cold", "< 300 ms"),
        ("Consumers page (HTML) sorted by lag, cold", "consumers_page_lag_cold", ""),
        ("Consumers page (HTML), cached", "consumers_page_cached", ""),
        ("For scale: server page (client INFO, $JS.API.INFO, varz, jsz)", "server_page", ""),
        ("Subjects page (HTML): subsz + the subjects of 1,000 streams, cold", "subjects_page_cold", ""),
        (
            "Subjects page (HTML), pattern search (only streams whose subjects overlap are asked), cold",
            "subjects_search_cold",
            "",
        ),
        (f"Message browser API, {BROWSE} messages, message get (one request each)", "browse_msg_get", ""),
        (f"Message browser API, {BROWSE} messages, batched direct get", "browse_direct", ""),
        ("Message browser page (HTML), 50 messages, direct get", "browse_page_direct", ""),
        ("Adapter: every stream + every consumer, cold", "adapter_lists", ""),
        ("Baseline: the same lists with nats-py's manager helpers, page after page", "naive_lists", ""),
    ]
    speedup = results["naive_lists"] / results["adapter_lists"]
    lines = [
        "## NATS inspection",
        "",
        f"Measured on {machine()}, against "
        "nats-server 2.15 (JetStream, memory storage) on localhost, started by the benchmark. Server time through "
        f"Django's test client; medians of {COLD_RUNS} cold runs (adapter cache emptied before each) and "
        f"{WARM_RUNS} cached runs. Creating {STREAMS:,} streams, {CONSUMERS:,} consumers and their messages "
        f"took {results['seed_seconds']:.1f} s.",
        "",
        *table((what, results[key], target, met(key) if target else "") for what, key, target in rows),
        "",
        "A cold streams page asks `$JS.API.STREAM.LIST` for the first 256 streams, then for the other three pages "
        "at once, and keeps the raw JSON (no typed client objects); the consumers page does the same with "
        f"`$JS.API.CONSUMER.LIST`. That is {speedup:,.1f}x faster than nats-py's manager helpers paging one after "
        "the other, measured in the same process. A cached page asks nothing. The browser reads 500 messages "
        f"{results['browse_msg_get'] / results['browse_direct']:,.1f}x faster with one batched direct get than "
        "with one message get per message (streams without allow_direct fall back to the latter).",
        "",
        "Command: `.venv/bin/python -m bench.bench_nats`",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="streamdesk-bench-nats-"))
    from dev import devstack

    server = devstack.nats_server(workdir).start()
    url = f"nats://127.0.0.1:{server.port}"
    monitor = f"http://127.0.0.1:{server.extra_ports['monitor']}"
    try:
        with django_on(workdir, {"NATS_URL": url, "NATS_MONITOR_URL": monitor}):
            print(report(measure(url)))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
