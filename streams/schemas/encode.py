"""Encoding a JSON value with a registry schema into the Confluent wire format (Avro).

The schema is named by ``{"subject", "version": int|"latest"}`` or ``{"id": int}`` and never
registered on the way: a value is written only with a schema the registry already holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro.validation import ValidationError, validate

from streams.schemas.decode import avro_schema
from streams.schemas.registry import Registry, RegistrySchema, UnknownSchema


class BadValue(Exception):
    """The value is not JSON or does not fit the schema; the message names the path inside it."""


@dataclass(frozen=True)
class Encoded:
    schema_id: int
    data: bytes


def resolve(registry: Registry, ref: dict[str, Any]) -> RegistrySchema:
    """The schema a publish names, by id or by subject and version."""
    if "id" in ref:
        if not isinstance(ref["id"], int) or isinstance(ref["id"], bool):
            raise ValueError("schema id must be an integer")
        return registry.schema_by_id(ref["id"])
    subject, version = ref.get("subject"), ref.get("version", "latest")
    if not isinstance(subject, str) or not subject:
        raise ValueError("schema needs a subject or an id")
    if version != "latest" and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValueError('schema version must be an integer or "latest"')
    try:
        found = (
            registry.client.get_latest_version(subject)
            if version == "latest"
            else registry.client.get_version(subject, version)
        )
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            raise UnknownSchema(f"subject {subject!r} has no version {version}") from None
        raise registry._failed(exc) from None
    except Exception as exc:  # noqa: BLE001 - transport errors and timeouts read as "down"
        raise registry._failed(exc) from None
    if found.schema_id is None:
        raise UnknownSchema(f"subject {subject!r} version {version} came without an id")
    return RegistrySchema(
        id=found.schema_id,
        type=(found.schema.schema_type or "AVRO").upper(),
        schema=found.schema.schema_str or "",
        subject=subject,
        version=found.version,
    )


def encode_avro(registry: Registry, schema: RegistrySchema, topic: str, part: str, text: str) -> Encoded:
    """``text`` (JSON) checked against the Avro schema, then framed with the schema's id."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadValue(f"not JSON: {exc}") from None
    parsed = avro_schema(schema.schema)
    try:
        validate(value, parsed, raise_errors=True)
    except ValidationError as exc:
        raise BadValue("does not fit the schema: " + "; ".join(str(e) for e in exc.errors)) from None
    serializer = AvroSerializer(
        registry.client,
        schema.schema,
        conf={"auto.register.schemas": False, "use.schema.id": schema.id},
    )
    field = MessageField.KEY if part == "key" else MessageField.VALUE
    data = serializer(value, SerializationContext(topic, field))
    if data is None:
        raise BadValue("the schema wrote nothing")
    return Encoded(schema_id=schema.id, data=data)
