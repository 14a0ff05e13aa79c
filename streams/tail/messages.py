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
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from streams.clusters import ClusterConfig
from streams.masking import Rule, mask_headers, mask_payload, seen_bytes
from streams.payloads import Payload
from streams.schemas.decode import decode_payload, decoded_payload

TAIL_DISPLAY_LIMIT = 16 * 1024
HEADER_LIMIT = 4 * 1024
_TIMESTAMP_TYPES = {0: "none", 1: "create", 2: "log_append"}
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# JSONEncoder.encode builds a C encoder (and a circular-reference table) on every call; these
# messages are built here from bytes and decoded values, never circular, so one encoder serves all.
_c_encode = (
    c_make_encoder(None, _encoder.default, encode_basestring, None, ":", ",", False, False, True)
    if c_make_encoder is not None and encode_basestring is not None
    else None
)


def _encode(data: dict[str, Any]) -> str:
    if _c_encode is None:
        return _encoder.encode(data)
    return "".join(_c_encode(data, 0))


# What masking needs of a message: its key (None for NATS) and value as read and as shown, its headers.
Parts = tuple[bytes | None, Payload | None, bytes | None, Payload, list[tuple[str, Payload]]]


class Item:
    """One message as sent (``json``) and as filtered (``haystack``: key, value, header values);
    ``system``: on a core NATS subject only operators see in a tail (see ``spec.is_system_subject``).

    A message that masking rules cover also knows how it looks to someone without unmask:
    ``masked()`` works that out the first time a socket that masks asks, and every other such
    socket gets the same answer, so a message is masked once whatever the number of tabs."""

    __slots__ = ("_masked", "_parts", "haystack", "json", "rules", "size", "system")

    def __init__(
        self,
        data: dict[str, Any],
        haystack: tuple[bytes, ...],
        *,
        system: bool = False,
        rules: tuple[Rule, ...] = (),
        parts: Parts | None = None,
    ) -> None:
        self.json: str = _encode(data)
        self.haystack = haystack
        self.system = system
        # What holding it costs until the web loop has dispatched it: the raw bytes and the text.
        size = len(self.json)
        for part in haystack:
            size += len(part)
        self.size = size
        self.rules = rules
        self._parts = (data, parts) if rules and parts is not None else None
        self._masked: Item | None = None

    def masked(self) -> Item:
        """The message as someone without unmask sees it (itself when no rule covers it)."""
        if self._masked is not None:
            return self._masked
        if self._parts is None:
            return self
        data, (raw_key, key, raw_value, value, headers) = self._parts
        rules = self.rules
        shown = dict(data)
        found: list[bytes] = []
        masked_key = key
        if key is not None:
            masked_key = mask_payload(key, rules)
            shown["key"] = masked_key.as_api()
            found.append(seen_bytes(masked_key, raw_key) or b"")
        masked_value = mask_payload(value, rules)
        shown["value"] = masked_value.as_api()
        found.append(seen_bytes(masked_value, raw_value) or b"")
        masked_headers = mask_headers(headers, rules)
        shown["headers"] = [[name, p.as_api()] for name, p in masked_headers]
        found.extend(p.raw for _, p in masked_headers if p.raw)
        changed = masked_value.masked or any(p.masked for _, p in masked_headers)
        if masked_key is not None:
            changed = changed or masked_key.masked
        # Covered but nothing to hide (the fields are absent): the message as it is, not a copy.
        self._masked = Item(shown, tuple(found), system=self.system) if changed else self
        self._parts = None
        return self._masked


def _headers(
    pairs: Iterable[tuple[Any, Any]],
) -> tuple[list[list[Any]], list[bytes], bool, list[tuple[str, Payload]]]:
    shown: list[list[Any]] = []
    raw: list[bytes] = []
    payloads: list[tuple[str, Payload]] = []
    cut = False
    for name, value in pairs:
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        payload = Payload.of(value, HEADER_LIMIT)
        cut = cut or payload.truncated
        shown.append([str(name)[:256], payload.as_api()])
        payloads.append((str(name)[:256], payload))
        if value:
            raw.append(value)
    return shown, raw, cut, payloads


# Below this (2100-01-01) a millisecond stamp divided by 1000 is exact to the microsecond, so the text
# is the second's (cached) plus the milliseconds; beyond it the float may not be, and the full
# conversion runs as before.
_CACHED_BEFORE_MS = 4_102_444_800_000
_SECONDS_CACHED = 4096
_seconds: dict[int, str] = {}
# isoformat() leaves the fraction out when the microseconds are 0.
_FRACTIONS = ("", *(f".{ms:03d}000" for ms in range(1, 1000)))


def iso_from_ms(stamp_ms: int | None) -> str | None:
    if stamp_ms is None or stamp_ms < 0:
        return None
    if stamp_ms < _CACHED_BEFORE_MS and type(stamp_ms) is int:
        second, ms = divmod(stamp_ms, 1000)
        head = _seconds.get(second)
        if head is None:
            # Messages come in time order, a batch mostly within a second or two: one conversion each.
            head = datetime.fromtimestamp(second, tz=UTC).isoformat()[:-6]
            if len(_seconds) >= _SECONDS_CACHED:
                _seconds.clear()
            _seconds[second] = head
        return f"{head}{_FRACTIONS[ms]}+00:00"
    try:
        return datetime.fromtimestamp(stamp_ms / 1000, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def kafka_item(msg: Any, cluster: ClusterConfig | None = None, rules: tuple[Rule, ...] = ()) -> Item:
    """A confluent-kafka Message (no error) as an Item; keys and values decoded by schema when
    ``cluster`` names a registry or local decoders (blocking: call it on the consumer's thread);
    ``rules``: the masking rules covering the topic."""
    raw_key: bytes | None = msg.key()
    raw_value: bytes | None = msg.value()
    kind, stamp = msg.timestamp()
    if cluster is not None and cluster.decodes:
        topic = msg.topic() or ""
        key = decoded_payload(cluster, topic, "key", raw_key, TAIL_DISPLAY_LIMIT)
        value = decoded_payload(cluster, topic, "value", raw_value, TAIL_DISPLAY_LIMIT)
    else:
        key = Payload.of(raw_key, TAIL_DISPLAY_LIMIT)
        value = Payload.of(raw_value, TAIL_DISPLAY_LIMIT)
    pairs = msg.headers()
    if pairs:
        headers, header_values, headers_cut, header_pairs = _headers(pairs)
    else:
        headers, header_values, headers_cut, header_pairs = [], [], False, []
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
    parts: Parts = (raw_key, key, raw_value, value, header_pairs)
    return Item(data, (raw_key or b"", raw_value or b"", *header_values), rules=rules, parts=parts)


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
    cluster: ClusterConfig | None = None,
    rules: tuple[Rule, ...] = (),
) -> Item:
    """A NATS message as an Item: ``time`` is the stream's timestamp for JetStream and, since core
    NATS carries none, the moment the console received it for core subjects. The value is decoded
    by schema, bound by its subject, when ``cluster`` names a registry or local decoders; ``rules``:
    the masking rules covering its subject (or its stream)."""
    if stamp_ns is not None:
        moment = datetime.fromtimestamp(stamp_ns / 1e9, tz=UTC)
    else:
        moment = datetime.fromtimestamp(received if received is not None else 0, tz=UTC)
    value = Payload.of(data, TAIL_DISPLAY_LIMIT)
    if cluster is not None and cluster.decodes:
        value = decode_payload(cluster, subject, "value", value)
    shown, header_values, headers_cut, header_pairs = _headers((headers or {}).items())
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
    parts: Parts = (None, None, data, value, header_pairs)
    return Item(body, (data, *header_values), system=system, rules=rules, parts=parts)


def kv_item(
    bucket: str,
    subject: str,
    data: bytes,
    headers: dict[str, str] | None,
    *,
    seq: int,
    stamp_ns: int,
    rules: tuple[Rule, ...] = (),
) -> Item:
    """A Key-Value bucket's message as a watch item: the key, its revision (the stream sequence) and
    the operation its ``KV-Operation`` header names (a put has none). Filters search the key and value;
    ``rules``: the masking rules covering the bucket."""
    operation = "PUT"
    for name, header in (headers or {}).items():
        if name.lower() == "kv-operation":
            operation = str(header).strip().upper()[:16] or "PUT"
    key = subject.removeprefix(f"$KV.{bucket}.")
    value = Payload.of(data, TAIL_DISPLAY_LIMIT)
    shown, header_values, headers_cut, header_pairs = _headers((headers or {}).items())
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
    parts: Parts = (None, None, data, value, header_pairs)
    return Item(body, (key.encode("utf-8", "surrogateescape"), data, *header_values), rules=rules, parts=parts)
