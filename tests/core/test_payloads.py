"""Binary-safe, bounded rendering of hostile broker data (pure logic)."""

from __future__ import annotations

import base64

import pytest

from streams import jsontext
from streams.payloads import Payload, header_pairs, headers_api
from streams.publish.message import json_problem


def test_utf8_text_round_trips():
    p = Payload.of("héllo ✓".encode())
    assert p.text == "héllo ✓" and not p.truncated and not p.is_binary
    assert base64.b64decode(p.b64) == "héllo ✓".encode()
    assert p.as_api() == {"text": "héllo ✓", "base64": p.b64}


def test_binary_has_no_text_but_hex_and_base64():
    p = Payload.of(b"\x00\xff\xfe")
    assert p.text is None and p.is_binary
    assert p.hex == "00 ff fe"
    assert p.as_api() == {"text": None, "base64": "AP/+"}


def test_none_stays_none():
    assert Payload.of(None).as_api() is None


def test_large_payload_is_truncated_and_says_so():
    p = Payload.of(b"a" * 100_000, limit=1000)
    assert p.truncated and p.size == 100_000 and len(p.raw or b"") == 1000
    assert Payload.of(b"a" * 100_000, limit=None).truncated is False


def test_truncation_inside_a_multibyte_character_still_decodes():
    p = Payload.of(("é" * 10).encode(), limit=5)  # cuts the third character in half
    assert p.truncated and p.text == "éé"


def test_pretty_json_only_for_whole_valid_json():
    assert Payload.of(b'{"a":1}').pretty_json == '{\n  "a": 1\n}'
    assert Payload.of(b"{not json").pretty_json is None
    assert Payload.of(b'{"a":' + b"1" * 50, limit=10).pretty_json is None


def test_headers_from_both_clients_normalise():
    kafka = header_pairs([("trace", b"abc"), ("bin", b"\xff")])
    nats = header_pairs({"Nats-Msg-Id": "m1", "multi": ["a", "b"]})
    assert headers_api(kafka) == [
        ["trace", {"text": "abc", "base64": "YWJj"}],
        ["bin", {"text": None, "base64": "/w=="}],
    ]
    assert [name for name, _ in nats] == ["Nats-Msg-Id", "multi", "multi"]
    assert header_pairs(None) == []


def test_json_nested_too_deeply_is_shown_raw_not_an_error():
    deep = b"[" * 3000 + b"]" * 3000
    p = Payload.of(deep, limit=None)
    assert p.pretty_json is None and p.text == deep.decode()
    assert Payload.of(b"[" * 3000).pretty_json is None
    assert Payload.of(b"[" * 50 + b"]" * 50).pretty_json is not None


def test_every_parse_of_outside_json_fails_as_a_value_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        jsontext.loads("[" * 3000)
    with pytest.raises(ValueError, match="nested too deeply"):
        jsontext.loads(b'{"a":' * 3000)
    assert jsontext.loads(b'{"a": [1]}') == {"a": [1]}
    assert json_problem("[" * 3000) == "it is nested too deeply"
