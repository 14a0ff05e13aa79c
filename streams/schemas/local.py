"""Local schema files bound to topics or subjects by name pattern: no registry needed.

A cluster's ``decoders`` (clusters file: ``decoders = [{topics|subjects = [...], part, format,
schema, descriptor, type}]``) read unframed payloads: plain Avro binary (``.avsc``), plain
Protobuf (a ``FileDescriptorSet`` and the message type), or JSON checked against a JSON Schema.
Every file is read and compiled when the cluster definition is loaded, so a bad file is a
configuration error naming the file, never a failure per message. Kafka topic patterns are globs
(``*``, ``?``, ``[...]`` over the whole name); NATS subject patterns use NATS wildcards (``*`` one
token, ``>`` the rest).
"""

from __future__ import annotations

import fnmatch
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams import clusters, jsontext
from streams.schemas.avro_form import AvroReader, avro_reader

FORMATS = ("avro", "protobuf", "json-schema")
PARTS = ("key", "value")
KEYS = frozenset({"topics", "subjects", "part", "format", "schema", "descriptor", "type"})
MAX_SCHEMA_BYTES = 8 * 1024 * 1024
_MATCH_CACHE_ENTRIES = 4096


class DecoderError(ValueError):
    """A decoder definition or its schema file cannot be used."""


@dataclass(frozen=True)
class DecoderSpec:
    """One ``decoders`` entry as written (paths resolved); hashable, so a ``ClusterConfig`` can hold it."""

    patterns: tuple[str, ...]
    nats: bool  # patterns are NATS subject wildcards, not globs
    part: str
    format: str
    schema: str = ""
    descriptor: str = ""
    type: str = ""

    def describe(self) -> str:
        return self.schema or f"{self.descriptor} ({self.type})"


@dataclass(frozen=True)
class LocalRead:
    data: Any
    type: str | None


class LocalDecoder:
    """A compiled ``DecoderSpec``: ``read(body)`` gives the JSON form or raises with the reason."""

    def __init__(self, spec: DecoderSpec) -> None:
        self.spec = spec
        self.file = Path(spec.schema or spec.descriptor).name
        self._matchers = [_matcher(p, spec.nats) for p in spec.patterns]
        if spec.format == "avro":
            self._avro = _load_avro(spec.schema)
        elif spec.format == "protobuf":
            self._message_class = _load_protobuf(spec.descriptor, spec.type)
        else:
            self._validator, self._title = _load_json_schema(spec.schema)

    def matches(self, name: str) -> bool:
        return any(m(name) for m in self._matchers)

    def read(self, body: bytes) -> LocalRead:
        if self.spec.format == "avro":
            return self._read_avro(body)
        if self.spec.format == "protobuf":
            return self._read_protobuf(body)
        return self._read_json(body)

    def _read_avro(self, body: bytes) -> LocalRead:
        return LocalRead(self._avro.read(body), self._avro.name)

    def _read_protobuf(self, body: bytes) -> LocalRead:
        from google.protobuf import json_format

        message = self._message_class()
        message.ParseFromString(body)
        if body and not message.ListFields():
            # Any bytes parse as unknown fields; none of them known means it is not this message.
            raise ValueError(f"none of its fields belong to {self.spec.type}")
        data = json_format.MessageToDict(message, preserving_proto_field_name=True)
        return LocalRead(data, self.spec.type)

    def _read_json(self, body: bytes) -> LocalRead:
        try:
            data = jsontext.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ValueError("is not JSON") from None
        errors = sorted(self._validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
        error = errors[0] if errors else None
        if error is not None:
            raise ValueError(f"does not match the JSON Schema at {_json_path(error.absolute_path)}: {error.message}")
        return LocalRead(data, self._title)


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _matcher(pattern: str, nats: bool) -> Any:
    if not nats:
        return re.compile(fnmatch.translate(pattern)).match
    parts = pattern.split(".")
    regex = []
    for i, part in enumerate(parts):
        if part == ">" and i == len(parts) - 1:
            regex.append(r"[^.]+(?:\.[^.]+)*")
        elif part == "*":
            regex.append(r"[^.]+")
        else:
            regex.append(re.escape(part))
    return re.compile(r"\.".join(regex) + r"\Z").match


def _read_bytes(path: str, what: str) -> bytes:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_SCHEMA_BYTES:
            raise DecoderError(f"{what} {path} is larger than {MAX_SCHEMA_BYTES // (1024 * 1024)} MiB")
        return file.read_bytes()
    except OSError as exc:
        raise DecoderError(f"cannot read {what} {path}: {exc.strerror}") from None


def _load_json(path: str, what: str) -> Any:
    raw = _read_bytes(path, what)
    try:
        return jsontext.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecoderError(f"{what} {path} is not JSON: {str(exc)[:200]}") from None


def _load_avro(path: str) -> AvroReader:
    import json

    schema = _load_json(path, "Avro schema")
    try:
        return avro_reader(json.dumps(schema))
    except Exception as exc:  # noqa: BLE001 - fastavro raises several kinds for a bad schema
        raise DecoderError(f"Avro schema {path} is not valid: {str(exc)[:200] or type(exc).__name__}") from None


def _load_json_schema(path: str) -> tuple[Any, str | None]:
    from jsonschema import exceptions, validators

    schema = _load_json(path, "JSON Schema")
    if not isinstance(schema, (dict, bool)):
        raise DecoderError(f"JSON Schema {path} must be an object")
    cls = validators.validator_for(schema) if isinstance(schema, dict) else validators.Draft202012Validator
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        raise DecoderError(f"JSON Schema {path} is not valid: {exc.message[:200]}") from None
    title = schema.get("title") if isinstance(schema, dict) else None
    return cls(schema), str(title) if title else None


def _load_protobuf(path: str, type_name: str) -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf.message import DecodeError

    raw = _read_bytes(path, "descriptor set")
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(raw)
    except DecodeError:
        raise DecoderError(f"descriptor set {path} is not a FileDescriptorSet (protoc --descriptor_set_out)") from None
    if not files.file:
        raise DecoderError(f"descriptor set {path} holds no files")
    pool = descriptor_pool.DescriptorPool()
    pending = {f.name: f for f in files.file}
    added: set[str] = set()
    # Dependencies first, whatever order the set lists them in; the well-known types come built in.
    while pending:
        ready = [f for f in pending.values() if all(d in added or d not in pending for d in f.dependency)]
        if not ready:
            raise DecoderError(f"descriptor set {path}: its files depend on each other in a cycle")
        for proto in ready:
            try:
                _add_with_well_known(pool, proto, added)
            except Exception as exc:  # noqa: BLE001 - the pool's errors are TypeError or its own Error
                raise DecoderError(f"descriptor set {path}: {proto.name}: {str(exc)[:200]}") from None
            added.add(proto.name)
            del pending[proto.name]
    try:
        desc = pool.FindMessageTypeByName(type_name)
    except KeyError:
        names = sorted(m.full_name for f in files.file for m in _messages(pool, f.name))
        raise DecoderError(
            f"descriptor set {path} has no message type {type_name!r} (it has: {', '.join(names[:20]) or 'none'})"
        ) from None
    return message_factory.GetMessageClass(desc)


def _add_with_well_known(pool: Any, proto: Any, added: set[str]) -> None:
    """Adds ``proto``; a dependency missing from the set is taken from the runtime's well-known types."""
    # Imported for their side effect: the well-known types join the default pool.
    from google.protobuf import (  # noqa: F401
        any_pb2,
        descriptor_pb2,
        descriptor_pool,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    )

    for dependency in proto.dependency:
        if dependency in added:
            continue
        try:
            known = descriptor_pool.Default().FindFileByName(dependency)
        except KeyError:
            raise DecoderError(
                f"imports {dependency}, which the set does not hold (protoc --include_imports)"
            ) from None
        copy = descriptor_pb2.FileDescriptorProto()
        known.CopyToProto(copy)
        _add_with_well_known(pool, copy, added)
        added.add(dependency)
    pool.Add(proto)


def _messages(pool: Any, file_name: str) -> list[Any]:
    try:
        return list(pool.FindFileByName(file_name).message_types_by_name.values())
    except KeyError:
        return []


# ---- definitions ---------------------------------------------------------------------------

_compiled: dict[DecoderSpec, LocalDecoder] = {}
_compiled_lock = threading.Lock()


def compiled(spec: DecoderSpec) -> LocalDecoder:
    """The spec's decoder, compiled once per process (its files are read then)."""
    with _compiled_lock:
        hit = _compiled.get(spec)
    if hit is not None:
        return hit
    decoder = LocalDecoder(spec)
    with _compiled_lock:
        _compiled[spec] = decoder
    return decoder


def parse_decoders(raw: Any, *, kind: str, base: Path | None) -> tuple[DecoderSpec, ...]:
    """The ``decoders`` list of one cluster, checked and compiled; raises ``DecoderError`` with the reason.

    ``base``: relative schema paths are read from this folder (the clusters file's own).
    """
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise DecoderError("decoders must be a list of tables {topics|subjects, part, format, schema, ...}")
    names = "topics" if kind == "kafka" else "subjects"
    other = "subjects" if kind == "kafka" else "topics"
    specs: list[DecoderSpec] = []
    for index, item in enumerate(raw):
        where = f"decoders[{index}]"
        unknown = set(item) - KEYS
        if unknown:
            raise DecoderError(f"{where}: unknown keys {sorted(unknown)}")
        if other in item:
            raise DecoderError(f"{where}: a {kind} cluster's decoders name {names}, not {other}")
        patterns = item.get(names)
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise DecoderError(f"{where}: {names} must be a list of name patterns")
        part = item.get("part", "value")
        if part not in PARTS:
            raise DecoderError(f"{where}: part must be key or value")
        fmt = item.get("format")
        if fmt not in FORMATS:
            raise DecoderError(f"{where}: format must be one of {', '.join(FORMATS)}")
        if kind == "nats" and part == "key":
            raise DecoderError(f"{where}: NATS messages have no key")
        if fmt == "protobuf":
            type_name = item.get("type")
            if not isinstance(type_name, str) or not type_name:
                raise DecoderError(f"{where}: protobuf needs type = the message's full name (pkg.Message)")
            descriptor = _file(item, "descriptor", where, base)
            spec = DecoderSpec(tuple(patterns), kind == "nats", part, fmt, descriptor=descriptor, type=type_name)
        else:
            spec = DecoderSpec(tuple(patterns), kind == "nats", part, fmt, schema=_file(item, "schema", where, base))
        try:
            compiled(spec)
        except DecoderError as exc:
            raise DecoderError(f"{where}: {exc}") from None
        specs.append(spec)
    return tuple(specs)


def _file(item: dict[str, Any], key: str, where: str, base: Path | None) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise DecoderError(f"{where}: {item.get('format')} needs {key} = a file path")
    path = Path(value)
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


def load_decoders_file(path: str, *, kind: str) -> tuple[DecoderSpec, ...]:
    """``decoders`` for a default cluster from their own TOML or JSON file (``KAFKA_DECODERS`` / ``NATS_DECODERS``)."""
    import tomllib

    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DecoderError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = jsontext.loads(raw) if file.suffix == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecoderError(f"{path} is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise DecoderError(f"{path} needs a list named 'decoders'")
    return parse_decoders(data.get("decoders", []), kind=kind, base=file.resolve().parent)


_matches: dict[tuple[tuple[DecoderSpec, ...], str, str], LocalDecoder | None] = {}


def decoder_for(specs: tuple[DecoderSpec, ...], name: str, part: str) -> LocalDecoder | None:
    """The first decoder whose patterns take ``name`` for ``part`` (remembered per name)."""
    if not specs:
        return None
    key = (specs, name, part)
    try:
        return _matches[key]
    except KeyError:
        pass
    found = None
    for spec in specs:
        if spec.part != part:
            continue
        decoder = compiled(spec)
        if decoder.matches(name):
            found = decoder
            break
    if len(_matches) >= _MATCH_CACHE_ENTRIES:
        _matches.clear()
    _matches[key] = found
    return found


def bound_to(specs: tuple[DecoderSpec, ...], name: str) -> list[dict[str, Any]]:
    """The local decoders that read ``name``'s key and value: ``[{"part", "format", "file", "type"}]``."""
    out = []
    for part in PARTS:
        found = decoder_for(specs, name, part)
        if found is not None:
            out.append({"part": part, "format": found.spec.format, "file": found.file, "type": found.spec.type or None})
    return out


class _Reader:
    """What the cluster definitions read their ``decoders`` with (``streams.clusters.provide_decoders``)."""

    def parse(self, raw: Any, *, kind: str, base: Path | None) -> tuple[DecoderSpec, ...]:
        return parse_decoders(raw, kind=kind, base=base)

    def load_file(self, path: str, *, kind: str) -> tuple[DecoderSpec, ...]:
        return load_decoders_file(path, kind=kind)


clusters.provide_decoders(_Reader())
