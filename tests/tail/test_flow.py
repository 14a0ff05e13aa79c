"""Fan-out, flow control and exact counts through the tail socket, on a real nats-server.

One upstream subscription however many sockets watch (the server's own ``subsz``
says so); a socket that stops acknowledging loses its oldest messages, counted,
while the others get everything; received + dropped = matched for every socket.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from streams.tail import hub as tail_hub
from tests.nats.helpers import create_own_stream
from tests.polling import wait_until_async
from tests.tail.helpers import close_message, js_publish, nats_publish, open_tail, texts

pytestmark = pytest.mark.django_db(transaction=True)


async def _subscriptions_on(monitor: str, subject: str) -> int:
    """The server's own count of subscriptions on ``subject`` (a pattern), from its monitoring port."""
    literal = subject.replace("*", "x").replace(">", "x")
    async with httpx.AsyncClient() as client:
        answer = (await client.get(f"{monitor}/subsz", params={"subs": 1, "test": literal})).json()
    return sum(1 for sub in answer.get("subscriptions_list") or [] if sub["subject"] == subject)


async def test_many_sockets_share_one_upstream_subscription(viewer, nats_urls, unique):
    url, monitor = nats_urls
    pattern = f"{unique}.sensors.>"
    tails = [await open_tail(viewer, "nats") for _ in range(12)]
    for tail in tails:
        assert (await tail.subscribe("subject", pattern))["type"] == "subscribed"
    assert await _subscriptions_on(monitor, pattern) == 1
    [upstream] = [u for u in tail_hub.hub().upstreams.values() if u.spec.name == pattern]
    assert len(upstream.subscribers) == 12
    await nats_publish(url, [(f"{unique}.sensors.t{i % 3}", str(i).encode()) for i in range(300)])
    for tail in tails:
        assert texts(await tail.collect(300)) == [str(i) for i in range(300)]
    for tail in tails[:-1]:
        await tail.close()
    assert await _subscriptions_on(monitor, pattern) == 1
    await tails[-1].close()
    await wait_until_async(lambda: pattern not in {u.spec.name for u in tail_hub.hub().upstreams.values()})
    await wait_until_async(
        lambda: _subscriptions_on(monitor, pattern),
        until=lambda count: count == 0,
        timeout=5,
        interval=0.1,
        message="the upstream subscription ending with its last socket",
    )


async def test_a_stalled_socket_drops_its_oldest_and_says_how_many(viewer, nats_urls, unique, settings):
    settings.TAIL_BUFFER_MESSAGES = 200
    url = nats_urls[0]
    subject = f"{unique}.flood"
    stalled, healthy = await open_tail(viewer, "nats"), await open_tail(viewer, "nats")
    await stalled.subscribe("subject", subject)
    await healthy.subscribe("subject", subject)
    sent = 3000

    async def publish() -> None:
        # In bursts the healthy socket keeps up with; the stalled one cannot keep anything up.
        for start in range(0, sent, 100):
            await nats_publish(url, [(subject, b"m%d" % i) for i in range(start, start + 100)])
            await asyncio.sleep(0.05)

    publishing = asyncio.create_task(publish())
    # The healthy socket gets every message while the other acknowledges nothing.
    assert texts(await healthy.collect(sent, timeout=30)) == [f"m{i}" for i in range(sent)]
    assert healthy.total_dropped == 0
    await publishing
    [upstream] = [u for u in tail_hub.hub().upstreams.values() if u.spec.name == subject]
    [slow] = [s for s in upstream.subscribers if s.acked_seq == 0]
    assert len(slow.buffer) <= 200 and slow.in_flight <= slow.limits.window
    assert slow.matched == sent and slow.total_dropped >= sent - 200 - slow.delivered
    # Now it reads again: what it gets and what it was told it lost add up to what matched.
    await stalled.collect(sent, timeout=30)
    assert len(stalled.received) + stalled.total_dropped == sent
    assert stalled.total_dropped > 0
    kept = [int(item["value"]["text"][1:]) for item in stalled.received]
    assert kept == sorted(kept) and kept[-1] == sent - 1
    status = await stalled.status()
    assert status["matched"] == sent and status["total_dropped"] == stalled.total_dropped
    await stalled.close()
    await healthy.close()


async def test_hostile_and_binary_payloads_arrive_as_data(viewer, nats_urls, unique):
    url = nats_urls[0]
    subject = f"{unique}.hostile"
    tail = await open_tail(viewer, "nats")
    await tail.subscribe("subject", subject)
    script = b"<script>alert(1)</script>\"'&"
    binary = bytes([0xFF, 0x00, 0xFE, 0x80, 0x27, 0x3C])
    await nats_publish(url, [(subject, script)], headers={"x-evil": "<img src=x onerror=alert(1)>"})
    await nats_publish(url, [(subject, binary), (subject, "snowman ☃ \u2028".encode()), (subject, b"")])
    items = await tail.collect(4)
    assert items[0]["value"]["text"] == script.decode()
    assert items[0]["headers"] == [
        ["x-evil", {"text": "<img src=x onerror=alert(1)>", "base64": "PGltZyBzcmM9eCBvbmVycm9yPWFsZXJ0KDEpPg=="}]
    ]
    assert items[1]["value"]["text"] is None
    assert base64.b64decode(items[1]["value"]["base64"]) == binary
    assert items[2]["value"]["text"] == "snowman ☃ \u2028"
    assert items[3]["value"] == {"text": "", "base64": ""}
    await tail.close()


async def test_large_bodies_are_cut_on_the_server(viewer, nats_urls, unique):
    subject = f"{unique}.big"
    tail = await open_tail(viewer, "nats")
    await tail.subscribe("subject", subject)
    await nats_publish(nats_urls[0], [(subject, b"x" * 200_000)])
    [item] = await tail.collect(1)
    assert item["truncated"] is True and item["size"] == 200_000
    assert len(item["value"]["text"]) == 16 * 1024
    await tail.close()


async def test_the_filter_runs_on_the_server_over_key_value_and_header_values(viewer, nats_urls, unique):
    subject = f"{unique}.orders"
    tail = await open_tail(viewer, "nats")
    subscribed = await tail.subscribe("subject", subject, filter="gold")
    assert subscribed["filtered_on_server"] is True
    await nats_publish(nats_urls[0], [(subject, b"plain"), (subject, b"a gold order"), (subject, b"other")])
    await nats_publish(nats_urls[0], [(subject, b"tagged")], headers={"tier": "gold"})
    await nats_publish(nats_urls[0], [(subject, b"name only")], headers={"gold": "no"})
    assert texts(await tail.collect(2)) == ["a gold order", "tagged"]
    status = await tail.until("status", timeout=5)
    while status["scanned"] < 5:
        status = await tail.until("status", timeout=5)
    assert (status["scanned"], status["matched"], status["total_dropped"]) == (5, 2, 0)
    await tail.close()


async def test_pause_keeps_the_cursor_and_loses_nothing_within_the_buffer(viewer, nats_urls, unique):
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    tail = await open_tail(viewer, "nats")
    await tail.subscribe("stream", name)
    await js_publish(url, [(f"{unique}.a", b"before")])
    assert texts(await tail.collect(1)) == ["before"]
    await tail.send(action="pause")
    paused_at = len(tail.frames)
    await js_publish(url, [(f"{unique}.a", b"p%d" % i) for i in range(50)])
    # Status frames until the tail has matched all 50: they are then buffered, none of them sent.
    status = await wait_until_async(
        tail.status, until=lambda status: status["matched"] >= 51, interval=0, message="51 matched"
    )
    assert not [f for f in tail.frames[paused_at:] if f["type"] == "messages"]
    assert status["paused"] is True and status["buffered"] == 50
    await tail.send(action="resume")
    assert texts(await tail.collect(51))[1:] == [f"p{i}" for i in range(50)]
    assert tail.total_dropped == 0
    await tail.close()


@pytest.mark.parametrize(
    ("start", "expected"), [({"last": 2}, ["c", "d"]), ({"seq": 2}, ["b", "c", "d"]), ("now", ["e"])]
)
async def test_stream_start_positions(viewer, nats_urls, unique, start, expected):
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    await js_publish(url, [(f"{unique}.x", v.encode()) for v in "abcd"])
    tail = await open_tail(viewer, "nats")
    subscribed = await tail.subscribe("stream", name, **{"from": start})
    assert subscribed["type"] == "subscribed", subscribed
    await js_publish(url, [(f"{unique}.x", b"e")])
    got = await tail.collect(len(expected) + (0 if start == "now" else 1))
    assert texts(got)[: len(expected)] == expected
    await tail.close()


async def test_stream_from_a_time(viewer, nats_urls, unique):
    from datetime import UTC, datetime

    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    await js_publish(url, [(f"{unique}.x", b"old")])
    await asyncio.sleep(0.05)  # a time strictly between the two messages' timestamps: only the clock makes one
    since = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.05)
    await js_publish(url, [(f"{unique}.x", b"new")])
    tail = await open_tail(viewer, "nats")
    assert (await tail.subscribe("stream", name, **{"from": {"time": since}}))["type"] == "subscribed"
    assert texts(await tail.collect(1)) == ["new"]
    await tail.close()


async def test_errors_name_the_field_and_keep_the_socket_open(viewer, unique):
    tail = await open_tail(viewer, "nats")
    assert (await tail.subscribe("stream", f"{unique}NOPE".upper()))["field"] == "name"
    assert (await tail.subscribe("subject", "a.b", **{"from": "beginning"}))["field"] == "from"
    assert (await tail.subscribe("subject", "a.>.b"))["field"] == "name"
    await tail.send(action="dance")
    assert (await tail.until("error"))["field"] == "action"
    await tail.ws.send_to(text_data="not json")
    assert (await tail.until("error"))["type"] == "error"
    assert (await tail.subscribe("subject", f"{unique}.ok"))["type"] == "subscribed"
    await tail.close()


@pytest.mark.parametrize("source", ["stream", "topic"])
async def test_a_replay_waits_for_a_slow_socket_instead_of_dropping(
    viewer, nats_urls, kafka_bootstrap, unique, source, settings
):
    settings.TAIL_BUFFER_MESSAGES = 100
    count = 1500
    values = [b"r%d" % i for i in range(count)]
    if source == "stream":
        url = nats_urls[0]
        name = await asyncio.to_thread(create_own_stream, url, unique)
        await js_publish(url, [(f"{unique}.x", v) for v in values])
        cluster = "nats"
    else:
        from tests.kafka.helpers import create_topic, produce

        name = await asyncio.to_thread(create_topic, kafka_bootstrap, unique)
        await asyncio.to_thread(produce, kafka_bootstrap, name, values)
        cluster = "kafka"
    tail = await open_tail(viewer, cluster)
    assert (await tail.subscribe(source, name, **{"from": "beginning"}))["type"] == "subscribed"
    await tail.send(action="pause")
    await asyncio.sleep(1.0)  # paused: the queue fills up, then the upstream waits
    await tail.status()
    status = await tail.status()
    # A frame may have left before the pause arrived; beyond it, at most the queue's 100 were read.
    before_pause = len(tail.received)
    assert status["total_dropped"] == 0 and status["buffered"] <= 100, tail.frames
    assert status["matched"] <= before_pause + 100, tail.frames
    await tail.send(action="resume")
    received = await tail.collect(count, timeout=60)
    assert tail.total_dropped == 0
    assert texts(received) == [v.decode() for v in values]
    await tail.close()


async def test_a_socket_that_leaves_frames_unacknowledged_too_long_is_closed(viewer, nats_urls, unique, settings):
    settings.TAIL_STALL_SECONDS = 1.0
    subject = f"{unique}.stuck"
    tail = await open_tail(viewer, "nats")
    await tail.subscribe("subject", subject)
    await nats_publish(nats_urls[0], [(subject, b"unread")])
    closed = await close_message(tail.ws)
    assert closed is not None and closed["code"] == 4408 and "acknowledgement" in closed["reason"]
    await wait_until_async(lambda: subject not in {u.spec.name for u in tail_hub.hub().upstreams.values()})
