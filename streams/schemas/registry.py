"""A Confluent-compatible Schema Registry client per Kafka cluster.

Every call has the broker deadline and no retries, so a registry that is down costs at most
one deadline: after a failure the registry is remembered as down for ``DOWN_SECONDS`` and
lookups fail at once. Schemas by id are immutable and cached (bounded); ids the registry
does not know are remembered for ``UNKNOWN_SECONDS``, so a payload that merely starts with
0x00 does not cost a round trip per message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from django.conf import settings

from streams.clusters import ClusterConfig

SCHEMA_CACHE_ENTRIES = 4096
UNKNOWN_SECONDS = 60.0
DOWN_SECONDS = 15.0


@dataclass(frozen=True)
class Reference:
    """One entry of a schema's ``references``: the name it is imported by, and the subject version holding it."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class RegistrySchema:
    id: int
    type: str  # "AVRO" | "PROTOBUF" | "JSON"
    schema: str
    subject: str | None = None
    version: int | None = None
    references: tuple[Reference, ...] = ()


def references_of(found: Any) -> tuple[Reference, ...]:
    """A client ``Schema``'s references as ours; entries without a name or a subject cannot be resolved."""
    out = []
    for ref in getattr(found, "references", None) or []:
        name, subject, version = (
            getattr(ref, "name", None),
            getattr(ref, "subject", None),
            getattr(ref, "version", None),
        )
        if isinstance(name, str) and name and isinstance(subject, str) and subject and isinstance(version, int):
            out.append(Reference(name=name, subject=subject, version=version))
    return tuple(out)


class RegistryUnavailable(Exception):
    """The registry did not answer within the deadline (or failed recently and is not asked again yet)."""


class UnknownSchema(Exception):
    """The registry has no schema with that id (or said so recently)."""


class Registry:
    def __init__(self, cluster: ClusterConfig) -> None:
        conf: dict[str, object] = {
            "url": cluster.schema_registry_url,
            "timeout": settings.BROKER_TIMEOUT_SECONDS,
            "max.retries": 0,
            "cache.capacity": SCHEMA_CACHE_ENTRIES,
        }
        if cluster.schema_registry_username:
            conf["basic.auth.user.info"] = f"{cluster.schema_registry_username}:{cluster.schema_registry_password}"
        if cluster.schema_registry_ca_file:
            conf["ssl.ca.location"] = cluster.schema_registry_ca_file
        self.client = SchemaRegistryClient(conf)
        self._lock = threading.Lock()
        self._by_id: dict[int, RegistrySchema] = {}
        self._unknown: dict[int, float] = {}
        self._reasons: dict[int, str] = {}  # why an id is remembered as unusable, where not simply unknown
        self._holders: dict[int, tuple[float, frozenset[str]]] = {}  # id -> (until, the subjects holding it)
        # Referenced schemas by (subject, version): a version's schema never changes, like an id's.
        self._by_version: dict[tuple[str, int], RegistrySchema] = {}
        self._unknown_versions: dict[tuple[str, int], tuple[float, str]] = {}
        self._down_until = 0.0
        self.lookups = 0  # round trips made for schemas by id; pages of one schema make one

    def _bad(self, schema_id: int, how: str) -> UnknownSchema:
        """Remembered like an unknown id: asking again per message would cost a round trip each."""
        message = f"the schema registry answered the request for schema id {schema_id} {how}"
        with self._lock:
            while len(self._unknown) >= SCHEMA_CACHE_ENTRIES:
                del self._unknown[next(iter(self._unknown))]
            self._unknown[schema_id] = time.monotonic() + UNKNOWN_SECONDS
            if len(self._reasons) >= SCHEMA_CACHE_ENTRIES:
                self._reasons.clear()
            self._reasons[schema_id] = message
        return UnknownSchema(message)

    def _check_up(self) -> None:
        if time.monotonic() < self._down_until:
            raise RegistryUnavailable("the schema registry did not answer recently; not asked again yet")

    def _check_up_or(self, error: type[Exception]) -> None:
        try:
            self._check_up()
        except RegistryUnavailable as exc:
            raise error(str(exc)) from None

    def _failed(self, exc: Exception) -> RegistryUnavailable:
        self._down_until = time.monotonic() + DOWN_SECONDS
        return RegistryUnavailable(f"the schema registry did not answer: {type(exc).__name__}")

    def answers_at_once(self, schema_id: int) -> bool:
        """Whether ``schema_by_id`` would answer without a round trip (known, known unknown, or down)."""
        now = time.monotonic()
        with self._lock:
            if schema_id in self._by_id:
                return True
            until = self._unknown.get(schema_id)
            if until is not None and until > now:
                return True
        return now < self._down_until

    def schema_by_id(self, schema_id: int) -> RegistrySchema:
        # Asked once per framed payload: a hit is one dict read, atomic without the lock.
        hit = self._by_id.get(schema_id)
        if hit is not None:
            return hit
        with self._lock:
            hit = self._by_id.get(schema_id)
            if hit is not None:
                return hit
            until = self._unknown.get(schema_id)
            if until is not None and until > time.monotonic():
                raise UnknownSchema(self._reasons.get(schema_id) or f"schema id {schema_id} is not in the registry")
        self._check_up()
        self.lookups += 1
        try:
            found = self.client.get_schema(schema_id)
            if (found.schema_type or "").upper() == "PROTOBUF" and not _is_base64(found.schema_str or ""):
                # Protobuf is read from descriptors: ask for the serialized form, not the .proto text.
                found = self.client.get_schema(schema_id, fmt="serialized")
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                with self._lock:
                    while len(self._unknown) >= SCHEMA_CACHE_ENTRIES:
                        del self._unknown[next(iter(self._unknown))]
                    self._unknown[schema_id] = time.monotonic() + UNKNOWN_SECONDS
                    self._reasons.pop(schema_id, None)
                raise UnknownSchema(f"schema id {schema_id} is not in the registry") from None
            raise self._failed(exc) from None
        except (TypeError, AttributeError, KeyError):
            # A 200 whose JSON is not a schema object (a list, a string): the registry is up but wrong.
            raise self._bad(schema_id, "with something that is not a schema object") from None
        except Exception as exc:  # noqa: BLE001 - transport errors, timeouts, bad JSON: all "down" to a page
            raise self._failed(exc) from None
        if not isinstance(found.schema_str, str) or not found.schema_str:
            raise self._bad(schema_id, "without the schema itself")
        subject, version = self._subject_of(schema_id)
        schema = RegistrySchema(
            id=schema_id,
            type=(found.schema_type or "AVRO").upper(),
            schema=found.schema_str or "",
            subject=subject,
            version=version,
            references=references_of(found),
        )
        with self._lock:
            while len(self._by_id) >= SCHEMA_CACHE_ENTRIES:
                del self._by_id[next(iter(self._by_id))]
            self._by_id[schema_id] = schema
        return schema

    def schema_by_version(self, subject: str, version: int) -> RegistrySchema:
        """A subject version, as a schema names it in its ``references`` (cached; unknown ones remembered a while)."""
        key = (subject, version)
        with self._lock:
            hit = self._by_version.get(key)
            if hit is not None:
                return hit
            bad = self._unknown_versions.get(key)
            if bad is not None and bad[0] > time.monotonic():
                raise UnknownSchema(bad[1])
        self._check_up()
        self.lookups += 1
        try:
            # Soft-deleted versions still resolve, as the serializers read them; Protobuf as descriptors.
            found = self.client.get_version(subject, version, True, "serialized")
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                said = exc.error_message or "not found"
                raise self._unknown_version(
                    key, f"subject {subject!r} version {version} is not in the registry ({said})"
                ) from None
            raise self._failed(exc) from None
        except (TypeError, AttributeError, KeyError):
            raise self._unknown_version(
                key, f"subject {subject!r} version {version} came back as something that is not a schema"
            ) from None
        except Exception as exc:  # noqa: BLE001 - transport errors, timeouts, bad JSON: all "down" to a page
            raise self._failed(exc) from None
        text = getattr(found.schema, "schema_str", None)
        if not isinstance(text, str) or not text:
            raise self._unknown_version(key, f"subject {subject!r} version {version} came without the schema itself")
        schema = RegistrySchema(
            id=found.schema_id if isinstance(found.schema_id, int) else -1,
            type=(found.schema.schema_type or "AVRO").upper(),
            schema=text,
            subject=subject,
            version=found.version if isinstance(found.version, int) else version,
            references=references_of(found.schema),
        )
        with self._lock:
            while len(self._by_version) >= SCHEMA_CACHE_ENTRIES:
                del self._by_version[next(iter(self._by_version))]
            self._by_version[key] = schema
        return schema

    def _unknown_version(self, key: tuple[str, int], message: str) -> UnknownSchema:
        with self._lock:
            while len(self._unknown_versions) >= SCHEMA_CACHE_ENTRIES:
                del self._unknown_versions[next(iter(self._unknown_versions))]
            self._unknown_versions[key] = (time.monotonic() + UNKNOWN_SECONDS, message)
        return UnknownSchema(message)

    def holds(self, subject: str, schema_id: int) -> bool:
        """Whether ``schema_id`` is a version of ``subject`` (the registry's answers kept for a while)."""
        now = time.monotonic()
        with self._lock:
            hit = self._holders.get(schema_id)
        if hit is None or hit[0] < now:
            self._check_up()
            try:
                pairs = self.client.get_schema_versions(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code != 404:
                    raise self._failed(exc) from None
                pairs = []
            except Exception as exc:  # noqa: BLE001 - transport errors and timeouts
                raise self._failed(exc) from None
            holders = frozenset(str(getattr(p, "subject", "")) for p in pairs or [])
            with self._lock:
                if len(self._holders) >= SCHEMA_CACHE_ENTRIES:
                    self._holders.clear()
                hit = self._holders[schema_id] = (now + UNKNOWN_SECONDS, holders)
        return subject in hit[1]

    def _subject_of(self, schema_id: int) -> tuple[str | None, int | None]:
        """The first subject/version that holds this id; a registry without the endpoint leaves them unknown."""
        try:
            pairs = self.client.get_schema_versions(schema_id)
        except Exception:  # noqa: BLE001 - the names are a courtesy; the schema decodes without them
            return None, None
        for pair in pairs or []:
            return getattr(pair, "subject", None), getattr(pair, "version", None)
        return None, None


def _is_base64(text: str) -> bool:
    import base64
    import binascii

    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class _Clients(dict[ClusterConfig, Registry]):
    """The registry clients by cluster definition, and the pair asked for last, found by the definition
    object itself: a definition's hash covers all of its fields, about a microsecond on every payload."""

    last: tuple[ClusterConfig, Registry] | None = None

    def clear(self) -> None:
        self.last = None
        super().clear()


_registries = _Clients()
_registries_lock = threading.Lock()


def registry_for(cluster: ClusterConfig) -> Registry | None:
    """The cluster's registry client (one per definition), or None when it names no registry."""
    if not cluster.schema_registry_url:
        return None
    last = _registries.last
    if last is not None and last[0] is cluster:
        return last[1]
    # Asked once per payload: a hit reads the dict without the lock (a single get is atomic).
    found = _registries.get(cluster)
    if found is None:
        with _registries_lock:
            found = _registries.get(cluster)
            if found is None:
                found = _registries[cluster] = Registry(cluster)
    _registries.last = (cluster, found)
    return found
