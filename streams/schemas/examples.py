"""An example value for a schema, in the JSON form a publish takes, to start the value from.

Defaults where the schema gives them, else the first enum symbol, zero values, and nested
records filled in; a recursive schema stops at ``MAX_DEPTH`` (an empty array, a null branch).
"""

from __future__ import annotations

import base64
from typing import Any

from streams.schemas.avro_json import PRIMITIVES, Names, _collect

MAX_DEPTH = 8
_AVRO_ZERO: dict[str, Any] = {
    "null": None,
    "boolean": False,
    "int": 0,
    "long": 0,
    "float": 0.0,
    "double": 0.0,
    "bytes": "",
    "string": "",
}


# ---- Avro ---------------------------------------------------------------------------------


def avro_example(schema: Any) -> Any:
    names = Names()
    _collect(schema, None, names)
    return _avro(schema, names, None, 0)


def _avro_default(node: Any, default: Any, names: Names, namespace: str | None) -> Any:
    """A field's default in the publish form: Avro writes bytes defaults as code points, the form takes base64."""
    if isinstance(node, list) and node:
        node = node[0]  # a union's default is for its first branch
    if isinstance(node, str) and node not in PRIMITIVES:
        node = names.find(node, namespace) or node
    kind = node.get("type") if isinstance(node, dict) else node
    if kind in ("bytes", "fixed") and isinstance(default, str):
        if isinstance(node, dict) and node.get("logicalType") == "decimal":
            return "0"
        return base64.b64encode(default.encode("latin-1", "replace")).decode("ascii")
    return default


def _avro(node: Any, names: Names, namespace: str | None, depth: int) -> Any:
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        if not branches or depth >= MAX_DEPTH:
            return None if "null" in node else _avro(node[0], names, namespace, depth)
        return _avro(branches[0], names, namespace, depth)
    if isinstance(node, str):
        if node in PRIMITIVES:
            return _AVRO_ZERO[node]
        found = names.find(node, namespace)
        return _avro(found, names, namespace, depth) if found is not None else None
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    if isinstance(kind, dict | list):
        return _avro(kind, names, namespace, depth)
    if node.get("logicalType") == "decimal":
        return "0"
    if node.get("logicalType") == "uuid":
        return "00000000-0000-0000-0000-000000000000"
    if kind in PRIMITIVES:
        return _AVRO_ZERO[kind]
    if kind in ("record", "error"):
        space = node.get("namespace", namespace)
        name = str(node.get("name") or "")
        if "." in name:
            space = name.rsplit(".", 1)[0]
        out: dict[str, Any] = {}
        for field in node.get("fields") or []:
            if not isinstance(field, dict):
                continue
            if "default" in field:
                out[str(field.get("name"))] = _avro_default(field.get("type"), field["default"], names, space)
            else:
                out[str(field.get("name"))] = _avro(field.get("type"), names, space, depth + 1)
        return out
    if kind == "enum":
        symbols = node.get("symbols") or []
        return node.get("default", symbols[0] if symbols else "")
    if kind == "fixed":
        return base64.b64encode(bytes(int(node.get("size") or 0))).decode("ascii")
    if kind == "array":
        if depth >= MAX_DEPTH:
            return []
        return [_avro(node.get("items"), names, namespace, depth + 1)]
    if kind == "map":
        return {}
    if isinstance(kind, str):
        found = names.find(kind, namespace)
        return _avro(found, names, namespace, depth) if found is not None else None
    return None


# ---- JSON Schema --------------------------------------------------------------------------

_JSON_ZERO: dict[str, Any] = {
    "null": None,
    "boolean": False,
    "integer": 0,
    "number": 0,
    "string": "",
    "object": {},
    "array": [],
}
_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "uri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}


def json_schema_example(schema: Any) -> Any:
    return _json(schema, schema, 0)


def _ref(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _json(node: Any, root: Any, depth: int) -> Any:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return None
    if "$ref" in node:
        return _json(_ref(root, str(node["$ref"])), root, depth + 1)
    for key in ("default", "const"):
        if key in node:
            return node[key]
    if isinstance(node.get("examples"), list) and node["examples"]:
        return node["examples"][0]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    for key in ("oneOf", "anyOf"):
        if isinstance(node.get(key), list) and node[key]:
            choices = [c for c in node[key] if not (isinstance(c, dict) and c.get("type") == "null")]
            return _json((choices or node[key])[0], root, depth + 1)
    if isinstance(node.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            found = _json(part, root, depth + 1)
            if isinstance(found, dict):
                merged.update(found)
        if merged:
            return merged
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in node else "array" if "items" in node else None
    if kind == "object":
        props = node.get("properties") or {}
        return {str(name): _json(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        items = node.get("prefixItems") or node.get("items")
        if isinstance(items, list):
            return [_json(i, root, depth + 1) for i in items]
        if isinstance(items, dict) and depth < MAX_DEPTH:
            return [_json(items, root, depth + 1)] * max(1, int(node.get("minItems") or 1))
        return []
    if kind == "string":
        if node.get("format") in _FORMATS:
            return _FORMATS[node["format"]]
        return "x" * int(node.get("minLength") or 0)
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum"))
        if isinstance(low, int | float) and not isinstance(low, bool):
            return low + (1 if "minimum" not in node else 0)
        return 0
    return _JSON_ZERO.get(str(kind))


# ---- Protobuf -----------------------------------------------------------------------------


def protobuf_example(desc: Any) -> Any:
    """A message of the type with every field at its zero value, nested messages and one list item filled in."""
    from google.protobuf import json_format, message_factory

    message = message_factory.GetMessageClass(desc)()
    _fill(message, 0)
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


_WELL_KNOWN_PACKAGE = "google.protobuf"


def _fill(message: Any, depth: int) -> None:
    desc = message.DESCRIPTOR
    if desc.full_name.startswith(_WELL_KNOWN_PACKAGE) or depth >= MAX_DEPTH:
        return  # Timestamp, Duration, wrappers, Struct: their zero value prints in the JSON mapping as it is
    seen_oneofs: set[str] = set()
    for field in desc.fields:
        oneof = field.containing_oneof
        if oneof is not None:
            if oneof.name in seen_oneofs:
                continue
            seen_oneofs.add(oneof.name)
        is_message = field.message_type is not None
        repeated = field.is_repeated
        if is_message and field.message_type.GetOptions().map_entry:
            continue  # a map: shown empty
        if repeated:
            target = getattr(message, field.name)
            if is_message:
                _fill(target.add(), depth + 1)
            elif field.enum_type is not None:
                target.append(field.enum_type.values[0].number)
            else:
                target.append(_zero(field))
            continue
        if is_message:
            sub = getattr(message, field.name)
            sub.SetInParent()
            _fill(sub, depth + 1)
        elif oneof is not None:
            # A oneof (proto3 ``optional`` too) prints only when set: set its first field to zero.
            value = field.enum_type.values[0].number if field.enum_type is not None else _zero(field)
            setattr(message, field.name, value)


def _zero(field: Any) -> Any:
    from google.protobuf.descriptor import FieldDescriptor as F

    if field.cpp_type == F.CPPTYPE_STRING:
        return b"" if field.type == F.TYPE_BYTES else ""
    if field.cpp_type == F.CPPTYPE_BOOL:
        return False
    if field.cpp_type in (F.CPPTYPE_FLOAT, F.CPPTYPE_DOUBLE):
        return 0.0
    return 0
