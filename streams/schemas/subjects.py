"""The Schema Registry's subjects: list, versions, compatibility checks and the operator's writes.

Calls go through the client's REST session (its deadline, auth and TLS) so that the
registry's own error codes and verbose compatibility messages reach the user unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from asgiref.sync import sync_to_async
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streams import audit
from streams.clusters import ClusterConfig
from streams.errors import BrokerError, Conflict, InvalidInput, NotFound, StreamdeskError
from streams.schemas.registry import Registry, registry_for

SCHEMA_REGISTER = "schema.register"
SCHEMA_CONFIG = "schema.config"
SCHEMA_DELETE = "schema.delete"

TYPES = ("AVRO", "PROTOBUF", "JSON")
COMPATIBILITY = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
MAX_SCHEMA_CHARS = 1_000_000
NO_REGISTRY = (
    "This cluster names no schema registry (schema_registry in the clusters file, or KAFKA_SCHEMA_REGISTRY_URL)."
)


class RegistryDown(StreamdeskError):
    status = 503


def require_registry(cluster: ClusterConfig) -> Registry:
    found = registry_for(cluster)
    if found is None:
        raise NotFound(NO_REGISTRY)
    return found


def _path(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


def _call(reg: Registry, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """One REST call within the deadline; registry errors become the console's typed errors."""
    reg._check_up_or(RegistryDown)
    rest = reg.client._rest_client
    try:
        if method == "GET":
            return rest.get(url)
        if method == "POST":
            return rest.post(url, body=body)
        if method == "PUT":
            return rest.put(url, body=body)
        return rest.delete(url)
    except SchemaRegistryError as exc:
        code = exc.error_code
        message = str(exc.error_message or exc)
        if exc.http_status_code == 404 or code in (40401, 40402, 40403):
            raise NotFound(message) from None
        if code == 409 or exc.http_status_code == 409:
            raise Conflict(message) from None
        if exc.http_status_code == 422 or code in (42201, 42202, 42203):
            raise InvalidInput(message, field="schema") from None
        if exc.http_status_code >= 500 or exc.http_status_code < 0:
            raise RegistryDown(str(reg._failed(exc))) from None
        raise BrokerError(message) from None
    except Exception as exc:  # noqa: BLE001 - transport errors and timeouts: the registry is down
        raise RegistryDown(str(reg._failed(exc))) from None


class BadAnswer(BrokerError):
    """The registry answered 200 with JSON of another shape than its API documents."""


def _object(found: Any, what: str) -> dict[str, Any]:
    if not isinstance(found, dict):
        raise BadAnswer(f"The schema registry answered {what} with {_shape(found)}, not an object.")
    return found


def _list_of(found: Any, kind: type, what: str) -> list[Any]:
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(i, kind) and not isinstance(i, bool) for i in found):
        raise BadAnswer(f"The schema registry answered {what} with {_shape(found)}, not a list of {kind.__name__}s.")
    return found


def _shape(found: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(found), "a number")


def _compatibility(reg: Registry, subject: str | None) -> str:
    url = f"config/{_path(subject)}?defaultToGlobal=true" if subject else "config"
    try:
        found = _call(reg, "GET", url)
    except NotFound:
        found = _call(reg, "GET", "config")
    found = _object(found, "a compatibility request")
    return str(found.get("compatibilityLevel") or found.get("compatibility") or "")


def _list(reg: Registry, q: str) -> list[str]:
    subjects = [str(s) for s in _list_of(_call(reg, "GET", "subjects"), str, "the list of subjects")]
    needle = q.lower()
    return sorted(s for s in subjects if needle in s.lower())


def _version(found: Any) -> dict[str, Any]:
    raw = _object(found, "a schema version request")
    if not isinstance(raw.get("schema"), str) or not isinstance(raw.get("version"), int):
        raise BadAnswer("The schema registry answered a schema version request without its schema and version.")
    return {
        "version": raw.get("version"),
        "id": raw.get("id"),
        "type": str(raw.get("schemaType") or "AVRO").upper(),
        "schema": raw.get("schema", ""),
        "references": raw.get("references") or [],
    }


def _summary(reg: Registry, subject: str, default: str) -> dict[str, Any]:
    latest = _version(_call(reg, "GET", f"subjects/{_path(subject)}/versions/latest"))
    try:
        own = _object(_call(reg, "GET", f"config/{_path(subject)}"), "a compatibility request")
        compatibility = str(own.get("compatibilityLevel") or default)
    except NotFound:
        compatibility = default
    return {
        "subject": subject,
        "type": latest["type"],
        "latest_version": latest["version"],
        "id": latest["id"],
        "compatibility": compatibility,
    }


async def list_subjects(
    cluster: ClusterConfig, q: str, page: int, page_size: int, visible: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """A page of the subjects matching ``q`` (of those ``visible`` says the user may see)."""
    reg = require_registry(cluster)

    def run() -> dict[str, Any]:
        names = [n for n in _list(reg, q) if visible is None or visible(n)]
        shown = names[(page - 1) * page_size : page * page_size]
        default = _compatibility(reg, None) if shown else ""
        return {"items": [_summary(reg, s, default) for s in shown], "total": len(names)}

    return await sync_to_async(run, thread_sensitive=False)()


async def subject_detail(cluster: ClusterConfig, subject: str) -> dict[str, Any]:
    reg = require_registry(cluster)

    def run() -> dict[str, Any]:
        numbers = _list_of(_call(reg, "GET", f"subjects/{_path(subject)}/versions"), int, "the list of versions")
        versions = [_version(_call(reg, "GET", f"subjects/{_path(subject)}/versions/{int(n)}")) for n in numbers]
        return {"subject": subject, "compatibility": _compatibility(reg, subject), "versions": versions}

    return await sync_to_async(run, thread_sensitive=False)()


# TopicNameStrategy, the serializers' default: a topic's key and value schemas live under these subjects.
PART_SUFFIXES = (("key", "-key"), ("value", "-value"))


def topic_of(subject: str) -> str | None:
    """The topic a subject belongs to by TopicNameStrategy (``<topic>-key`` / ``<topic>-value``), if so named."""
    for _, suffix in PART_SUFFIXES:
        if subject.endswith(suffix) and len(subject) > len(suffix):
            return subject[: -len(suffix)]
    return None


async def topic_subjects(cluster: ClusterConfig, topic: str) -> tuple[list[dict[str, Any]], str | None]:
    """The topic's key and value subjects that the registry holds, with their latest version; and a note
    instead when the registry cannot say (the topic page shows without them). ``[]`` without a registry."""
    reg = registry_for(cluster)
    if reg is None:
        return [], None

    def run() -> list[dict[str, Any]]:
        found = []
        for part, suffix in PART_SUFFIXES:
            subject = f"{topic}{suffix}"
            try:
                latest = _version(_call(reg, "GET", f"subjects/{_path(subject)}/versions/latest"))
            except NotFound:
                continue
            found.append({"subject": subject, "part": part, **{k: latest[k] for k in ("version", "id", "type")}})
        return found

    try:
        return await sync_to_async(run, thread_sensitive=False)(), None
    except StreamdeskError as exc:
        return [], f"The schema registry could not say which subjects this topic has: {exc}"


def schema_body(body: dict[str, Any]) -> dict[str, Any]:
    """The registry's request body from the console's ``{"schema", "type", "references"}``, checked."""
    text = body.get("schema")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("schema is required: the schema's text.", field="schema")
    if len(text) > MAX_SCHEMA_CHARS:
        raise InvalidInput(f"schema is longer than {MAX_SCHEMA_CHARS} characters.", field="schema")
    kind = str(body.get("type") or "AVRO").upper()
    if kind not in TYPES:
        raise InvalidInput(f"type must be one of {', '.join(TYPES)}.", field="type")
    if kind in ("AVRO", "JSON"):
        try:
            json.loads(text)
        except ValueError:
            raise InvalidInput(f"schema is not valid JSON, as a {kind} schema must be.", field="schema") from None
    references = body.get("references") or []
    if not isinstance(references, list) or not all(isinstance(r, dict) for r in references):
        raise InvalidInput("references must be a list of {name, subject, version}.", field="references")
    out: dict[str, Any] = {"schema": text, "schemaType": kind}
    if references:
        out["references"] = references
    return out


async def check(cluster: ClusterConfig, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    reg = require_registry(cluster)
    request = schema_body(body)

    def run() -> dict[str, Any]:
        try:
            found = _call(reg, "POST", f"compatibility/subjects/{_path(subject)}/versions/latest?verbose=true", request)
        except NotFound:
            # A subject without versions accepts any first schema.
            return {"compatible": True, "messages": []}
        found = _object(found, "a compatibility check")
        return {
            "compatible": bool(found.get("is_compatible")),
            "messages": [str(m) for m in found.get("messages") or []],
        }

    return await sync_to_async(run, thread_sensitive=False)()


async def do_register(actor: audit.Actor, cluster: ClusterConfig, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    """Registers after a compatibility check; an incompatible schema is a 409 with the registry's reasons."""
    reg = require_registry(cluster)
    request = schema_body(body)

    async def run() -> dict[str, Any]:
        verdict = await check(cluster, subject, body)
        if not verdict["compatible"]:
            reasons = "; ".join(verdict["messages"]) or "the registry gave no reason"
            raise Conflict(f"The schema is not compatible with {subject}'s latest version: {reasons}")

        def register() -> dict[str, Any]:
            found = _object(_call(reg, "POST", f"subjects/{_path(subject)}/versions", request), "a register")
            if not isinstance(found.get("id"), int):
                raise BadAnswer("The schema registry answered a register without the schema's id.")
            mine = _object(_call(reg, "POST", f"subjects/{_path(subject)}", request), "a schema lookup")
            return {"id": found["id"], "version": mine.get("version")}

        return await sync_to_async(register, thread_sensitive=False)()

    return await audit.perform(
        actor,
        SCHEMA_REGISTER,
        run,
        cluster=cluster.slug,
        target=subject,
        params={"type": request["schemaType"]},
        describe=lambda r: f"registered {subject} version {r['version']} (id {r['id']})",
    )


async def do_set_compatibility(actor: audit.Actor, cluster: ClusterConfig, subject: str, level: Any) -> dict[str, Any]:
    reg = require_registry(cluster)
    value = str(level or "").upper()
    if value not in COMPATIBILITY:
        raise InvalidInput(f"compatibility must be one of {', '.join(COMPATIBILITY)}.", field="compatibility")

    async def run() -> dict[str, Any]:
        found = await sync_to_async(_call, thread_sensitive=False)(
            reg, "PUT", f"config/{_path(subject)}", {"compatibility": value}
        )
        found = _object(found, "a compatibility change")
        return {"subject": subject, "compatibility": str(found.get("compatibility") or value)}

    return await audit.perform(
        actor, SCHEMA_CONFIG, run, cluster=cluster.slug, target=subject, params={"compatibility": value}
    )


async def do_delete_subject(actor: audit.Actor, cluster: ClusterConfig, subject: str, permanent: bool) -> list[int]:
    reg = require_registry(cluster)

    async def run() -> list[int]:
        url = f"subjects/{_path(subject)}" + ("?permanent=true" if permanent else "")
        found = await sync_to_async(_call, thread_sensitive=False)(reg, "DELETE", url)
        return [int(v) for v in _list_of(found, int, "a delete")]

    return await audit.perform(
        actor, SCHEMA_DELETE, run, cluster=cluster.slug, target=subject, params={"permanent": permanent}
    )
