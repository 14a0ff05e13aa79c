"""Broker records -> the contract's message objects, encoded once per upstream.

An ``Item`` carries the JSON text of one message (shared by every socket it goes to,
so a message is encoded once whatever the number of tabs) and the raw bytes the
filter searches. Bodies, keys and header values are cut at ``TAIL_DISPLAY_LIMIT``
here, on the server; the page links to the message browser for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from streams.clusters import ClusterConfig
from streams.payloads import Payload
from streams.schemas.decode import decode_payload

TAIL_DISPLAY_LIMIT = 16 * 1024
HEADER_LIMIT = 4 * 1024
_TIMESTAMP_TYPES = {0: "none", 1: "create", 2: "log_append"}
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Item:
    """One message as sent (``json``) and as filtered (``haystack``: key, value, header values);
    ``system``: on a core NATS subject only operators see in a tail (see ``spec.is_system_subject``)."""

    __slots__ = ("haystack", "json", "size", "system")

    def __init__(self, data: dict[str, Any], haystack: tuple[bytes, ...], *, system: bool = False) -> None:
        self.json: str = _encode(data)
        self.haystack = haystack
        self.system = system
        # What holding it costs until the web loop has dispatched it: the raw bytes and the text.
        self.size = len(self.json) + sum(len(part) for part in haystack)


def _headers(pairs: Iterable[tuple[Any, Any]]) -> tuple[list[list[Any]], list[bytes], bool]:
    shown: list[list[Any]] = []
    raw: list[bytes] = []
    cut = False
    for name, value in pairs:
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        payload = Payload.of(value, HEADER_LIMIT)
        cut = cut or payload.truncated
        shown.append([str(name)[:256], payload.as_api()])
        if value:
            raw.append(value)
    return shown, raw, cut


def iso_from_ms(stamp_ms: int | None) -> str | None:
    if stamp_ms is None or stamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(stamp_ms / 1000, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def kafka_item(msg: Any, cluster: ClusterConfig | None = None) -> Item:
    """A confluent-kafka Message (no error) as an Item; keys and values decoded by schema when
    ``cluster`` names a registry (blocking: call it on the consumer's thread)."""
    raw_key: bytes | None = msg.key()
    raw_value: bytes | None = msg.value()
    kind, stamp = msg.timestamp()
    key = Payload.of(raw_key, TAIL_DISPLAY_LIMIT)
    value = Payload.of(raw_value, TAIL_DISPLAY_LIMIT)
    if cluster is not None and cluster.schema_registry_url:
        topic = msg.topic() or ""
        key = decode_payload(cluster, topic, "key", key)
        value = decode_payload(cluster, topic, "value", value)
    headers, header_values, headers_cut = _headers(msg.headers() or ())
    data = {
        "partition": msg.partition(),
        "offset": msg.offset(),
        "timestamp": iso_from_ms(stamp) if kind else None,
        "timestamp_type": _TIMESTAMP_TYPES.get(kind, "none"),
        "key": key.as_api(),
        "key_size": key.size,
        "headers": headers,
        "value": value.as_api(),
        "size": value.size,
        "truncated": key.truncated or value.truncated or headers_cut,
    }
    return Item(data, (raw_key or b"", raw_value or b"", *header_values))


def nats_item(
    subject: str,
    data: bytes,
    headers: dict[str, str] | None,
    *,
    reply: str | None,
    seq: int | None,
    received: float | None = None,
    stamp_ns: int | None = None,
    system: bool = False,
) -> Item:
    """A NATS message as an Item: ``time`` is the stream's timestamp for JetStream and, since core
    NATS carries none, the moment the console received it for core subjects."""
    if stamp_ns is not None:
        moment = datetime.fromtimestamp(stamp_ns / 1e9, tz=UTC)
    else:
        moment = datetime.fromtimestamp(received if received is not None else 0, tz=UTC)
    value = Payload.of(data, TAIL_DISPLAY_LIMIT)
    shown, header_values, headers_cut = _headers((headers or {}).items())
    body = {
        "subject": subject,
        "seq": seq,
        "time": moment.isoformat(),
        "headers": shown,
        "value": value.as_api(),
        "size": value.size,
        "reply": reply or None,
        "truncated": value.truncated or headers_cut,
    }
    return Item(body, (data, *header_values), system=system)


def kv_item(bucket: str, subject: str, data: bytes, headers: dict[str, str] | None, *, seq: int, stamp_ns: int) -> Item:
    """A Key-Value bucket's message as a watch item: the key, its revision (the stream sequence) and
    the operation its ``KV-Operation`` header names (a put has none). Filters search the key and value."""
    operation = "PUT"
    for name, header in (headers or {}).items():
        if name.lower() == "kv-operation":
            operation = str(header).strip().upper()[:16] or "PUT"
    key = subject.removeprefix(f"$KV.{bucket}.")
    value = Payload.of(data, TAIL_DISPLAY_LIMIT)
    shown, header_values, headers_cut = _headers((headers or {}).items())
    body = {
        "key": key,
        "revision": seq,
        "operation": operation,
        "created": datetime.fromtimestamp(stamp_ns / 1e9, tz=UTC).isoformat(),
        "value": value.as_api(),
        "size": value.size,
        "headers": shown,
        "truncated": value.truncated or headers_cut,
    }
    return Item(body, (key.encode("utf-8", "surrogateescape"), data, *header_values))
