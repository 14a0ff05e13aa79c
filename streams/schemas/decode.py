"""The one decoder every payload view uses.

``decode(cluster, name, part, raw)`` turns raw bytes into ``Decoded`` (the JSON form plus
the schema that read it), or says why not. It never raises: broker data is hostile, and a
poison payload (unknown schema id, truncated body, wrong magic byte, bytes that merely start
with 0x00) is a reason string, not an error page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams import jsontext
from streams.clusters import ClusterConfig
from streams.payloads import Payload
from streams.schemas.avro_form import avro_reader
from streams.schemas.local import LocalDecoder, decoder_for
from streams.schemas.references import avro_text, referenced
from streams.schemas.registry import Registry, RegistrySchema, RegistryUnavailable, UnknownSchema, registry_for

MAGIC = 0
HEADER = 5
FORMATS = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "json-schema"}


@dataclass(frozen=True)
class Decoded:
    format: str
    data: Any
    schema_id: int | None = None
    subject: str | None = None
    version: int | None = None
    type: str | None = None
    # The local schema file that read it (its name only), where no registry did.
    file: str | None = None

    def as_api(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "schema_id": self.schema_id,
            "subject": self.subject,
            "version": self.version,
            "type": self.type,
            "file": self.file,
            "data": self.data,
        }


@dataclass(frozen=True)
class DecodeResult:
    decoded: Decoded | None = None
    error: str | None = None

    def as_api(self) -> dict[str, Any]:
        """The two keys every payload object carries: ``decoded`` and ``decode_error``."""
        return {"decoded": self.decoded.as_api() if self.decoded else None, "decode_error": self.error}


NOT_DECODED = DecodeResult()


def decode(cluster: ClusterConfig, name: str, part: str, raw: bytes | None) -> DecodeResult:
    """Decode one key or value.

    ``cluster``: the cluster the payload came from; ``name``: its Kafka topic (or NATS
    subject); ``part``: ``"key"`` or ``"value"``; ``raw``: the bytes as read (None for a
    null key). Returns ``DecodeResult(decoded, error)``: both None when no schema applies
    (plain payloads stay as they were), ``decoded`` when a schema read it, ``error`` (a
    sentence) when a schema should have applied and did not. Blocking (it may ask the
    registry once, within the broker deadline); call it off the event loop.
    """
    if not raw:
        return NOT_DECODED
    try:
        framed = NOT_DECODED
        if raw[0] == MAGIC and cluster.schema_registry_url:
            framed = _decode_framed(cluster, raw)
            if framed.decoded is not None:
                return framed
        # A framed payload goes to the registry first; a local file may still read what it could not.
        local = decoder_for(cluster.decoders, name, part)
        if local is None:
            return framed
        found = _decode_local(local, raw)
        return framed if found.decoded is None and framed.error else found
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not fail the page either
        return DecodeResult(error=f"could not decode: {type(exc).__name__}")


def _decode_local(local: LocalDecoder, raw: bytes) -> DecodeResult:
    try:
        read = local.read(raw)
    except Exception as exc:  # noqa: BLE001 - hostile bytes fail in any of the readers' own ways
        return DecodeResult(error=f"does not decode with {local.file} ({local.spec.format}): {_reason(exc)}")
    return DecodeResult(decoded=Decoded(format=local.spec.format, data=read.data, type=read.type, file=local.file))


def framed_ids(payloads: Iterable[bytes | None]) -> set[int]:
    """The schema ids of the payloads framed in the Confluent wire format."""
    return {int.from_bytes(raw[1:HEADER], "big") for raw in payloads if raw and raw[0] == MAGIC and len(raw) >= HEADER}


def _decode_framed(cluster: ClusterConfig, raw: bytes) -> DecodeResult:
    if len(raw) < HEADER:
        return DecodeResult(error=f"starts with the wire-format magic byte but is only {len(raw)} bytes long")
    schema_id = int.from_bytes(raw[1:HEADER], "big")
    registry = registry_for(cluster)
    if registry is None:
        return NOT_DECODED
    try:
        schema = registry.schema_by_id(schema_id)
        # Resolved before reading so that a referenced subject the registry lacks is named as the reason.
        referenced(registry, schema)
    except (UnknownSchema, RegistryUnavailable) as exc:
        return DecodeResult(error=str(exc))
    body = raw[HEADER:]
    try:
        return DecodeResult(decoded=_read(registry, schema, body))
    except Exception as exc:  # noqa: BLE001 - hostile bytes fail in any of the readers' own ways
        return DecodeResult(error=f"does not decode with schema id {schema_id} ({schema.type}): {_reason(exc)}")


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


def _read(registry: Registry, schema: RegistrySchema, body: bytes) -> Decoded:
    fmt = FORMATS.get(schema.type)
    if fmt == "avro":
        data, type_name = _read_avro(registry, schema, body)
    elif fmt == "json-schema":
        data, type_name = jsontext.loads(body), None
    elif fmt == "protobuf":
        data, type_name = _read_protobuf(registry, schema, body)
    else:
        raise ValueError(f"schema type {schema.type!r} is not supported")
    return Decoded(
        format=fmt,
        data=data,
        schema_id=schema.id,
        subject=schema.subject,
        version=schema.version,
        type=type_name,
    )


# ---- Avro ---------------------------------------------------------------------------------


def _read_avro(registry: Registry, schema: RegistrySchema, body: bytes) -> tuple[Any, str | None]:
    reader = avro_reader(avro_text(registry, schema))
    return reader.read(body), reader.name


# ---- Protobuf -----------------------------------------------------------------------------

_proto_pools: dict[tuple[Any, ...], Any] = {}


def _read_varint(body: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(body):
            raise ValueError("the message-index header is cut short")
        byte = body[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("the message-index header is not a varint")
    return (result >> 1) ^ -(result & 1), pos  # zigzag


def _proto_file(registry: Registry, schema: RegistrySchema) -> Any:
    """The schema's file descriptor, built at run time in a pool of its own (cached by id, text and references),
    the files it imports (its references) built into the pool first."""
    from confluent_kafka.schema_registry.common.protobuf import _init_pool, _str_to_proto
    from google.protobuf import descriptor_pool

    # By id and text: ids are per registry, and two clusters' registries may give one id to different schemas.
    key = (schema.id, schema.schema, schema.references)
    hit = _proto_pools.get(key)
    if hit is not None:
        return hit
    pool = descriptor_pool.DescriptorPool()
    _init_pool(pool)
    for name, dependency in referenced(registry, schema):
        if _has_file(pool, name):
            continue  # a well-known type, already in every pool
        if dependency.type != "PROTOBUF":
            raise ValueError(f"{name!r} is a {dependency.type} schema, not Protobuf")
        pool.Add(_str_to_proto(name, dependency.schema))
    proto = _str_to_proto(f"schema-{schema.id}.proto", schema.schema)
    file_desc = pool.AddSerializedFile(proto.SerializeToString())
    if len(_proto_pools) > 1024:
        _proto_pools.clear()
    _proto_pools[key] = file_desc
    return file_desc


def _has_file(pool: Any, name: str) -> bool:
    try:
        pool.FindFileByName(name)
    except KeyError:
        return False
    return True


def _read_protobuf(registry: Registry, schema: RegistrySchema, body: bytes) -> tuple[Any, str | None]:
    from google.protobuf import json_format, message_factory

    count, pos = _read_varint(body, 0)
    indexes = [0]
    if count:
        if count < 0 or count > 64:
            raise ValueError("the message-index header is not valid")
        indexes = []
        for _ in range(count):
            index, pos = _read_varint(body, pos)
            indexes.append(index)
    file_desc = _proto_file(registry, schema)
    messages = list(file_desc.message_types_by_name.values())
    desc = messages[indexes[0]]
    for index in indexes[1:]:
        desc = desc.nested_types[index]
    message = message_factory.GetMessageClass(desc)()
    message.ParseFromString(body[pos:])
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data, desc.full_name


def _decoding(cluster: ClusterConfig, name: str, part: str, raw: bytes | None, truncated: bool) -> DecodeResult:
    if raw is None:
        return NOT_DECODED
    if truncated:
        framed = raw[:1] == bytes([MAGIC]) and cluster.schema_registry_url
        if framed or decoder_for(cluster.decoders, name, part) is not None:
            return DecodeResult(error="too large to decode here; show all to decode it")
        return NOT_DECODED
    return decode(cluster, name, part, raw)


def decode_payload(cluster: ClusterConfig, name: str, part: str, payload: Payload) -> Payload:
    """``payload`` with its ``decoding`` set (a truncated payload is not decoded: its bytes are cut)."""
    return payload.with_decoding(_decoding(cluster, name, part, payload.raw, payload.truncated))


def decoded_payload(cluster: ClusterConfig, name: str, part: str, data: bytes | None, limit: int) -> Payload:
    """``decode_payload(cluster, name, part, Payload.of(data, limit))`` with one Payload built, not two:
    the live tail makes one per key and value of every message."""
    if data is None:
        return Payload(None, 0, False, NOT_DECODED)
    size = len(data)
    truncated = size > limit
    raw = data[:limit] if truncated else data
    return Payload(raw, size, truncated, _decoding(cluster, name, part, raw, truncated))
