"""Encoding a JSON value with a registry schema into the Confluent wire format: Avro, Protobuf, JSON Schema.

The schema is named by ``{"subject", "version": int|"latest"}`` or ``{"id": int}`` and never
registered on the way: a value is written only with a schema the registry already holds. The
value is the JSON form the decoder shows (so that a decoded message published again writes the
same bytes), checked against the schema first so that an error names the path inside it; the
framing is confluent-kafka's own serializers', with ``use.schema.id`` and auto-registration off.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import topic_subject_name_strategy
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from streams import jsontext
from streams.schemas.avro_json import Mismatch, from_json, key_path
from streams.schemas.references import avro_text, json_schema_resources
from streams.schemas.registry import Registry, RegistrySchema, UnknownSchema, _is_base64, references_of

# The publish encodings that take a registry schema, and the registry's name for each.
SCHEMA_ENCODINGS = {"avro": "AVRO", "protobuf": "PROTOBUF", "json-schema": "JSON"}


class BadValue(Exception):
    """The value is not JSON or does not fit the schema; the message names the path inside it."""


class WrongSchema(ValueError):
    """The schema named is not one that can write this encoding (another format, no such message type)."""


@dataclass(frozen=True)
class Encoded:
    schema_id: int
    data: bytes
    type: str | None = None


def resolve(registry: Registry, ref: dict[str, Any]) -> RegistrySchema:
    """The schema a publish names, by id or by subject and version."""
    if "id" in ref and ref["id"] is not None:
        if not isinstance(ref["id"], int) or isinstance(ref["id"], bool):
            raise ValueError("schema id must be an integer")
        return registry.schema_by_id(ref["id"])
    subject, version = ref.get("subject"), ref.get("version", "latest")
    if version is None:
        version = "latest"
    if not isinstance(subject, str) or not subject:
        raise ValueError("schema needs a subject or an id")
    if version != "latest" and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValueError('schema version must be an integer or "latest"')
    registry._check_up()
    try:
        found = (
            registry.client.get_latest_version(subject)
            if version == "latest"
            else registry.client.get_version(subject, version)
        )
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            said = exc.error_message or "not found"
            raise UnknownSchema(f"the registry has no subject {subject!r} version {version}: {said}") from None
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
        references=references_of(found.schema),
    )


def encode(
    registry: Registry,
    schema: RegistrySchema,
    encoding: str,
    topic: str,
    part: str,
    text: str,
    type_name: str | None = None,
) -> Encoded:
    """``text`` (JSON) written with ``schema`` as ``encoding`` (avro, protobuf or json-schema)."""
    wanted = SCHEMA_ENCODINGS[encoding]
    if schema.type != wanted:
        raise WrongSchema(f"schema id {schema.id} is a {schema.type} schema, not {encoding}")
    if encoding == "avro":
        return encode_avro(registry, schema, topic, part, text)
    if encoding == "protobuf":
        return encode_protobuf(registry, schema, topic, part, text, type_name)
    return encode_json_schema(registry, schema, topic, part, text)


def _parse(text: str) -> Any:
    try:
        return jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise BadValue(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError as exc:
        raise BadValue(f"not JSON: {exc}") from None


def _context(topic: str, part: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.KEY if part == "key" else MessageField.VALUE)


def _strategy(schema: RegistrySchema) -> Callable[[SerializationContext, str], str | None]:
    """The serializers look the schema up under a subject: the one it was chosen by, not the topic's."""

    def subject(ctx: SerializationContext, record_name: str) -> str | None:
        return schema.subject or topic_subject_name_strategy(ctx, record_name)

    return subject


def _client_schema(schema: RegistrySchema) -> Any:
    """The schema as the serializers take it: with its references, which they resolve through the client."""
    from confluent_kafka.schema_registry import Schema, SchemaReference

    if not schema.references:
        return schema.schema
    text = schema.schema.strip()
    if schema.type == "AVRO" and text[:1] not in ("{", "["):
        text = '{"type": ' + text + "}"  # a bare name, as the serializer reads one given as text
    refs = [SchemaReference(r.name, r.subject, r.version) for r in schema.references]
    return Schema(text, schema.type, refs)


def _conf(schema: RegistrySchema) -> dict[str, Any]:
    return {"auto.register.schemas": False, "use.schema.id": schema.id, "subject.name.strategy": _strategy(schema)}


def _serialize(registry: Registry, serializer: Callable[..., bytes | None], value: Any, ctx: Any) -> bytes:
    registry._check_up()
    try:
        data = serializer(value, ctx)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            raise UnknownSchema(f"the registry does not hold this schema: {exc.error_message}") from None
        raise registry._failed(exc) from None
    except (SerializationError, ValueError, TypeError) as exc:
        raise BadValue(f"does not fit the schema: {str(exc)[:300]}") from None
    except RecursionError:
        raise BadValue("$: nested too deeply to write") from None
    except Exception as exc:  # noqa: BLE001 - transport errors and timeouts read as "down", nothing else does
        if isinstance(exc, OSError | TimeoutError) or type(exc).__module__.split(".")[0].startswith("httpx"):
            raise registry._failed(exc) from None
        raise BadValue(f"could not be written with this schema: {type(exc).__name__}: {str(exc)[:200]}") from None
    if data is None:
        raise BadValue("the schema wrote nothing")
    return data


# ---- Avro ---------------------------------------------------------------------------------


def encode_avro(registry: Registry, schema: RegistrySchema, topic: str, part: str, text: str) -> Encoded:
    """``text`` (JSON) checked against the Avro schema, then framed with the schema's id."""
    from confluent_kafka.schema_registry.avro import AvroSerializer

    value = _parse(text)
    try:
        datum = from_json(jsontext.loads(avro_text(registry, schema)), value)
    except Mismatch as exc:
        raise BadValue(str(exc)) from None
    except RecursionError:
        raise BadValue("$: nested too deeply to write") from None
    except ValueError:
        raise WrongSchema(f"schema id {schema.id} is not valid Avro JSON") from None
    serializer = AvroSerializer(registry.client, _client_schema(schema), conf=_conf(schema))
    data = _serialize(registry, serializer, datum, _context(topic, part))
    return Encoded(schema_id=schema.id, data=data)


# ---- Protobuf -----------------------------------------------------------------------------


def message_descriptors(registry: Registry, schema: RegistrySchema) -> list[Any]:
    """The top-level message types of a Protobuf schema, built at run time from its descriptor."""
    from streams.schemas.decode import _proto_file

    if not _is_base64(schema.schema):
        # Resolved by subject, the registry may answer with .proto text; by id it is read serialized.
        schema = registry.schema_by_id(schema.id)
    try:
        file_desc = _proto_file(registry, schema)
    except UnknownSchema:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable descriptor is the schema's fault, not the value's
        raise WrongSchema(f"schema id {schema.id} could not be read as Protobuf: {str(exc)[:200]}") from None
    return list(file_desc.message_types_by_name.values())


def message_descriptor(registry: Registry, schema: RegistrySchema, type_name: str | None) -> Any:
    messages = message_descriptors(registry, schema)
    if not messages:
        raise WrongSchema(f"schema id {schema.id} declares no message type")
    if not type_name:
        return messages[0]
    for desc in messages:
        if type_name in (desc.full_name, desc.name):
            return desc
    names = ", ".join(d.full_name for d in messages[:20])
    raise WrongSchema(f"schema id {schema.id} has no message type {type_name!r} (it has {names})")


def _proto_path(desc: Any, problem: str) -> str:
    """json_format's "... at Order.items[2].price" as "$.items[2].price: ..." (the value's own path)."""
    text, sep, where = problem.rpartition(" at ")
    if sep and where.split(".", 1)[0].split("[", 1)[0] == desc.name:
        rest = where[len(desc.name) :].rstrip(".")
        return f"${rest}: {text}"
    return f"$: {problem}"


def encode_protobuf(
    registry: Registry, schema: RegistrySchema, topic: str, part: str, text: str, type_name: str | None
) -> Encoded:
    """``text`` (proto3 JSON) parsed into a message class built from the schema, framed by ProtobufSerializer."""
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
    from google.protobuf import json_format, message_factory

    desc = message_descriptor(registry, schema, type_name)
    value = _parse(text)
    if not isinstance(value, dict):
        raise BadValue(f"$: expected an object ({desc.full_name}), got {type(value).__name__}")
    cls = message_factory.GetMessageClass(desc)
    message = cls()
    try:
        json_format.ParseDict(value, message)
    except json_format.ParseError as exc:
        raise BadValue(_proto_path(desc, str(exc))[:400]) from None
    serializer = ProtobufSerializer(cls, registry.client, conf=_conf(schema))
    data = _serialize(registry, serializer, message, _context(topic, part))
    return Encoded(schema_id=schema.id, data=data, type=desc.full_name)


# ---- JSON Schema --------------------------------------------------------------------------


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else key_path(path, str(part))
    return path


def json_schema_problems(
    schema_text: str, value: Any, limit: int = 3, resources: list[tuple[str, Any]] | None = None
) -> list[str]:
    """Where ``value`` breaks the JSON Schema, path first, the shallowest first; ``resources`` are the
    documents its ``$ref``s may name (its references), and nothing else is fetched."""
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError
    from referencing.exceptions import Unresolvable

    try:
        parsed = jsontext.loads(schema_text)
        validator_class = validators.validator_for(parsed)
        validator_class.check_schema(parsed)
        documents = json_schema_documents(resources or [])
    except (ValueError, SchemaError) as exc:
        raise WrongSchema(f"the registry's JSON Schema is not valid: {str(exc)[:200]}") from None
    try:
        found = list(validator_class(parsed, registry=documents).iter_errors(value))
    except RecursionError:
        return ["$: nested too deeply to check"]
    except Unresolvable as exc:
        raise WrongSchema(f"the JSON Schema's {exc} is not one of its references") from None
    errors = sorted(found, key=lambda e: (len(e.absolute_path), str(e.path)))
    return [f"{_json_path(e.absolute_path)}: {e.message[:200]}" for e in errors[:limit]]


def json_schema_documents(resources: list[tuple[str, Any]]) -> Any:
    """A ``referencing`` registry of the referenced documents, by reference name and by their own ``$id``."""
    from referencing import Registry as Documents
    from referencing import Resource
    from referencing.jsonschema import DRAFT7

    documents: Any = Documents()
    for name, document in resources:
        resource = Resource.from_contents(document, default_specification=DRAFT7)
        documents = documents.with_resource(name, resource)
        own = resource.id()
        if own and own != name:
            documents = documents.with_resource(own, resource)
    return documents


def encode_json_schema(registry: Registry, schema: RegistrySchema, topic: str, part: str, text: str) -> Encoded:
    from confluent_kafka.schema_registry.json_schema import JSONSerializer

    value = _parse(text)
    try:
        resources = json_schema_resources(registry, schema)
    except ValueError as exc:
        raise WrongSchema(f"a schema that schema id {schema.id} references is not JSON: {str(exc)[:200]}") from None
    problems = json_schema_problems(schema.schema, value, resources=resources)
    if problems:
        raise BadValue("; ".join(problems))
    serializer = JSONSerializer(_client_schema(schema), registry.client, conf=_conf(schema))
    data = _serialize(registry, serializer, value, _context(topic, part))
    return Encoded(schema_id=schema.id, data=data)
