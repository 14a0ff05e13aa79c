"""The message browser: positions, limits, hostile and binary payloads, truncation, filters."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest

from streams.kafka.browse import BROWSER_GROUP
from streams.payloads import DISPLAY_LIMIT
from tests.kafka import helpers as kh


def _read(client, topic: str, **params):
    response = client.get(f"/api/v1/clusters/kafka/topics/{topic}/messages", params)
    assert response.status_code == 200, response.content
    return response.json()


def _texts(body) -> list[str]:
    return [m["value"]["text"] for m in body["messages"]]


@pytest.fixture
def numbered(kafka_bootstrap, unique) -> str:
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [f"m{i}".encode() for i in range(10)], partition=0)
    return unique


def test_from_beginning_end_and_offset(viewer_client, numbered):
    assert _texts(_read(viewer_client, numbered, partition=0, **{"from": "beginning"}, limit=3)) == ["m0", "m1", "m2"]
    assert _texts(_read(viewer_client, numbered, partition=0, **{"from": "end"}, limit=3)) == ["m7", "m8", "m9"]
    body = _read(viewer_client, numbered, partition=0, offset=4, limit=2)
    assert body["from"] == "offset" and [m["offset"] for m in body["messages"]] == [4, 5]
    assert _read(viewer_client, numbered, partition=0, offset=50)["messages"] == []
    assert body["watermarks"] == [{"partition": 0, "low": 0, "high": 10}]


def test_default_is_the_newest_across_all_partitions(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    kh.produce(kafka_bootstrap, unique, [b"p0-a", b"p0-b"], partition=0)
    kh.produce(kafka_bootstrap, unique, [b"p1-a"], partition=1)
    body = _read(viewer_client, unique)
    assert body["from"] == "end" and sorted(_texts(body)) == ["p0-a", "p0-b", "p1-a"]
    assert {m["partition"] for m in body["messages"]} == {0, 1}


def test_from_a_timestamp(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [b"old"], partition=0)
    time.sleep(0.05)  # a time strictly between the messages' timestamps: only the clock makes one
    middle = datetime.now(UTC)
    time.sleep(0.05)
    kh.produce(kafka_bootstrap, unique, [b"new"], partition=0)
    body = _read(viewer_client, unique, partition=0, timestamp=middle.isoformat())
    assert body["from"] == "timestamp" and _texts(body) == ["new"]
    stamp = body["messages"][0]["timestamp"]
    assert datetime.fromisoformat(stamp) >= middle
    later = _read(viewer_client, unique, partition=0, timestamp=str(int(time.time() * 1000) + 60_000))
    assert later["messages"] == []


def test_key_headers_and_timestamp_are_shown(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(
        kafka_bootstrap,
        unique,
        [b'{"id": 1, "items": [1, 2]}'],
        key=b"order-1",
        headers=[("trace", b"abc"), ("bin", b"\xff\x00"), ("empty", None)],
    )
    (m,) = _read(viewer_client, unique)["messages"]
    assert m["key"] == {
        "text": "order-1",
        "base64": base64.b64encode(b"order-1").decode(),
        "decoded": None,
        "decode_error": None,
    }
    assert m["headers"][0] == ["trace", {"text": "abc", "base64": "YWJj"}]
    assert m["headers"][1] == ["bin", {"text": None, "base64": base64.b64encode(b"\xff\x00").decode()}]
    assert m["headers"][2] == ["empty", None]
    assert json.loads(m["value"]["text"]) == {"id": 1, "items": [1, 2]}
    assert m["truncated"] is False and m["timestamp"] and m["partition"] == 0 and m["offset"] == 0


def test_null_key_and_value(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [None])
    (m,) = _read(viewer_client, unique)["messages"]
    assert m["key"] is None and m["value"] is None and m["headers"] == []


def test_binary_value_comes_as_base64_and_as_hex_on_the_page(viewer_client, kafka_bootstrap, unique):
    raw = bytes(range(256))
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [raw])
    (m,) = _read(viewer_client, unique)["messages"]
    assert m["value"]["text"] is None and base64.b64decode(m["value"]["base64"]) == raw
    html = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages").content.decode()
    assert "00 01 02 03" in html and "binary" in html


def test_hostile_payloads_are_escaped_on_the_page(viewer_client, kafka_bootstrap, unique):
    evil = '<script>alert("v")</script><img src=x onerror=alert(1)>'
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [evil.encode()], key=b"<b>key</b>", headers=[("<i>h</i>", b"<svg onload=x>")])
    page = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>key</b>" not in html
    assert "<svg onload" not in html and "<i>h</i>" not in html
    assert "&lt;script&gt;alert(&quot;v&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;key&lt;/b&gt;" in html


def test_pretty_json_on_the_page(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [b'{"a":{"b":1}}'])
    html = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages").content.decode()
    assert 'class="payload json"' in html and "&quot;b&quot;: 1" in html


def test_large_value_is_truncated_with_a_show_all(viewer_client, kafka_bootstrap, unique):
    big = b"x" * (DISPLAY_LIMIT + 1000)
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [big])
    (m,) = _read(viewer_client, unique)["messages"]
    assert m["truncated"] is True and m["size"] == len(big)
    assert len(base64.b64decode(m["value"]["base64"])) == DISPLAY_LIMIT
    html = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages").content.decode()
    assert "Show all" in html and "full=1" in html
    (whole,) = _read(viewer_client, unique, partition=0, offset=0, full=1)["messages"]
    assert whole["truncated"] is False and len(whole["value"]["text"]) == len(big)


def test_full_needs_a_position_that_exists(viewer_client, numbered):
    response = viewer_client.get(f"/api/v1/clusters/kafka/topics/{numbered}/messages", {"full": "1"})
    assert response.status_code == 400 and response.json()["field"] == "partition"
    missing = viewer_client.get(
        f"/api/v1/clusters/kafka/topics/{numbered}/messages", {"full": "1", "partition": 0, "offset": 99}
    )
    assert missing.status_code == 404


def test_substring_filter_on_key_or_value(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    kh.produce(kafka_bootstrap, unique, [b"apple", b"banana", b"cherry"], key=b"fruit")
    kh.produce(kafka_bootstrap, unique, [b"plain"], key=b"needle-key")
    assert _texts(_read(viewer_client, unique, q="an")) == ["banana"]
    assert _texts(_read(viewer_client, unique, q="needle")) == ["plain"]
    body = _read(viewer_client, unique, q="nothing-like-this")
    assert body["messages"] == [] and body["scanned"] == 4
    page = viewer_client.get(f"/clusters/kafka/topics/{unique}/messages", {"q": "nothing-like-this"})
    assert b"None of the 4 messages read" in page.content


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"partition": "7"}, "partition"),
        ({"partition": "-1"}, "partition"),
        ({"offset": "abc"}, "offset"),
        ({"from": "middle"}, "from"),
        ({"from": "offset"}, "offset"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"offset": "1", "timestamp": "2026-01-01T00:00:00Z"}, "timestamp"),
        ({"full": "maybe"}, "full"),
    ],
)
def test_bad_browser_parameters_are_400(viewer_client, numbered, params, field):
    response = viewer_client.get(f"/api/v1/clusters/kafka/topics/{numbered}/messages", params)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def test_browsing_never_commits_offsets(viewer_client, kafka_bootstrap, numbered):
    _read(viewer_client, numbered, **{"from": "beginning"})
    assert kh.committed(kafka_bootstrap, BROWSER_GROUP, numbered, [0]) == {0: -1001}


def test_messages_page_and_partial(viewer_client, numbered):
    page = viewer_client.get(f"/clusters/kafka/topics/{numbered}/messages", {"partition": 0, "limit": 2})
    html = page.content.decode()
    assert page.status_code == 200 and 'data-offset="9"' in html and 'data-offset="7"' not in html
    partial = viewer_client.get(
        f"/clusters/kafka/topics/{numbered}/messages", {"partition": 0}, headers={"HX-Request": "true"}
    )
    assert b"<html" not in partial.content and b'data-offset="0"' in partial.content


def test_empty_topic_has_an_empty_state(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    assert _read(viewer_client, unique)["messages"] == []
    assert b"No messages here" in viewer_client.get(f"/clusters/kafka/topics/{unique}/messages").content
