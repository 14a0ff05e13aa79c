"""Whether a value fits a registry subject: the managed consumers' ``validate`` handler by schema.

A value fits when it is in the Confluent wire format, its schema id is a version of the subject,
and its body decodes with that schema (a JSON Schema's data is checked against it too). Blocking:
called on a consumer's thread.
"""

from __future__ import annotations

from typing import Any

from streams.schemas.decode import HEADER, MAGIC, decode
from streams.schemas.references import json_schema_resources
from streams.schemas.registry import RegistryUnavailable, registry_for


class SchemaMismatch(Exception):
    """The value does not fit the subject: a poison message, for the dead-letter destination."""


def check_registered(cluster_slug: str, subject: str, name: str, raw: bytes | None) -> None:
    """Raises ``SchemaMismatch`` (or ``UnknownSchema``) when ``raw`` does not fit ``subject``;
    ``RegistryUnavailable`` when the registry cannot say (the message is not at fault)."""
    from streams import adapters

    cluster = adapters.get_config(cluster_slug)
    reg = registry_for(cluster)
    if reg is None:
        raise RegistryUnavailable(f"cluster {cluster_slug!r} names no schema registry to validate against")
    if not raw or raw[0] != MAGIC or len(raw) < HEADER:
        raise SchemaMismatch("the value is not in the schema registry's wire format (magic byte 0, schema id)")
    schema_id = int.from_bytes(raw[1:HEADER], "big")
    schema = reg.schema_by_id(schema_id)
    if not reg.holds(subject, schema_id):
        raise SchemaMismatch(f"the value's schema id {schema_id} is not a version of {subject}")
    result = decode(cluster, name, "value", raw)
    if result.decoded is None or result.decoded.schema_id != schema_id:
        raise SchemaMismatch(f"the value {result.error or f'does not decode with schema id {schema_id}'}")
    if schema.type == "JSON":
        _check_json_schema(schema.schema, result.decoded.data, schema_id, json_schema_resources(reg, schema))


def _check_json_schema(text: str, data: Any, schema_id: int, resources: list[tuple[str, Any]]) -> None:
    from jsonschema import validators

    from streams import jsontext
    from streams.schemas.encode import json_schema_documents

    try:
        document = jsontext.loads(text)
        cls = validators.validator_for(document)
        error = next(iter(cls(document, registry=json_schema_documents(resources)).iter_errors(data)), None)
    except Exception as exc:  # noqa: BLE001 - a registered schema the validator cannot use
        raise SchemaMismatch(f"schema id {schema_id} is not a JSON Schema this console can check: {exc}") from None
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise SchemaMismatch(
            f"the value does not fit schema id {schema_id}{' at ' + where if where else ''}: {error.message}"
        )
