"""Schemas that use other subjects: the registry's ``references`` (name, subject, version), resolved.

A Protobuf schema imports files by name, a JSON Schema ``$ref``s documents by name and an Avro
schema uses named types defined in other subjects; each names where they are in ``references``.
They are read through the registry client (cached by subject and version like schemas by id),
transitively, dependencies first, each name once, so a cycle ends where it started and a diamond
costs one lookup; more than ``MAX_DEPTH`` levels or ``MAX_REFERENCES`` schemas in all is refused
rather than followed. A referenced subject the registry does not hold is an ``UnknownSchema``
naming it, so the payload stays raw with that reason.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from streams import jsontext
from streams.schemas.registry import Registry, RegistrySchema, UnknownSchema

MAX_DEPTH = 16
MAX_REFERENCES = 256


def referenced(registry: Registry, schema: RegistrySchema) -> list[tuple[str, RegistrySchema]]:
    """Every schema ``schema`` references, transitively, as ``(name, schema)``, each before the ones that use it."""
    if not schema.references:
        return []
    out: list[tuple[str, RegistrySchema]] = []
    seen: set[str] = set()

    def walk(node: RegistrySchema, depth: int) -> None:
        for ref in node.references:
            if ref.name in seen:
                continue
            if depth >= MAX_DEPTH:
                raise UnknownSchema(f"schema id {schema.id}: its references nest deeper than {MAX_DEPTH} levels")
            if len(seen) >= MAX_REFERENCES:
                raise UnknownSchema(f"schema id {schema.id} references more than {MAX_REFERENCES} schemas")
            seen.add(ref.name)
            try:
                found = registry.schema_by_version(ref.subject, ref.version)
            except UnknownSchema as exc:
                raise UnknownSchema(f"schema id {schema.id} references {ref.name!r}, but {exc}") from None
            walk(found, depth + 1)
            out.append((ref.name, found))

    walk(schema, 0)
    return out


# ---- Avro: named types from other subjects, written into the schema where first used -------------

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_NAMED = {"record", "error", "enum", "fixed"}
_expanded: dict[tuple[int, str, tuple[Any, ...]], str] = {}


def avro_text(registry: Registry, schema: RegistrySchema) -> str:
    """The Avro schema's text with every named type it takes from its references defined in place (cached)."""
    if not schema.references:
        return schema.schema
    key = (schema.id, schema.schema, schema.references)
    hit = _expanded.get(key)
    if hit is not None:
        return hit
    library: dict[str, dict[str, Any]] = {}
    for _name, found in referenced(registry, schema):
        _collect(jsontext.loads(found.schema), None, library)
    defined: set[str] = set()
    text = json.dumps(_inline(jsontext.loads(schema.schema), None, library, defined))
    if len(_expanded) > 1024:
        _expanded.clear()
    _expanded[key] = text
    return text


def _full_name(node: dict[str, Any], namespace: str | None) -> tuple[str, str]:
    """A named type's full name and the namespace its inner names are read in."""
    name = str(node.get("name") or "")
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    space = node.get("namespace", namespace) or ""
    return (f"{space}.{name}" if space else name), space


def _collect(node: Any, namespace: str | None, library: dict[str, dict[str, Any]]) -> None:
    if isinstance(node, list):
        for branch in node:
            _collect(branch, namespace, library)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in _NAMED:
        full, space = _full_name(node, namespace)
        library.setdefault(full, node | {"name": full.rsplit(".", 1)[-1], "namespace": space})
        for field in node.get("fields") or []:
            if isinstance(field, dict):
                _collect(field.get("type"), space, library)
        return
    for inner in ("items", "values"):
        if inner in node:
            _collect(node[inner], namespace, library)
    if isinstance(kind, dict | list):
        _collect(kind, namespace, library)


def _inline(node: Any, namespace: str | None, library: dict[str, dict[str, Any]], defined: set[str]) -> Any:
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        full = node if "." in node or not namespace else f"{namespace}.{node}"
        for name in (full, node):
            if name in defined:
                return node
            if name in library:
                # The first use defines it (Avro reads definitions in document order); later uses keep the name.
                return _inline(copy.deepcopy(library[name]), namespace, library, defined)
        return node
    if isinstance(node, list):
        return [_inline(branch, namespace, library, defined) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    out = dict(node)
    if kind in _NAMED:
        full, space = _full_name(node, namespace)
        defined.add(full)
        if "fields" in node and isinstance(node["fields"], list):
            out["fields"] = [
                f | {"type": _inline(f.get("type"), space, library, defined)} if isinstance(f, dict) else f
                for f in node["fields"]
            ]
        return out
    for inner in ("items", "values"):
        if inner in node:
            out[inner] = _inline(node[inner], namespace, library, defined)
    if isinstance(kind, str | dict | list) and kind not in ("array", "map"):
        out["type"] = _inline(kind, namespace, library, defined)
    return out


# ---- JSON Schema: the referenced documents, by the names ``$ref`` uses -------------------------


def json_schema_resources(registry: Registry, schema: RegistrySchema) -> list[tuple[str, Any]]:
    """The documents a JSON Schema references, parsed, by their reference names (for a ``referencing`` registry)."""
    return [(name, jsontext.loads(found.schema)) for name, found in referenced(registry, schema)]
