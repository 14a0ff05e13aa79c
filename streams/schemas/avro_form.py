"""Avro in its JSON form: schemas parsed for reading (timestamps and dates as their integers) and values
as the contract writes them (bytes base64, big longs and decimals as strings). Shared by the registry
decoder and the local schema files."""

from __future__ import annotations

import base64
import datetime
import decimal
import io
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams import jsontext

# Beyond this a JSON number loses integer precision in a browser: longs go out as strings.
SAFE_INT = 2**53
# Logical types whose JSON form is their underlying integer (the contract keeps epoch values).
_INTEGER_LOGICAL = {"timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"}
_INTEGER_LOGICAL |= {"time-millis", "time-micros", "date"}

_avro_readers: dict[str, AvroReader] = {}
_parse_lock = threading.Lock()
_CACHE_ENTRIES = 1024


def _strip_integer_logical(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strip_integer_logical(v) for k, v in node.items()}
        if out.get("logicalType") in _INTEGER_LOGICAL:
            del out["logicalType"]
        return out
    if isinstance(node, list):
        return [_strip_integer_logical(v) for v in node]
    return node


def avro_schema(text: str) -> Any:
    """A parsed Avro schema for reading (cached by text); timestamps and dates read as integers."""
    return avro_reader(text).schema


def avro_reader(text: str) -> AvroReader:
    """The reader of one Avro schema's values (cached by text): parsed once, its JSON conversion planned once."""
    hit = _avro_readers.get(text)
    if hit is not None:
        return hit
    from fastavro import parse_schema, schemaless_reader

    plain = _strip_integer_logical(jsontext.loads(text))
    # Kept on the reader: an import statement in ``read`` costs about a microsecond a value.
    reader = AvroReader(schema=parse_schema(plain), convert=converter(plain), reader=schemaless_reader)
    with _parse_lock:
        if len(_avro_readers) > _CACHE_ENTRIES:
            _avro_readers.clear()
        _avro_readers[text] = reader
    return reader


@dataclass(frozen=True)
class AvroReader:
    """A parsed schema and what its values need to reach their JSON form (None: nothing, they are already)."""

    schema: Any
    convert: Callable[[Any], Any] | None
    # fastavro's schemaless_reader, imported when the first schema is parsed.
    reader: Callable[..., Any]

    @property
    def name(self) -> str | None:
        return self.schema.get("name") if isinstance(self.schema, dict) else None

    def read(self, body: bytes) -> Any:
        """One value in its JSON form; bytes left over after it are an error (the body is not this schema's)."""
        stream = io.BytesIO(body)
        value = self.reader(stream, self.schema, None)
        if stream.tell() != len(body):
            raise ValueError(f"{len(body) - stream.tell()} bytes left over after the record")
        return value if self.convert is None else self.convert(value)


# ---- the conversion a schema's values need, planned from the schema ------------------------------

_AS_IS = frozenset({"null", "boolean", "int", "float", "double", "string", "enum"})
_Convert = Callable[[Any], Any] | None


def _long(value: Any) -> Any:
    return value if -SAFE_INT < value < SAFE_INT else str(value)


def converter(schema: Any) -> _Convert:
    """What turns values read with ``schema`` (its JSON, integer logical types stripped) into their JSON form.

    None where the values are their JSON form already (strings, ints, doubles, enums, and records and
    arrays of them): the page then skips the walk. Only longs, bytes, fixed, logical types and the
    unions and named references among them are touched; anything unusual falls back to ``to_json``,
    the walk that handles every value, so a plan can only be slower than needed, never wrong.
    """
    try:
        return _plan(schema, "", {})
    except (RecursionError, TypeError, KeyError, AttributeError, ValueError):
        return to_json


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _plan(node: Any, namespace: str, named: dict[str, _Convert]) -> _Convert:
    if isinstance(node, str):
        if node in _AS_IS:
            return None
        if node == "long":
            return _long
        if node in ("bytes", "fixed"):
            return to_json
        # A named type defined earlier; an unknown or ambiguous name gets the full walk.
        return named.get(_fullname(node, namespace), to_json)
    if isinstance(node, list):
        plans = [_plan(branch, namespace, named) for branch in node]
        if all(plan is None for plan in plans):
            return None
        others = [plan for branch, plan in zip(node, plans, strict=True) if branch != "null"]
        if len(others) == 1 and len(node) == 2 and "null" in node and others[0] is not None:
            only = others[0]
            return lambda value: None if value is None else only(value)
        return to_json
    if not isinstance(node, dict):
        return to_json
    kind = node["type"]
    if node.get("logicalType") is not None:
        return to_json  # decimals, uuids and the rest: values fastavro gives as objects
    if kind in ("record", "error"):
        name = _fullname(node["name"], node.get("namespace", namespace))
        inner = name.rpartition(".")[0]
        named[name] = to_json  # a reference to itself from within: the full walk
        fields = [(field["name"], _plan(field["type"], inner, named)) for field in node["fields"]]
        touched = tuple((field, plan) for field, plan in fields if plan is not None)
        plan = None if not touched else _record(touched)
        named[name] = plan
        return plan
    if kind in ("enum", "fixed"):
        plan = None if kind == "enum" else to_json
        named[_fullname(node["name"], node.get("namespace", namespace))] = plan
        return plan
    if kind == "array":
        items = _plan(node["items"], namespace, named)
        return None if items is None else (lambda value: [items(v) for v in value])
    if kind == "map":
        values = _plan(node["values"], namespace, named)
        return None if values is None else (lambda value: {k: values(v) for k, v in value.items()})
    return _plan(kind, namespace, named)


def _record(touched: tuple[tuple[str, Callable[[Any], Any]], ...]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        # fastavro gives each record a dict of its own: changed in place.
        for field, plan in touched:
            value[field] = plan(value[field])
        return value

    return convert


def to_json(value: Any) -> Any:
    """Avro values in their JSON form: bytes base64, big longs and decimals as strings."""
    kind = type(value)
    if kind is str or kind is float or kind is bool or value is None:
        return value
    if kind is int:
        return value if -SAFE_INT < value < SAFE_INT else str(value)
    if kind is dict:
        return {k if type(k) is str else str(k): to_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return to_json(int(value))
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return to_json(dict(value))
    if isinstance(value, (list, tuple)):
        return to_json(list(value))
    return str(value)
