"""The substring filter reads what the user sees: the decoded form where a schema decodes a payload."""

from __future__ import annotations

from typing import Any

from streams.search.filters import Record, matcher

FRAMED = b"\x00\x00\x00\x00\x07\x8e\x49"  # wire format: schema 7, an Avro long


def decoded(part: str, raw: bytes | None) -> Any:
    return {"order": 4711} if part == "value" and raw == FRAMED else None


def test_text_matches_the_decoded_form_where_a_schema_decodes():
    record = Record(b"k-1", FRAMED, [], schema_data=decoded)
    assert matcher("4711", None)(record)
    assert matcher('"order"', None)(record)
    assert not matcher("\x07", None)(record)  # the wire-format bytes are not what is searched
    assert matcher("k-1", None)(record)  # a key no schema decodes: its bytes


def test_text_matches_raw_bytes_without_a_schema():
    record = Record(None, b"order 4711", [("h", b"tag")])
    assert matcher("4711", None)(record) and matcher("tag", None)(record)
    assert not matcher("4712", None)(record)


def test_the_raw_byte_path_is_taken_only_without_jq_and_without_a_schema():
    from streams.search.filters import raw_needle

    def decoder(part: str, raw: bytes | None) -> None:
        return None

    assert raw_needle("4711", None, None) == b"4711"
    assert raw_needle(None, None, None) == b""  # no filter: every message matches
    assert raw_needle("4711", ".value", None) is None
    assert raw_needle("4711", None, decoder) is None  # the decoded form is what text matches there
