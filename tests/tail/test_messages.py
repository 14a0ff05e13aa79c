"""A Kafka record as the tail's message: the same JSON, to the character, as the general payload path."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from streams.clusters import ClusterConfig
from streams.payloads import Payload
from streams.schemas.decode import decode_payload, decoded_payload
from streams.tail.messages import TAIL_DISPLAY_LIMIT, _encode, iso_from_ms, kafka_item
from tests.kafka.records import FakeRecord

STAMP = (1, 1_764_710_000_123)


def _reference_iso(stamp_ms: int) -> str | None:
    if stamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(stamp_ms / 1000, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def test_timestamps_read_as_the_datetime_conversion_writes_them():
    edges = [0, 1, 999, 1000, 1001, 1_764_710_000_000, 4_102_444_799_999, 4_102_444_800_000, 253_402_300_799_999]
    edges += [253_402_300_800_000, 10**20, -1]
    rng = random.Random(7)
    stamps = edges + [rng.randrange(0, 4_200_000_000_000) for _ in range(20_000)]
    for stamp in stamps:
        assert iso_from_ms(stamp) == _reference_iso(stamp), stamp
    assert iso_from_ms(None) is None


def test_the_encoder_writes_what_json_dumps_writes():
    reference = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    value = {"a": 'é\u2028\x00"\\', "b": [1, 2.5, float("inf"), None, True, 2**70], "c": {"d": -0.0, "e": {}}}
    assert _encode(value) == reference(value)


def test_one_payload_with_its_decoding_is_the_general_path():
    cluster = ClusterConfig(slug="k", kind="kafka", name="k", servers=("x:1",), schema_registry_url="http://unused")
    for data in (None, b"", b"plain", b"\x00\x00", b"{" * (TAIL_DISPLAY_LIMIT + 5), b"\x00" * (TAIL_DISPLAY_LIMIT + 1)):
        one = decoded_payload(cluster, "orders", "value", data, TAIL_DISPLAY_LIMIT)
        two = decode_payload(cluster, "orders", "value", Payload.of(data, TAIL_DISPLAY_LIMIT))
        assert (one.raw, one.size, one.truncated, one.decoding, one.masked) == (
            two.raw,
            two.size,
            two.truncated,
            two.decoding,
            two.masked,
        )
        assert one.as_api() == two.as_api()


def test_a_record_without_headers_is_the_record_with_an_empty_list():
    cluster = ClusterConfig(slug="k", kind="kafka", name="k", servers=("x:1",), schema_registry_url="http://unused")
    bare = kafka_item(FakeRecord(b'{"a": 1}', b"k1", stamp=STAMP), cluster)
    empty = kafka_item(FakeRecord(b'{"a": 1}', b"k1", [], STAMP), cluster)
    assert bare.json == empty.json
    assert bare.haystack == empty.haystack == (b"k1", b'{"a": 1}')
    shown = json.loads(bare.json)
    assert shown["timestamp"] == "2025-12-02T21:13:20.123000+00:00"
    assert shown["value"] == {"text": '{"a": 1}', "base64": "eyJhIjogMX0=", "decoded": None, "decode_error": None}
    with_headers = json.loads(kafka_item(FakeRecord(b"v", None, [("h", b"x"), (b"n", None)], STAMP), cluster).json)
    assert with_headers["key"] is None
    assert with_headers["headers"] == [["h", {"text": "x", "base64": "eA=="}], ["n", None]]
