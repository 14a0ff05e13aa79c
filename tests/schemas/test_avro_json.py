"""The Avro datum from its JSON form, and example values: pure logic, written back with fastavro."""

from __future__ import annotations

import decimal
import io
import json
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from streams.schemas.avro_json import Mismatch, from_json
from streams.schemas.examples import avro_example, json_schema_example

NODE = {
    "type": "record",
    "name": "Node",
    "namespace": "t",
    "fields": [
        {"name": "n", "type": "int"},
        {"name": "next", "type": ["null", "Node"], "default": None},
        {"name": "id", "type": {"type": "fixed", "name": "Id", "size": 2}},
        {"name": "kind", "type": ["null", {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}]},
        {"name": "again", "type": ["null", "t.Id"], "default": None},
        {"name": "price", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 1}]},
        {"name": "tags", "type": {"type": "map", "values": ["long", "string"]}, "default": {}},
    ],
}


def write(schema: Any, datum: object) -> Any:
    parsed = parse_schema(schema)
    out = io.BytesIO()
    schemaless_writer(out, parsed, datum)
    out.seek(0)
    return schemaless_reader(out, parsed, None)


def test_recursive_named_types_unions_fixed_and_decimals_write() -> None:
    value = {
        "n": 1,
        "id": "AAE=",
        "kind": "B",
        "price": "12.5",
        "next": {"n": 2, "id": "AQI=", "kind": None, "price": None, "again": "//8="},
        "tags": {"big": 9007199254740993, "digits": "123", "text": "x y"},
    }
    datum = from_json(NODE, value)
    back = write(NODE, datum)
    assert back["next"]["again"] == b"\xff\xff" and back["price"] == decimal.Decimal("12.5")
    assert back["tags"] == {"big": 9007199254740993, "digits": "123", "text": "x y"}
    assert from_json(["null", "long"], "9007199254740993") == 9007199254740993  # the decoder's big long


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"n": 2**31, "id": "AAE=", "kind": None, "price": None}, "$.n: 2147483648 is out of range for int"),
        ({"n": 1, "id": "AA==", "kind": None, "price": None}, "$.id: fixed Id takes 2 bytes, got 1"),
        ({"n": 1, "id": "AAE=", "kind": None, "price": "1.25"}, "$.price: has more than 1 digits after the point"),
        ({"n": 1, "id": "AAE=", "kind": "C", "price": None}, "$.kind: 'C' is not a symbol of enum Kind"),
        ({"n": 1, "id": "AAE=", "kind": None, "price": None, "next": {"n": "x"}}, "$.next.n: expected int, got string"),
        ({"n": 1, "id": "AAE=", "kind": None, "price": None, "tags": {"a b": []}}, '$.tags["a b"]: expected one of'),
        ({"id": "AAE=", "kind": None, "price": None}, "$.n: is missing (a int with no default)"),
        ({"n": True, "id": "AAE=", "kind": None, "price": None}, "$.n: expected int, got boolean"),
    ],
)
def test_mismatches_name_the_path(value: dict[str, object], words: str) -> None:
    with pytest.raises(Mismatch) as caught:
        from_json(NODE, value)
    assert words in str(caught.value)


def test_examples_fit_their_schemas() -> None:
    example = avro_example(NODE)
    assert example == {
        "n": 0,
        "next": None,
        "id": "AAA=",
        "kind": "A",
        "again": None,
        "price": "0",
        "tags": {},
    }
    write(NODE, from_json(NODE, json.loads(json.dumps(example))))
    schema = {
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number", "default": 1.5}}}},
        "type": "object",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "where": {"$ref": "#/$defs/point"},
            "kind": {"enum": ["b", "a"]},
            "maybe": {"type": ["null", "integer"], "exclusiveMinimum": 3},
            "any": {"oneOf": [{"type": "null"}, {"type": "boolean"}]},
        },
    }
    assert json_schema_example(schema) == {
        "at": "1970-01-01T00:00:00Z",
        "where": {"x": 1.5},
        "kind": "b",
        "maybe": 4,
        "any": False,
    }
