"""The per-socket queue, the frame format, the filter and the subscribe frame, without a broker."""

from __future__ import annotations

import asyncio
import json

import pytest

from streams.errors import InvalidInput
from streams.tail.filter import matches
from streams.tail.messages import Item
from streams.tail.spec import is_system_subject, names_system_subjects, parse_subscribe
from streams.tail.subscriber import Limits, Subscriber


def _items(*values: str, header: bytes = b"") -> list[Item]:
    return [Item({"value": {"text": v}}, (b"", v.encode(), header)) for v in values]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _never(text: str) -> None:
    raise AssertionError("nothing is sent without start()")


def _sub(needle: bytes | None = None, **limits: int) -> Subscriber:
    return Subscriber(_never, needle=needle, limits=Limits(**limits))


def _assert_sums(sub: Subscriber) -> None:
    assert sub.delivered + sub.total_dropped + len(sub.buffer) == sub.matched


async def test_the_queue_drops_its_oldest_and_counts_each():
    sub = _sub(buffer_messages=3)
    sub.offer(_items("a", "b"))
    sub.offer(_items("c", "d", "e"))
    assert list(sub.buffer) == [i.json for i in _items("c", "d", "e")]
    assert (sub.scanned, sub.matched, sub.total_dropped) == (5, 5, 2)
    _assert_sums(sub)
    frame = json.loads(sub.take_frame())
    assert isinstance(frame.pop("token"), str)
    assert frame == {
        "type": "messages",
        "seq": 1,
        "items": [{"value": {"text": "c"}}, {"value": {"text": "d"}}, {"value": {"text": "e"}}],
        "dropped": 2,
        "total_dropped": 2,
    }
    sub.offer(_items("f"))
    assert json.loads(sub.take_frame())["dropped"] == 0
    _assert_sums(sub)


async def test_the_queue_is_bounded_in_bytes_too():
    sub = _sub(buffer_bytes=100)
    sub.offer(_items("x" * 40, "y" * 40, "z" * 40))
    assert sub.buffered_bytes <= 100 and sub.total_dropped == 2 and len(sub.buffer) == 1
    _assert_sums(sub)


async def test_frames_are_cut_at_frame_bytes_but_hold_at_least_one_message():
    sub = _sub(frame_bytes=50)
    sub.offer(_items("a" * 20, "b" * 20, "c" * 100))
    assert len(json.loads(sub.take_frame())["items"]) == 1
    assert len(json.loads(sub.take_frame())["items"]) == 1
    assert len(json.loads(sub.take_frame())["items"]) == 1


async def test_lost_messages_count_as_matched_and_dropped():
    sub = _sub(needle=b"zzz")
    sub.skip(7)
    assert (sub.scanned, sub.matched, sub.total_dropped) == (7, 7, 7)
    assert json.loads(sub.take_frame())["items"] == []


async def test_no_more_than_the_window_is_in_flight_and_acks_open_it():
    sent: list[dict[str, object]] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    def token(seq: int) -> object:
        return next(f["token"] for f in sent if f["seq"] == seq)

    sub = Subscriber(send, limits=Limits(window=2, frame_bytes=30, frame_interval=0.0))
    sub.start()
    sub.offer(_items(*(f"m{i:02d}xxxxxxxxxxxxxxx" for i in range(10))))
    # Each pause lets the subscriber's task send what the window allows; the counts show it sent no more.
    await asyncio.sleep(0.05)
    assert [f["seq"] for f in sent] == [1, 2]
    assert sub.ack(1, token(1))
    await asyncio.sleep(0.05)
    assert [f["seq"] for f in sent] == [1, 2, 3]
    assert sub.ack(3, token(3))  # acknowledges every frame up to it
    await asyncio.sleep(0.05)
    assert sub.acked_seq == 3 and len(sent) == 5
    sub.pause()
    assert sub.ack(5, token(5))
    await asyncio.sleep(0.05)
    assert len(sent) == 5
    sub.resume()
    await asyncio.sleep(0.05)
    assert len(sent) == 7
    await sub.close()


async def test_an_ack_counts_only_with_the_token_of_the_frame_it_names():
    sent: list[dict[str, object]] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    sub = Subscriber(send, limits=Limits(window=2, frame_bytes=30, frame_interval=0.0))
    sub.start()
    sub.offer(_items(*(f"m{i:02d}xxxxxxxxxxxxxxx" for i in range(10))))
    await asyncio.sleep(0.05)
    first, second = sent
    assert isinstance(first["token"], str) and len(first["token"]) >= 16 and first["token"] != second["token"]
    wrong = [(1, None), (1, ""), (1, second["token"]), (2, first["token"]), (3, first["token"]), (1, 1), (1, "é")]
    for seq, token in wrong:
        assert not sub.ack(seq, token)
    await asyncio.sleep(0.05)
    assert len(sent) == 2 and sub.acked_seq == 0 and sub.refused_acks == len(wrong)
    assert sub.ack(2, second["token"])
    await asyncio.sleep(0.05)
    assert [f["seq"] for f in sent] == [1, 2, 3, 4]
    assert sub.ack(1, "anything"), "an ack of a frame already acknowledged changes nothing"
    assert sub.acked_seq == 2
    await sub.close()


async def test_stalled_for_measures_the_oldest_unacknowledged_frame():
    clock = Clock()
    sub = Subscriber(_never, limits=Limits(), clock=clock)
    sub.offer(_items("a"))
    one = json.loads(sub.take_frame())["token"]
    clock.now += 30
    sub.offer(_items("b"))
    two = json.loads(sub.take_frame())["token"]
    clock.now += 31
    assert sub.stalled_for() == 61
    sub.ack(1, one)
    assert sub.stalled_for() == 31
    sub.ack(2, two)
    assert sub.stalled_for() == 0


async def test_paused_for_measures_since_the_pause():
    clock = Clock()
    sub = Subscriber(_never, limits=Limits(), clock=clock)
    assert sub.paused_for() == 0
    sub.pause()
    clock.now += 10
    sub.pause()
    clock.now += 5
    assert sub.paused_for() == 15
    sub.resume()
    assert sub.paused_for() == 0


async def test_system_subjects_are_hidden_from_a_subscriber_that_hides_them():
    items = [
        Item({"subject": s}, (s.encode(),), system=is_system_subject(s))
        for s in ("a.b", "_INBOX.x.y", "$JS.API.INFO", "c", "_INBOXES.ok", "$SYS")
    ]
    viewer, operator = _sub(), _sub()
    viewer.hide_system = True
    viewer.offer(items)
    operator.offer(items)
    assert [json.loads(t)["subject"] for t in viewer.buffer] == ["a.b", "c", "_INBOXES.ok"]
    assert (viewer.scanned, viewer.matched) == (3, 3), "hidden messages are not even counted"
    assert (operator.scanned, operator.matched) == (6, 6)
    assert names_system_subjects("_INBOX.>") and names_system_subjects("$JS.API.>") and names_system_subjects("$SYS")
    assert not names_system_subjects(">") and not names_system_subjects("*.x") and not names_system_subjects("a.$b")


def test_the_filter_looks_at_key_value_and_header_values_only():
    assert matches((b"key-gold", b"", b""), b"gold")
    assert matches((b"", b"value", b"gold-tier"), b"gold")
    assert not matches((b"", b"silver"), b"gold")
    assert matches((b"", b"\xff\x00gold"), b"gold")
    assert matches((b"anything",), None)


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"source": "queue", "name": "x"}, "source"),
        ({"source": "topic", "name": ""}, "name"),
        ({"source": "topic", "name": "t", "from": {"seq": 3}}, "from"),
        ({"source": "stream", "name": "S", "from": {"offset": 3}}, "from"),
        ({"source": "subject", "name": "a.b", "from": {"last": 3}}, "from"),
        ({"source": "subject", "name": "a.b", "partitions": [0]}, "partitions"),
        ({"source": "topic", "name": "t", "partitions": [-1]}, "partitions"),
        ({"source": "topic", "name": "t", "from": {"time": "yesterday"}}, "from"),
        ({"source": "topic", "name": "t", "filter": "x" * 300}, "filter"),
        ({"source": "stream", "name": "S", "subject": "a..b"}, "subject"),
        ({"source": "topic", "name": "t", "from": {"last": 0}}, "from"),
        ({"source": "kv", "name": "a.b"}, "name"),
        ({"source": "kv", "name": "b", "keys": "a..b"}, "keys"),
        ({"source": "kv", "name": "b", "keys": "a b"}, "keys"),
        ({"source": "kv", "name": "b", "from": {"time": "2026-01-01T00:00:00Z"}}, "from"),
        ({"source": "subject", "name": "a.b", "keys": "a"}, "keys"),
    ],
)
def test_bad_subscribe_frames_name_the_field(frame, field):
    with pytest.raises(InvalidInput) as caught:
        parse_subscribe(frame)
    assert caught.value.field == field


def test_only_tails_from_now_share_an_upstream():
    now = parse_subscribe({"source": "subject", "name": "a.>"})
    assert now.upstream_key("nats") == parse_subscribe({"source": "subject", "name": "a.>"}).upstream_key("nats")
    replay = parse_subscribe({"source": "topic", "name": "t", "from": "beginning"})
    assert replay.upstream_key("k") != replay.upstream_key("k")
    filtered = parse_subscribe({"source": "subject", "name": "a.>", "filter": "x"})
    assert filtered.upstream_key("nats") == now.upstream_key("nats"), "the substring filter is per socket"


def test_kv_watches_share_an_upstream_per_bucket_and_key_pattern():
    one = parse_subscribe({"source": "kv", "name": "cfg", "keys": "app.>"})
    assert one.upstream_key("nats") == parse_subscribe({"source": "kv", "name": "cfg", "keys": "app.>"}).upstream_key(
        "nats"
    )
    assert one.upstream_key("nats") != parse_subscribe({"source": "kv", "name": "cfg"}).upstream_key("nats")
    assert parse_subscribe({"source": "kv", "name": "cfg", "keys": "a/b=c.*"}).keys == "a/b=c.*"
    assert one.as_api()["keys"] == "app.>"


def test_kv_items_name_the_key_revision_and_operation():
    from streams.tail.messages import kv_item

    put = json.loads(kv_item("cfg", "$KV.cfg.a/b=c.d", b"v", None, seq=7, stamp_ns=0).json)
    assert (put["key"], put["revision"], put["operation"], put["value"]["text"]) == ("a/b=c.d", 7, "PUT", "v")
    gone = kv_item("cfg", "$KV.cfg.k", b"", {"KV-Operation": "PURGE", "Nats-Rollup": "sub"}, seq=8, stamp_ns=10**18)
    assert json.loads(gone.json)["operation"] == "PURGE" and not gone.system
