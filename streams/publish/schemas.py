"""A key or value published with a registry schema: the request's fields, the encoding, the 400s and 503s.

The API names the schema as ``{"subject", "version"}`` or ``{"id"}`` (``schema`` for the value,
``key_schema`` for the key); a page form sends the same as flat fields (``schema_subject``,
``schema_version``, ``schema_id``, with ``key_`` in front for the key). Blocking: the registry
may be asked (within its deadline); call it off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.clusters import ClusterConfig
from streams.errors import InvalidInput
from streams.schemas.encode import SCHEMA_ENCODINGS, BadValue, Encoded, WrongSchema, encode, resolve
from streams.schemas.registry import Registry, RegistrySchema, RegistryUnavailable, UnknownSchema, registry_for
from streams.schemas.subjects import NO_REGISTRY, RegistryDown

MAX_SUBJECTS_LISTED = 1000


@dataclass(frozen=True)
class Part:
    """The request fields of one part of a message."""

    name: str  # "key" | "value"
    encoding: str
    schema: str
    type: str
    prefix: str  # of the page form's flat fields

    def ref(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The schema reference the request gives for this part (``{}`` when it gives none)."""
        raw = data.get(self.schema)
        if raw not in (None, ""):
            if not isinstance(raw, Mapping):
                raise InvalidInput(f'{self.schema} must be {{"subject", "version"}} or {{"id"}}.', field=self.schema)
            ref = {k: raw[k] for k in ("subject", "version", "id", "type") if k in raw}
        else:
            ref = {}
            schema_id = _flat(data, f"{self.prefix}schema_id")
            subject = _flat(data, f"{self.prefix}schema_subject")
            version = _flat(data, f"{self.prefix}schema_version")
            if schema_id:
                ref["id"] = _integer(schema_id, self.schema)
            elif subject:
                ref["subject"] = subject
                ref["version"] = "latest" if version in ("", "latest") else _integer(version, self.schema)
        type_name = data.get(self.type)
        if type_name not in (None, ""):
            if not isinstance(type_name, str):
                raise InvalidInput(f"{self.type} must be a message type name.", field=self.type)
            ref["type"] = type_name.strip()
        return ref


VALUE = Part("value", "encoding", "schema", "type", "")
KEY = Part("key", "key_encoding", "key_schema", "key_type", "key_")


def _flat(data: Mapping[str, Any], name: str) -> str:
    raw = data.get(name)
    return raw.strip() if isinstance(raw, str) else "" if raw is None else str(raw)


def _integer(raw: str, field: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f'{field}: {raw[:40]!r} is not a number (a version may be "latest").', field=field) from None


def uses_schema(encoding: str | None) -> bool:
    return encoding in SCHEMA_ENCODINGS


def require_registry(cluster: ClusterConfig, field: str, encoding: str) -> Registry:
    found = registry_for(cluster)
    if found is None:
        raise InvalidInput(f"Publishing as {encoding} needs a schema registry. {NO_REGISTRY}", field=field)
    return found


def resolve_part(cluster: ClusterConfig, part: Part, encoding: str, ref: dict[str, Any]) -> RegistrySchema:
    """The schema a part names; 400 naming the schema field when the registry has none such, 503 when it is down."""
    registry = require_registry(cluster, part.encoding, encoding)
    if not ref.get("subject") and ref.get("id") is None:
        raise InvalidInput(f"The {part.name} as {encoding} needs {part.schema}: a subject or an id.", field=part.schema)
    try:
        return resolve(registry, ref)
    except UnknownSchema as exc:
        raise InvalidInput(f"{part.schema}: {exc}", field=part.schema) from None
    except RegistryUnavailable as exc:
        raise RegistryDown(str(exc)) from None
    except ValueError as exc:
        raise InvalidInput(f"{part.schema}: {exc}.", field=part.schema) from None


@dataclass(frozen=True)
class Written:
    """A part as sent: its bytes (None for a tombstone) and the schema id that wrote them (None when none did)."""

    data: bytes | None
    schema_id: int | None = None


def is_tombstone(part: Part, text: str) -> bool:
    """A value given as the JSON ``null``: no schema writes it, it is sent as no value at all (Kafka's tombstone)."""
    return part is VALUE and text.strip() == "null"


def encode_part(
    cluster: ClusterConfig, name: str, part: Part, encoding: str, text: str, data: Mapping[str, Any]
) -> Written:
    """``text`` (JSON) written in the wire format with the schema the request names for ``part``; a value
    that is the JSON ``null`` is a tombstone, sent without asking the registry, like a value left null."""
    if is_tombstone(part, text):
        return Written(data=None)
    found = _encode_part(cluster, name, part, encoding, text, data)
    return Written(data=found.data, schema_id=found.schema_id)


def _encode_part(
    cluster: ClusterConfig, name: str, part: Part, encoding: str, text: str, data: Mapping[str, Any]
) -> Encoded:
    ref = part.ref(data)
    schema = resolve_part(cluster, part, encoding, ref)
    registry = require_registry(cluster, part.encoding, encoding)
    try:
        return encode(registry, schema, encoding, name, part.name, text, ref.get("type"))
    except BadValue as exc:
        raise InvalidInput(f"The {part.name} does not fit schema id {schema.id}: {exc}", field=part.name) from None
    except WrongSchema as exc:
        field = part.type if "message type" in str(exc) else part.schema
        raise InvalidInput(f"{field}: {exc}.", field=field) from None
    except UnknownSchema as exc:
        raise InvalidInput(f"{part.schema}: {exc}", field=part.schema) from None
    except RegistryUnavailable as exc:
        raise RegistryDown(str(exc)) from None


def subject_names(cluster: ClusterConfig) -> tuple[list[str], str | None]:
    """The registry's subjects for the form's picker, or why there are none (the form works without them)."""
    registry = registry_for(cluster)
    if registry is None:
        return [], None
    try:
        registry._check_up()
        names = sorted(str(s) for s in registry.client.get_subjects() or [])
    except Exception as exc:  # noqa: BLE001 - the picker is a convenience; a subject can still be typed
        if not isinstance(exc, RegistryUnavailable):
            registry._failed(exc)
        return [], "The schema registry did not answer; type the subject or id."
    return names[:MAX_SUBJECTS_LISTED], None


# ---- the form's schema panel: the chosen schema and an example value ----------------------------


def schema_panel(cluster: ClusterConfig, part: Part, encoding: str, ref: dict[str, Any]) -> dict[str, Any]:
    """The schema a part names, readable, with an example value generated from it (its JSON text too)."""
    from streams import jsontext
    from streams.schemas import examples
    from streams.schemas.encode import message_descriptor, message_descriptors
    from streams.schemas.references import avro_text

    schema = resolve_part(cluster, part, encoding, ref)
    registry = require_registry(cluster, part.encoding, encoding)
    if schema.type != SCHEMA_ENCODINGS[encoding]:
        raise InvalidInput(
            f"{part.schema}: schema id {schema.id} is a {schema.type} schema, not {encoding}.", field=part.schema
        )
    types: list[str] = []
    chosen = None
    try:
        if encoding == "protobuf":
            descs = message_descriptors(registry, schema)
            desc = message_descriptor(registry, schema, ref.get("type"))
            types, chosen = [d.full_name for d in descs], desc.full_name
            example = examples.protobuf_example(desc)
            text = schema.schema if not _looks_serialized(schema.schema) else proto_text(descs)
        elif encoding == "avro":
            # The example fills in the named types the schema takes from its references; the text is its own.
            example = examples.avro_example(jsontext.loads(avro_text(registry, schema)))
            parsed = jsontext.loads(schema.schema)
            text = jsontext.dumps_pretty(parsed) or schema.schema
        else:
            parsed = jsontext.loads(schema.schema)
            example = examples.json_schema_example(parsed)
            text = jsontext.dumps_pretty(parsed) or schema.schema
    except WrongSchema as exc:
        field = part.type if "message type" in str(exc) else part.schema
        raise InvalidInput(f"{field}: {exc}.", field=field) from None
    except UnknownSchema as exc:
        raise InvalidInput(f"{part.schema}: {exc}", field=part.schema) from None
    except RegistryUnavailable as exc:
        raise RegistryDown(str(exc)) from None
    except ValueError as exc:
        raise InvalidInput(f"{part.schema}: schema id {schema.id} does not read: {exc}", field=part.schema) from None
    return {
        "part": part.name,
        "encoding": encoding,
        "id": schema.id,
        "subject": schema.subject,
        "version": schema.version,
        "type": schema.type,
        "message_types": types,
        "message_type": chosen,
        "schema": text,
        "example": example,
        "example_text": jsontext.dumps_pretty(example) or "",
    }


def _looks_serialized(text: str) -> bool:
    from streams.schemas.registry import _is_base64

    return _is_base64(text.strip())


_SCALARS = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32", 8: "bool",
    9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64",
}  # fmt: skip


def proto_text(descs: list[Any]) -> str:
    """The message types of a serialized descriptor, written out as .proto-like text for reading."""
    lines: list[str] = []

    def field_type(field: Any) -> str:
        if field.message_type is not None:
            return str(field.message_type.full_name)
        if field.enum_type is not None:
            return str(field.enum_type.full_name)
        return _SCALARS.get(field.type, "?")

    def message(desc: Any, indent: str) -> None:
        lines.append(f"{indent}message {desc.name} {{")
        for enum in desc.enum_types:
            values = "; ".join(f"{v.name} = {v.number}" for v in enum.values)
            lines.append(f"{indent}  enum {enum.name} {{ {values}; }}")
        for nested in desc.nested_types:
            if not nested.GetOptions().map_entry:
                message(nested, indent + "  ")
        for field in desc.fields:
            repeated = field.is_repeated
            entry = field.message_type is not None and field.message_type.GetOptions().map_entry
            if entry:
                k, v = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
                shown = f"map<{field_type(k)}, {field_type(v)}>"
            else:
                shown = ("repeated " if repeated else "") + field_type(field)
            lines.append(f"{indent}  {shown} {field.name} = {field.number};")
        lines.append(f"{indent}}}")

    if descs:
        package = descs[0].file.package
        if package:
            lines.append(f"package {package};")
        for enum in descs[0].file.enum_types_by_name.values():
            values = "; ".join(f"{v.name} = {v.number}" for v in enum.values)
            lines.append(f"enum {enum.name} {{ {values}; }}")
    for desc in descs:
        message(desc, "")
    return "\n".join(lines)
