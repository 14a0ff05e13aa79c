"""Kafka ACLs through the cluster's AdminClient: describe, create and delete.

An ACL is seven fields; a filter is the same seven where each may match anything.
Deleting by filter removes every ACL it matches, so a filter is only ever built
from fields given explicitly: ``"ANY"`` has to be written out, a missing field is
refused, never read as a wildcard.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from streams.errors import InvalidInput, NotSupported
from streams.kafka.client import error_of, gather_futures

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter

ANY = "ANY"
FIELDS = ("principal", "host", "operation", "permission", "resource_type", "name", "pattern")
# Kafka calls the cluster resource CLUSTER; librdkafka calls it BROKER.
RESOURCE_TYPES = {
    "TOPIC": ResourceType.TOPIC,
    "GROUP": ResourceType.GROUP,
    "CLUSTER": ResourceType.BROKER,
    "TRANSACTIONAL_ID": ResourceType.TRANSACTIONAL_ID,
}
RESOURCE_NAMES = {value: name for name, value in RESOURCE_TYPES.items()}
OPERATIONS = {op.name: op for op in AclOperation if op not in (AclOperation.UNKNOWN, AclOperation.ANY)}
PERMISSIONS = {"ALLOW": AclPermissionType.ALLOW, "DENY": AclPermissionType.DENY}
PATTERNS = {"LITERAL": ResourcePatternType.LITERAL, "PREFIXED": ResourcePatternType.PREFIXED}
MAX_TEXT = 1000

NO_AUTHORIZER = "ACLs are not available on this cluster: it has no authorizer (SECURITY_DISABLED)."


@dataclass(frozen=True)
class Acl:
    principal: str
    host: str
    operation: str
    permission: str
    resource_type: str
    name: str
    pattern: str

    def as_api(self) -> dict[str, str]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"{self.permission} {self.principal} from {self.host} {self.operation} "
            f"on {self.resource_type} {self.name} ({self.pattern})"
        )


@dataclass(frozen=True)
class AclFilter:
    """Each field None matches anything."""

    principal: str | None = None
    host: str | None = None
    operation: str | None = None
    permission: str | None = None
    resource_type: str | None = None
    name: str | None = None
    pattern: str | None = None

    def as_params(self) -> dict[str, str]:
        return {k: ANY if v is None else v for k, v in asdict(self).items()}


def _text(fields: Mapping[str, Any], name: str, *, required: bool, wildcard: bool) -> str | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        if required:
            raise InvalidInput(f"{name} is required{' (write ANY to match any)' if wildcard else ''}.", field=name)
        return None
    if not isinstance(raw, str) or len(raw) > MAX_TEXT:
        raise InvalidInput(f"{name} must be text of at most {MAX_TEXT} characters.", field=name)
    value = raw.strip()
    if wildcard and value.upper() == ANY:
        return None
    if not value:
        raise InvalidInput(f"{name} must not be blank.", field=name)
    return value


def _choice(
    fields: Mapping[str, Any], name: str, choices: Mapping[str, Any], *, required: bool, wildcard: bool
) -> str | None:
    value = _text(fields, name, required=required, wildcard=wildcard)
    if value is None:
        return None
    upper = value.upper()
    if name == "resource_type" and upper == "BROKER":
        upper = "CLUSTER"
    if upper not in choices:
        extra = f", {ANY}" if wildcard else ""
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}{extra}.", field=name)
    return upper


def acl_from(fields: Mapping[str, Any]) -> Acl:
    """One ACL to create: every field, none a wildcard."""
    principal = _text(fields, "principal", required=True, wildcard=False)
    assert principal is not None
    if ":" not in principal:
        raise InvalidInput("principal must name its type, e.g. User:alice.", field="principal")
    host = _text(fields, "host", required=True, wildcard=False)
    assert host is not None
    values = {
        "operation": _choice(fields, "operation", OPERATIONS, required=True, wildcard=False),
        "permission": _choice(fields, "permission", PERMISSIONS, required=True, wildcard=False),
        "resource_type": _choice(fields, "resource_type", RESOURCE_TYPES, required=True, wildcard=False),
        "name": _text(fields, "name", required=True, wildcard=False),
        "pattern": _choice(fields, "pattern", PATTERNS, required=True, wildcard=False),
    }
    return Acl(principal=principal, host=host, **values)  # type: ignore[arg-type]


def filter_from(fields: Mapping[str, Any], *, explicit: bool) -> AclFilter:
    """A filter; with ``explicit`` (deletes) every field must be present, ``ANY`` written out."""
    return AclFilter(
        principal=_text(fields, "principal", required=explicit, wildcard=True),
        host=_text(fields, "host", required=explicit, wildcard=True),
        operation=_choice(fields, "operation", OPERATIONS, required=explicit, wildcard=True),
        permission=_choice(fields, "permission", PERMISSIONS, required=explicit, wildcard=True),
        resource_type=_choice(fields, "resource_type", RESOURCE_TYPES, required=explicit, wildcard=True),
        name=_text(fields, "name", required=explicit, wildcard=True),
        pattern=_choice(fields, "pattern", PATTERNS, required=explicit, wildcard=True),
    )


def _binding(acl: Acl) -> AclBinding:
    return AclBinding(
        RESOURCE_TYPES[acl.resource_type],
        acl.name,
        PATTERNS[acl.pattern],
        acl.principal,
        acl.host,
        OPERATIONS[acl.operation],
        PERMISSIONS[acl.permission],
    )


def _binding_filter(f: AclFilter) -> AclBindingFilter:
    # None matches any name, principal or host (confluent-kafka's annotations say str only).
    name: Any = f.name
    principal: Any = f.principal
    host: Any = f.host
    return AclBindingFilter(
        RESOURCE_TYPES[f.resource_type] if f.resource_type else ResourceType.ANY,
        name,
        # MATCH would also return prefixed ACLs that cover a literal name: a filter here matches the ACL as written.
        PATTERNS[f.pattern] if f.pattern else ResourcePatternType.ANY,
        principal,
        host,
        OPERATIONS[f.operation] if f.operation else AclOperation.ANY,
        PERMISSIONS[f.permission] if f.permission else AclPermissionType.ANY,
    )


def _acl_of(binding: Any) -> Acl:
    restype = RESOURCE_NAMES.get(binding.restype, getattr(binding.restype, "name", str(binding.restype)))
    return Acl(
        principal=str(binding.principal),
        host=str(binding.host),
        operation=getattr(binding.operation, "name", str(binding.operation)),
        permission=getattr(binding.permission_type, "name", str(binding.permission_type)),
        resource_type=restype,
        name=str(binding.name),
        pattern=getattr(binding.resource_pattern_type, "name", str(binding.resource_pattern_type)),
    )


def _sorted(acls: list[Acl]) -> list[Acl]:
    return sorted(
        acls, key=lambda a: (a.resource_type, a.name, a.pattern, a.principal, a.operation, a.permission, a.host)
    )


def _no_authorizer(exc: KafkaException) -> Exception:
    err = error_of(exc)
    if err is not None and err.code() == KafkaError.SECURITY_DISABLED:
        return NotSupported(NO_AUTHORIZER)
    return exc


async def require_authorizer(adapter: KafkaAdapter) -> None:
    """Refuse (501) on a cluster that reports no authorizer, before any ACL request is sent.

    Kafka without an authorizer answers the ACL requests SECURITY_DISABLED. Brokers
    that only mimic the protocol may answer DescribeAcls with nothing and CreateAcls
    with a reply librdkafka cannot parse (and aborts on): such a broker reports no
    authorized operations in DescribeCluster, where any authorizer reports a set.
    """

    async def load() -> bool:
        def run() -> bool:
            future = adapter.admin.describe_cluster(include_authorized_operations=True, request_timeout=adapter.timeout)
            return future.result(timeout=adapter.timeout + 0.2).authorized_operations is not None

        return await adapter.call(run, what="describe cluster")

    if not await adapter.cache.get_or_load(("acl-authorizer",), adapter.ttl, load):
        raise NotSupported(NO_AUTHORIZER)


async def list_acls(adapter: KafkaAdapter, acl_filter: AclFilter) -> list[Acl]:
    def run() -> list[Acl]:
        future = adapter.admin.describe_acls(_binding_filter(acl_filter), request_timeout=adapter.timeout)
        try:
            answer = future.result(timeout=adapter.timeout + 0.2)
        except KafkaException as exc:
            raise _no_authorizer(exc) from exc
        return _sorted([_acl_of(b) for b in answer or ()])

    await require_authorizer(adapter)
    return await adapter.call(run, what="describe ACLs")


async def create_acl(adapter: KafkaAdapter, acl: Acl) -> None:
    def run() -> None:
        futures = adapter.admin.create_acls([_binding(acl)], request_timeout=adapter.timeout)
        _, failures = gather_futures(futures, time.monotonic() + adapter.timeout)
        for exc in failures.values():
            if isinstance(exc, KafkaException):
                raise _no_authorizer(exc)
            raise exc

    await require_authorizer(adapter)
    await adapter.call(adapter._writing(run, "create ACL"), what="create ACL")


async def delete_acls(adapter: KafkaAdapter, acl_filter: AclFilter) -> list[Acl]:
    def run() -> list[Acl]:
        futures = adapter.admin.delete_acls([_binding_filter(acl_filter)], request_timeout=adapter.timeout)
        results, failures = gather_futures(futures, time.monotonic() + adapter.timeout)
        for exc in failures.values():
            if isinstance(exc, KafkaException):
                raise _no_authorizer(exc)
            raise exc
        return _sorted([_acl_of(b) for deleted in results.values() for b in deleted or ()])

    await require_authorizer(adapter)
    return await adapter.call(run, what="delete ACLs")
