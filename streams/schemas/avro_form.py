"""Avro in its JSON form: schemas parsed for reading (timestamps and dates as their integers) and values
as the contract writes them (bytes base64, big longs and decimals as strings). Shared by the registry
decoder and the local schema files."""

from __future__ import annotations

import base64
import datetime
import decimal
import threading
import uuid
from typing import Any

from streams import jsontext

# Beyond this a JSON number loses integer precision in a browser: longs go out as strings.
SAFE_INT = 2**53
# Logical types whose JSON form is their underlying integer (the contract keeps epoch values).
_INTEGER_LOGICAL = {"timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"}
_INTEGER_LOGICAL |= {"time-millis", "time-micros", "date"}

_avro_parsed: dict[str, Any] = {}
_parse_lock = threading.Lock()


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
    from fastavro import parse_schema

    with _parse_lock:
        hit = _avro_parsed.get(text)
    if hit is not None:
        return hit
    parsed = parse_schema(_strip_integer_logical(jsontext.loads(text)))
    with _parse_lock:
        if len(_avro_parsed) > 1024:
            _avro_parsed.clear()
        _avro_parsed[text] = parsed
    return parsed


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
