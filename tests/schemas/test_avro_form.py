"""Avro values in their JSON form through a schema's planned conversion: the same output as the full
walk (``to_json``) for every kind of field, and no walk at all where a schema's values need none."""

from __future__ import annotations

import decimal
import io
import json
import uuid
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from streams.schemas.avro_form import avro_reader, converter, to_json

BIG = 2**60

EVERYTHING = {
    "type": "record",
    "name": "Everything",
    "namespace": "t",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "i", "type": "int"},
        {"name": "small", "type": "long"},
        {"name": "big", "type": "long"},
        {"name": "negative", "type": "long"},
        {"name": "d", "type": "double"},
        {"name": "ok", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "id", "type": {"type": "fixed", "name": "Id", "size": 2}},
        {"name": "again", "type": "Id"},
        {"name": "qualified", "type": "t.Id"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "maybe_big", "type": ["null", "long"]},
        {"name": "maybe_none", "type": ["null", "long"]},
        {"name": "either", "type": ["long", "string", "bytes"]},
        {"name": "longs", "type": {"type": "array", "items": "long"}},
        {"name": "blobs", "type": {"type": "map", "values": "bytes"}},
        {"name": "words", "type": {"type": "map", "values": "string"}},
        {
            "name": "inner",
            "type": {
                "type": "record",
                "name": "Inner",
                "namespace": "u",
                "fields": [{"name": "n", "type": "long"}, {"name": "blob", "type": ["null", "bytes"]}],
            },
        },
        {"name": "inners", "type": {"type": "array", "items": "u.Inner"}},
        {
            "name": "plain_inner",
            "type": {"type": "record", "name": "Plain", "fields": [{"name": "w", "type": "string"}]},
        },
    ],
}

DATUM = {
    "s": "text",
    "i": 7,
    "small": 42,
    "big": BIG,
    "negative": -BIG,
    "d": 1.5,
    "ok": True,
    "raw": b"\x00\xff",
    "id": b"ab",
    "again": b"cd",
    "qualified": b"ef",
    "kind": "B",
    "at": 1_700_000_000_000,
    "day": 19_000,
    "price": decimal.Decimal("12.34"),
    "uid": str(uuid.UUID(int=5)),
    "maybe_big": BIG,
    "maybe_none": None,
    "either": b"\x01",
    "longs": [1, BIG],
    "blobs": {"k": b"\x02"},
    "words": {"k": "v"},
    "inner": {"n": BIG, "blob": b"\x03"},
    "inners": [{"n": 1, "blob": None}, {"n": BIG, "blob": b"\x04"}],
    "plain_inner": {"w": "x"},
}

NODE = {
    "type": "record",
    "name": "Node",
    "fields": [{"name": "n", "type": "long"}, {"name": "next", "type": ["null", "Node"], "default": None}],
}


def written(schema: Any, datum: Any) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, parse_schema(schema), datum)
    return out.getvalue()


def walked(schema: Any, body: bytes) -> Any:
    """What the full walk makes of the value, read with the same parsed schema as the reader's."""
    reader = avro_reader(json.dumps(schema))
    return to_json(schemaless_reader(io.BytesIO(body), reader.schema, None))


@pytest.mark.parametrize(
    ("schema", "datum"),
    [
        (EVERYTHING, DATUM),
        (NODE, {"n": BIG, "next": {"n": 2, "next": {"n": BIG, "next": None}}}),
        ({"type": "array", "items": ["null", "bytes"]}, [None, b"\x05"]),
        ("long", BIG),
        ("bytes", b"\x06"),
        ({"type": "map", "values": {"type": "array", "items": "long"}}, {"a": [BIG, 1]}),
    ],
    ids=["every-field", "recursive", "array-of-union", "long", "bytes", "map-of-arrays"],
)
def test_the_planned_conversion_writes_what_the_full_walk_writes(schema: Any, datum: Any) -> None:
    body = written(schema, datum)
    got = avro_reader(json.dumps(schema)).read(body)
    assert got == walked(schema, body)
    assert json.dumps(got) == json.dumps(walked(schema, body))


def test_the_json_form_of_each_kind() -> None:
    got = avro_reader(json.dumps(EVERYTHING)).read(written(EVERYTHING, DATUM))
    assert got["big"] == str(BIG) and got["negative"] == str(-BIG) and got["small"] == 42
    assert got["raw"] == "AP8=" and got["id"] == "YWI=" and got["again"] == "Y2Q=" and got["qualified"] == "ZWY="
    assert got["at"] == 1_700_000_000_000 and got["day"] == 19_000
    assert got["price"] == "12.34" and got["uid"] == str(uuid.UUID(int=5))
    assert got["maybe_big"] == str(BIG) and got["maybe_none"] is None and got["either"] == "AQ=="
    assert got["longs"] == [1, str(BIG)] and got["blobs"] == {"k": "Ag=="} and got["words"] == {"k": "v"}
    assert got["inner"] == {"n": str(BIG), "blob": "Aw=="}
    assert got["inners"] == [{"n": 1, "blob": None}, {"n": str(BIG), "blob": "BA=="}]
    assert got["plain_inner"] == {"w": "x"}


def test_values_that_are_their_json_form_already_are_not_walked() -> None:
    schema = {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "customer", "type": "string"},
            {"name": "n", "type": "int"},
            {"name": "amount", "type": ["null", "double"]},
            {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["A"]}},
            {"name": "items", "type": {"type": "array", "items": "string"}},
            {"name": "tags", "type": {"type": "map", "values": "boolean"}},
        ],
    }
    assert converter(schema) is None
    assert avro_reader(json.dumps(schema)).convert is None
    # Only the fields that need it are touched.
    touched = converter({**schema, "fields": [*schema["fields"], {"name": "id", "type": "long"}]})
    assert touched is not None and touched is not to_json
    assert touched({"customer": "c", "id": BIG}) == {"customer": "c", "id": str(BIG)}


def test_a_schema_the_plan_does_not_know_gets_the_full_walk() -> None:
    assert converter({"type": "record", "name": "R", "fields": [{"name": "x", "type": "Unknown"}]}) is not None
    assert converter({"no": "type"}) is to_json
