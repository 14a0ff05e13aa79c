"""Binary-safe, bounded rendering of hostile broker data (pure logic)."""

from __future__ import annotations

import base64

from streams.payloads import Payload, header_pairs, headers_api


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
