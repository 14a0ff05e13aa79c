"""An Avro datum from its JSON form (the one the decoder shows), checked against the schema on the way.

The JSON form is the decoder's: bytes and fixed as base64, longs as numbers or (beyond 2^53)
strings, decimals as strings, timestamps and dates as their integers, unions as the bare value.
A value that does not fit raises ``Mismatch`` naming the path inside it, e.g.
``$.items[2].price: expected double, got string``, so the form can say where it went wrong.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import re
from typing import Any

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")


class Mismatch(ValueError):
    """The value does not fit the schema at ``path``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.fullmatch(key) else f"{path}[{json.dumps(key)}]"


class Names:
    """Named types (records, enums, fixed) by full and short name, as the schema defines them."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}

    def define(self, node: dict[str, Any], namespace: str | None) -> str | None:
        name = str(node.get("name") or "")
        space = node.get("namespace", namespace)
        if "." in name:
            full, space = name, name.rsplit(".", 1)[0]
        else:
            full = f"{space}.{name}" if space else name
        self.types[full] = node
        self.types.setdefault(name.rsplit(".", 1)[-1], node)
        return space

    def find(self, name: str, namespace: str | None) -> dict[str, Any] | None:
        if "." not in name and namespace:
            hit = self.types.get(f"{namespace}.{name}")
            if hit is not None:
                return hit
        return self.types.get(name)


def from_json(schema: Any, value: Any) -> Any:
    """``value`` (parsed JSON) as the datum fastavro writes with ``schema`` (the schema's parsed JSON)."""
    names = Names()
    _collect(schema, None, names)
    return _convert(schema, value, "$", None, names)


def _collect(node: Any, namespace: str | None, names: Names) -> None:
    """Every named type up front: a field may use a name defined later in the file order of a union."""
    if isinstance(node, list):
        for branch in node:
            _collect(branch, namespace, names)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        namespace = names.define(node, namespace)
    if kind in ("record", "error"):
        for field in node.get("fields") or []:
            if isinstance(field, dict):
                _collect(field.get("type"), namespace, names)
    elif kind == "array":
        _collect(node.get("items"), namespace, names)
    elif kind == "map":
        _collect(node.get("values"), namespace, names)
    elif isinstance(kind, dict | list):
        _collect(kind, namespace, names)


def describe(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "one of " + ", ".join(describe(b) for b in node)
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            return f"{kind} {node.get('name')}"
        if kind == "array":
            return f"array of {describe(node.get('items'))}"
        if kind == "map":
            return f"map of {describe(node.get('values'))}"
        if node.get("logicalType"):
            return f"{node['logicalType']} ({describe(kind)})"
        return describe(kind)
    return str(node)


def _expected(node: Any, value: Any, path: str) -> Mismatch:
    return Mismatch(path, f"expected {describe(node)}, got {json_kind(value)}")


def _integer(node: Any, value: Any, path: str, limits: tuple[int, int]) -> int:
    if isinstance(value, str) and limits == LONG_RANGE and _INTEGER_TEXT.fullmatch(value):
        value = int(value)  # the decoder's form of a long beyond 2^53
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _expected(node, value, path)
    if not limits[0] <= value <= limits[1]:
        raise Mismatch(path, f"{value} is out of range for {describe(node)}")
    return value


def _bytes(node: Any, value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise _expected(node, value, path)
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Mismatch(path, f"expected {describe(node)} as base64, got a string that is not base64") from None


def _decimal(node: Any, value: Any, path: str) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _expected(node, value, path)
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise Mismatch(path, f"expected a decimal number, got {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise Mismatch(path, "expected a finite decimal number")
    scale = int(node.get("scale") or 0)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale:
        raise Mismatch(path, f"has more than {scale} digits after the point (the schema's scale)")
    return number


def _convert(node: Any, value: Any, path: str, namespace: str | None, names: Names) -> Any:
    if isinstance(node, list):
        return _union(node, value, path, namespace, names)
    if isinstance(node, str):
        if node in PRIMITIVES:
            return _primitive(node, value, path)
        named = names.find(node, namespace)
        if named is None:
            raise Mismatch(path, f"the schema names an unknown type {node!r}")
        return _convert(named, value, path, namespace, names)
    if not isinstance(node, dict):
        raise Mismatch(path, "the schema is not valid Avro here")
    kind = node.get("type")
    logical = node.get("logicalType")
    if isinstance(kind, dict | list):
        return _convert(kind, value, path, namespace, names)
    if logical == "decimal" and kind in ("bytes", "fixed"):
        return _decimal(node, value, path)
    if kind in PRIMITIVES:
        return _primitive(kind, value, path, node)
    if kind in ("record", "error"):
        return _record(node, value, path, names)
    if kind == "enum":
        symbols = [str(s) for s in node.get("symbols") or []]
        if not isinstance(value, str):
            raise _expected(node, value, path)
        if value not in symbols:
            shown = ", ".join(symbols[:10]) + (", ..." if len(symbols) > 10 else "")
            raise Mismatch(path, f"{value[:40]!r} is not a symbol of enum {node.get('name')} ({shown})")
        return value
    if kind == "fixed":
        data = _bytes(node, value, path)
        size = int(node.get("size") or 0)
        if len(data) != size:
            raise Mismatch(path, f"fixed {node.get('name')} takes {size} bytes, got {len(data)}")
        return data
    if kind == "array":
        if not isinstance(value, list):
            raise _expected(node, value, path)
        items = node.get("items")
        return [_convert(items, item, f"{path}[{i}]", namespace, names) for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _expected(node, value, path)
        values = node.get("values")
        return {k: _convert(values, v, key_path(path, k), namespace, names) for k, v in value.items()}
    if isinstance(kind, str):
        named = names.find(kind, namespace)
        if named is not None:
            return _convert(named, value, path, namespace, names)
    raise Mismatch(path, f"the schema has a type this console does not write ({str(kind)[:40]!r})")


def _primitive(kind: str, value: Any, path: str, node: Any = None) -> Any:
    shown = node if node is not None else kind
    if kind == "null":
        if value is not None:
            raise _expected(shown, value, path)
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _expected(shown, value, path)
        return value
    if kind == "int":
        return _integer(shown, value, path, INT_RANGE)
    if kind == "long":
        return _integer(shown, value, path, LONG_RANGE)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _expected(shown, value, path)
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise _expected(shown, value, path)
        return value
    return _bytes(shown, value, path)


def _record(node: dict[str, Any], value: Any, path: str, names: Names) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _expected(node, value, path)
    namespace = node.get("namespace")
    full = str(node.get("name") or "")
    if "." in full:
        namespace = full.rsplit(".", 1)[0]
    fields = [f for f in node.get("fields") or [] if isinstance(f, dict)]
    known = {str(f.get("name")) for f in fields}
    for extra in value:
        if extra not in known:
            raise Mismatch(key_path(path, str(extra)), f"is not a field of record {node.get('name')}")
    out: dict[str, Any] = {}
    for field in fields:
        name = str(field.get("name"))
        if name not in value:
            if "default" in field:
                continue  # the writer fills in the schema's default
            raise Mismatch(key_path(path, name), f"is missing (a {describe(field.get('type'))} with no default)")
        out[name] = _convert(field.get("type"), value[name], key_path(path, name), namespace, names)
    return out


def _branch_kind(node: Any, names: Names, namespace: str | None) -> str:
    """The JSON kind a union branch takes, to tell which branch a failed value was meant for."""
    if isinstance(node, str):
        if node in PRIMITIVES:
            return {"int": "number", "long": "number", "float": "number", "double": "number", "bytes": "string"}.get(
                node, node
            )
        found = names.find(node, namespace)
        return _branch_kind(found, names, namespace) if found is not None else "?"
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "error", "map"):
            return "object"
        if kind == "array":
            return "array"
        if kind in ("enum", "fixed"):
            return "string"
        return _branch_kind(kind, names, namespace)
    return "?"


def _union(branches: list[Any], value: Any, path: str, namespace: str | None, names: Names) -> Any:
    kind = json_kind(value)
    # The branches of the value's own JSON kind first: in ["long", "string"] the text "123" stays a string,
    # while in ["null", "long"] it is still read as a long beyond 2^53.
    same = [b for b in branches if _branch_kind(b, names, namespace) == kind]
    failures: list[tuple[Any, Mismatch]] = []
    for branch in same + [b for b in branches if not any(b is s for s in same)]:
        try:
            return _convert(branch, value, path, namespace, names)
        except Mismatch as exc:
            failures.append((branch, exc))
    meant = [exc for branch, exc in failures if _branch_kind(branch, names, namespace) == kind]
    if len(meant) == 1:
        raise meant[0]
    raise Mismatch(path, f"expected {describe(branches)}, got {kind}")
