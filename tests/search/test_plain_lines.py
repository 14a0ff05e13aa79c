"""JSON Lines written as text for messages no schema decodes: character for character what the general
path (the API's message, through json.dumps) writes, for text, binary, empty and missing payloads,
headers and timestamps; None where the general path would cut a header."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.clusters import ClusterConfig
from streams.payloads import DISPLAY_LIMIT
from streams.search import jetstream_export, jetstream_scan, kafka_scan
from streams.search.export import plain_line
from tests.kafka.records import FakeRecord

KAFKA = ClusterConfig(slug="k", kind="kafka", name="k", servers=("x:1",))
NATS = ClusterConfig(slug="n", kind="nats", name="n", servers=("nats://x:1",))

PAYLOADS: list[bytes | None] = [
    b'{"order": 7, "note": "a \\"quoted\\" word\\nand a tab\\t"}',
    "é € 日本 \u2028 \x00 \x1f".encode(),
    b"\xff\xfe binary",
    b"\xc3\x28",
    b"",
    None,
]


def general_kafka(msg: Any) -> str:
    return json.dumps(kafka_scan._message(msg, KAFKA, "t", None), ensure_ascii=False, default=str) + "\n"


@pytest.mark.parametrize("value", PAYLOADS)
@pytest.mark.parametrize(
    "headers",
    [None, [], [("trace", b"t-1"), ("empty", None), ("raw", b"\xc3\x28"), ('é"name', "€".encode()), ("n" * 300, b"")]],
)
@pytest.mark.parametrize("stamp", [(1, 1_764_720_000_123), (0, -1), (2, 0), (1, -5)])
def test_kafka_plain_line_is_the_general_line(value, headers, stamp):
    msg = FakeRecord(value, b"order-7", headers, stamp, offset=123_456_789)
    assert plain_line(msg) == general_kafka(msg)


def test_kafka_keys_of_every_kind_and_a_long_header():
    for key in PAYLOADS:
        msg = FakeRecord(b"v", key, [("h", b"x")], (1, 1_000), offset=123_456_789)
        assert plain_line(msg) == general_kafka(msg)
    assert plain_line(FakeRecord(b"v", None, [("big", b"x" * (DISPLAY_LIMIT + 1))], (1, 1_000))) is None


def general_nats(item: Any) -> str:
    return json.dumps(jetstream_scan.message(item, NATS, None), ensure_ascii=False, default=str) + "\n"


@pytest.mark.parametrize("data", [p for p in PAYLOADS if p is not None])
@pytest.mark.parametrize(
    "headers", [None, {}, {"h": "v1", 'é"x': "€ \n", "Nats-Msg-Id": "7", "n" * 300: "", "list": ["a", "b"]}]
)
@pytest.mark.parametrize("when", [1_764_720_000_123_456_789, 0, "2026-12-03T10:19:42.123456789Z", None])
def test_jetstream_plain_line_is_the_general_line(data, headers, when):
    item = (42, 'orders.é."x"', when, headers, data)
    assert jetstream_export.plain_line(item) == general_nats(item)


def test_jetstream_headers_the_general_path_cuts_or_reads_as_pairs_are_left_to_it():
    assert jetstream_export.plain_line((1, "s", 0, {"big": "x" * 5000}, b"v")) is None
    assert jetstream_export.plain_line((1, "s", 0, [("h", b"v")], b"v")) is None
    item = (1, "s", 0, {"edge": "x" * 4096}, b"v")
    assert jetstream_export.plain_line(item) == general_nats(item)
