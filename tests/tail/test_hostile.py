"""Clients that do not play by the contract, on a real nats-server: acks that never read a frame,
too many sockets or replays, a pause that never ends, oversized, deep or endless frames.

Whatever such a client does, the server holds no more for it than its socket's bounded
queue and a window of frames, and the other sockets go on.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from streams.tail import hub as tail_hub
from streams.tail.session import ACTION_BURST, MAX_FRAME_BYTES
from streams.tail.upstream import Upstream
from tests.nats.helpers import create_own_stream
from tests.polling import wait_until_async
from tests.tail.helpers import TailClient, close_message, js_publish, nats_publish, open_tail, texts

pytestmark = pytest.mark.django_db(transaction=True)


async def _closed(tail: TailClient, timeout: float = 10) -> dict[str, Any]:
    """Read (without acking) until the server closes the socket; its close message."""
    return await close_message(tail.ws, timeout)


def _upstream_of(name: str) -> Upstream:
    [upstream] = [u for u in tail_hub.hub().upstreams.values() if u.spec.name == name]
    return upstream


# -- acks must echo the frame's token ------------------------------------------------------


async def test_acks_that_do_not_echo_a_frames_token_open_nothing(viewer, nats_urls, unique, settings):
    settings.TAIL_BUFFER_MESSAGES = 200
    subject = f"{unique}.blind"
    blind, reader = await open_tail(viewer, "nats"), await open_tail(viewer, "nats")
    await blind.subscribe("subject", subject)
    await reader.subscribe("subject", subject)
    sent = 2000

    async def publish() -> None:
        for start in range(0, sent, 100):
            await nats_publish(nats_urls[0], [(subject, b"m%d" % i) for i in range(start, start + 100)])
            await asyncio.sleep(0.05)

    async def ack_blindly() -> None:
        # A script that acks every number, with no token, a made-up one, or one of another frame.
        seq = 0
        while True:
            seq += 1
            await blind.send(action="ack", seq=seq)
            await blind.send(action="ack", seq=seq, token="x" * 16)
            first = next((f for f in blind.frames if f["type"] == "messages"), None)
            if first is not None:
                await blind.send(action="ack", seq=first["seq"] + 1, token=first["token"])
            await asyncio.sleep(0.01)

    acking = asyncio.create_task(ack_blindly())
    publishing = asyncio.create_task(publish())
    # The reading socket goes on (on a loaded machine its 200-message queue may drop some, counted).
    await reader.collect(sent, timeout=30)
    assert len(reader.received) + reader.total_dropped == sent and reader.last_seq > settings.TAIL_ACK_WINDOW
    await publishing
    while not await blind.ws.receive_nothing(timeout=0.3):
        await blind.frame()
    acking.cancel()
    window = settings.TAIL_ACK_WINDOW
    frames = [f for f in blind.frames if f["type"] == "messages"]
    assert len(frames) == window, "blind acks opened the window"
    slow = next(s for s in _upstream_of(subject).subscribers if s.acked_seq == 0)
    assert slow.sent_seq == window and slow.refused_acks > 100
    assert len(slow.buffer) <= 200 and slow.buffered_bytes <= slow.limits.buffer_bytes
    assert slow.matched == sent and slow.delivered + slow.total_dropped + len(slow.buffer) == sent
    # Echoing the tokens of frames it read opens the window again, and the counts add up.
    await blind.send(action="ack", seq=frames[-1]["seq"], token=frames[-1]["token"])
    await blind.collect(sent, timeout=30)
    assert len(blind.received) + blind.total_dropped == sent and blind.total_dropped > 0
    await blind.close()
    await reader.close()


# -- per-user limits -------------------------------------------------------------------------


async def test_sockets_per_user_are_limited_in_the_process(viewer, operator, settings):
    settings.TAIL_MAX_SOCKETS_PER_USER = 2
    first, second = await open_tail(viewer, "nats"), await open_tail(viewer, "nats")
    third = await open_tail(viewer, "nats")
    closed = await _closed(third)
    assert closed["code"] == 4429 and "STREAMDESK_TAIL_MAX_SOCKETS_PER_USER" in closed["reason"]
    assert tail_hub.hub().sockets[viewer.pk] == 2
    others = [await open_tail(operator, "nats") for _ in range(2)]
    for other in others:
        assert (await other.subscribe("subject", "limits.ok"))["type"] == "subscribed"
    await first.close()
    await wait_until_async(lambda: tail_hub.hub().sockets.get(viewer.pk) == 1)
    again = await open_tail(viewer, "nats")
    assert (await again.subscribe("subject", "limits.ok"))["type"] == "subscribed"
    for tail in (second, again, *others):
        await tail.close()
    await wait_until_async(
        lambda: viewer.pk not in tail_hub.hub().sockets and operator.pk not in tail_hub.hub().sockets
    )


async def test_replays_per_user_are_limited_and_tails_from_now_are_not(viewer, operator, nats_urls, unique, settings):
    settings.TAIL_MAX_REPLAYS_PER_USER = 1
    url = nats_urls[0]
    name = await asyncio.to_thread(create_own_stream, url, unique)
    await js_publish(url, [(f"{unique}.x", b"old")])
    mine, also_mine, theirs = [await open_tail(u, "nats") for u in (viewer, viewer, operator)]
    assert (await mine.subscribe("stream", name, **{"from": "beginning"}))["type"] == "subscribed"
    refused = await also_mine.subscribe("stream", name, **{"from": {"seq": 1}})
    assert refused["type"] == "error" and refused["field"] == "from" and refused["retrying"] is False
    assert "STREAMDESK_TAIL_MAX_REPLAYS_PER_USER" in refused["error"]
    assert (await also_mine.subscribe("stream", name))["type"] == "subscribed", "a tail from now is no replay"
    assert (await theirs.subscribe("stream", name, **{"from": "beginning"}))["type"] == "subscribed"
    # A socket replacing its own replay is not refused; one that leaves frees its place.
    assert (await mine.subscribe("stream", name, **{"from": {"last": 1}}))["type"] == "subscribed"
    assert texts(await mine.collect(1)) == ["old"]
    await mine.close()
    await wait_until_async(lambda: tail_hub.hub().replays_of(viewer.pk) == 0)
    assert (await also_mine.subscribe("stream", name, **{"from": "beginning"}))["type"] == "subscribed"
    await also_mine.close()
    await theirs.close()


# -- a pause that never ends -------------------------------------------------------------------


async def test_a_socket_paused_longer_than_the_stall_timeout_is_closed(viewer, nats_urls, unique, settings):
    settings.TAIL_STALL_SECONDS = 1.0
    subject = f"{unique}.paused"
    tail = await open_tail(viewer, "nats")
    await tail.subscribe("subject", subject)
    await tail.send(action="pause")
    await nats_publish(nats_urls[0], [(subject, b"held")])
    closed = await _closed(tail, timeout=10)
    assert closed["code"] == 4408 and "Paused" in closed["reason"]
    await wait_until_async(lambda: subject not in {u.spec.name for u in tail_hub.hub().upstreams.values()})


async def test_a_short_pause_is_not_a_stall(viewer, nats_urls, unique, settings):
    settings.TAIL_STALL_SECONDS = 1.5
    subject = f"{unique}.breather"
    tail = await open_tail(viewer, "nats")
    await tail.subscribe("subject", subject)
    for _ in range(3):
        await tail.send(action="pause")
        await tail.quiet(0.8)
        await tail.send(action="resume")
        await tail.quiet(0.3)
    await nats_publish(nats_urls[0], [(subject, b"still here")])
    assert texts(await tail.collect(1)) == ["still here"]
    await tail.close()


# -- what a client frame may be ------------------------------------------------------------------


async def test_oversized_deep_and_binary_frames_are_errors_and_the_socket_goes_on(viewer, unique):
    tail = await open_tail(viewer, "nats")
    await tail.ws.send_to(text_data="x" * (MAX_FRAME_BYTES + 1))
    assert "at most" in (await tail.until("error"))["error"]
    # Under the limit in characters, over it in UTF-8 bytes.
    snowmen = json.dumps({"action": "subscribe", "source": "subject", "name": "a", "filter": "☃" * 22_000})
    await tail.ws.send_to(text_data=snowmen)
    assert "at most" in (await tail.until("error"))["error"]
    await tail.ws.send_to(text_data="[" * 20_000 + "]" * 20_000)
    assert "not JSON" in (await tail.until("error"))["error"]
    await tail.ws.send_to(bytes_data=b"\x00\x01")
    assert "JSON text" in (await tail.until("error"))["error"]
    assert (await tail.subscribe("subject", f"{unique}.after"))["type"] == "subscribed"
    await tail.close()


async def test_a_client_flooding_frames_that_are_answered_is_closed(viewer):
    tail = await open_tail(viewer, "nats")
    for _ in range(ACTION_BURST * 3):
        await tail.send(action="pause")
    answers = 0
    while True:
        output = await tail.ws.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
        answers += 1
    assert output["code"] == 4429
    assert answers <= ACTION_BURST + 2, "every flooded frame was answered"


async def test_acks_are_not_limited_like_other_frames(viewer, nats_urls, unique):
    tail = await open_tail(viewer, "nats")
    subject = f"{unique}.acks"
    await tail.subscribe("subject", subject)
    for seq in range(ACTION_BURST * 4):
        await tail.send(action="ack", seq=seq)
    await nats_publish(nats_urls[0], [(subject, b"fine")])
    assert texts(await tail.collect(1)) == ["fine"]
    await tail.close()


# -- system subjects -----------------------------------------------------------------------------


async def _operator_to_viewer(user: User) -> None:
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import Group

    @sync_to_async
    def demote() -> None:
        user.groups.set([Group.objects.get(name="Viewers")])

    await demote()


async def test_viewers_never_see_reply_inboxes_or_system_subjects(viewer, operator, nats_urls, unique):
    import nats

    url = nats_urls[0]
    viewer_tail, operator_tail = await open_tail(viewer, "nats"), await open_tail(operator, "nats")
    for tail in (viewer_tail, operator_tail):
        assert (await tail.subscribe("subject", ">", filter=unique))["type"] == "subscribed"
    nc = await nats.connect(url)
    try:

        async def echo(msg: Any) -> None:
            await msg.respond(f"{unique} reply".encode())

        await nc.subscribe(f"{unique}.echo", cb=echo)
        reply = await nc.request(f"{unique}.echo", f"{unique} request".encode(), timeout=3)
        assert reply.data == f"{unique} reply".encode()
        for subject in (f"$DEMO.{unique}", f"_INBOX.{unique}.x", f"{unique}.plain"):
            await nc.publish(subject, f"{unique} on {subject}".encode())
        await nc.flush()
    finally:
        await nc.close()
    seen = [item["subject"] for item in await operator_tail.collect(5)]
    assert seen[0] == f"{unique}.echo" and seen[1].startswith("_INBOX.")
    assert seen[2:] == [f"$DEMO.{unique}", f"_INBOX.{unique}.x", f"{unique}.plain"]
    assert [item["subject"] for item in await viewer_tail.collect(2)] == [f"{unique}.echo", f"{unique}.plain"]
    # Published after the others, it comes after them: once it is here, nothing of theirs is still on its way.
    await nats_publish(url, [(f"{unique}.last", f"{unique} last".encode())])
    assert [item["subject"] for item in await viewer_tail.collect(3)][2:] == [f"{unique}.last"]
    assert len(viewer_tail.received) == 3
    status = await viewer_tail.status()
    assert (status["matched"], status["total_dropped"]) == (3, 0)
    await viewer_tail.close()
    await operator_tail.close()


@pytest.mark.parametrize("pattern", ["_INBOX.>", "_INBOX.abc.*", "$JS.API.>", "$SYS.>", "$DEMO"])
async def test_a_viewer_may_not_name_a_system_subject_and_an_operator_may(viewer, operator, pattern):
    viewer_tail, operator_tail = await open_tail(viewer, "nats"), await open_tail(operator, "nats")
    refused = await viewer_tail.subscribe("subject", pattern)
    assert refused["type"] == "error" and refused["field"] == "name" and "operators" in refused["error"]
    assert (await operator_tail.subscribe("subject", pattern))["type"] == "subscribed"
    await viewer_tail.close()
    await operator_tail.close()


async def test_an_operator_demoted_to_viewer_stops_seeing_system_subjects(
    operator, viewer, nats_urls, unique, settings
):
    settings.SOCKET_RECHECK_SECONDS = 0.2
    url = nats_urls[0]
    tail = await open_tail(operator, "nats")
    assert (await tail.subscribe("subject", ">", filter=unique))["type"] == "subscribed"
    await nats_publish(url, [(f"_INBOX.{unique}.before", unique.encode())])
    assert [i["subject"] for i in await tail.collect(1)] == [f"_INBOX.{unique}.before"]
    await _operator_to_viewer(operator)
    await wait_until_async(
        lambda: (
            tail_hub.hub().upstreams
            and all(
                s.hide_system for u in tail_hub.hub().upstreams.values() for s in u.subscribers if u.spec.name == ">"
            )
        ),
        message="the demotion reached the socket",
    )
    await nats_publish(url, [(f"_INBOX.{unique}.after", unique.encode()), (f"{unique}.after", unique.encode())])
    assert [i["subject"] for i in await tail.collect(2)] == [f"_INBOX.{unique}.before", f"{unique}.after"]
    await tail.close()
