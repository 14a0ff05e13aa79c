"""The server's JSON (JetStream API, monitoring endpoints, stored messages) -> Streamdesk's neutral types.

None of these trust a field to be there or to have the documented type.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from streams.nats.durations import seconds
from streams.nats.types import ConsumerSummary, StoredMessage, StreamDetail, StreamSummary
from streams.payloads import DISPLAY_LIMIT, Payload, header_pairs

# Headers the server adds to a direct-get reply; they describe the message, they are not its headers.
DIRECT_GET_META = frozenset(
    {
        "nats-stream",
        "nats-subject",
        "nats-sequence",
        "nats-time-stamp",
        "nats-num-pending",
        "nats-last-sequence",
        "nats-upto-sequence",
    }
)


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from the server (nanoseconds allowed); Go's zero time means "never"."""
    if not value or not isinstance(value, str) or value.startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """The form the JetStream API accepts for times (UTC, ``Z``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """``"2.11.0-RC.1"`` -> (2, 11, 0); None when unreadable."""
    if not text:
        return None
    core = str(text).lstrip("v").split("-", 1)[0].split("+", 1)[0]
    parts = core.split(".")
    try:
        numbers = [int(p) for p in parts[:3]]
    except ValueError:
        return None
    while len(numbers) < 3:
        numbers.append(0)
    return numbers[0], numbers[1], numbers[2]


def at_least(version: str | None, wanted: tuple[int, int, int]) -> bool:
    parsed = parse_version(version)
    return parsed is not None and parsed >= wanted


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(str(v) for v in value if v)
    return ()


# -- streams --------------------------------------------------------------------------


def stream_summary_from(info: dict[str, Any]) -> StreamSummary:
    config = as_dict(info.get("config"))
    state = as_dict(info.get("state"))
    mirror = as_dict(config.get("mirror")).get("name")
    sources = tuple(str(as_dict(s).get("name", "")) for s in config.get("sources") or [] if isinstance(s, dict))
    return StreamSummary(
        name=str(config.get("name", "")),
        subjects=_strings(config.get("subjects")),
        messages=as_int(state.get("messages")),
        bytes=as_int(state.get("bytes")),
        consumers=as_int(state.get("consumer_count")),
        first_seq=as_int(state.get("first_seq")),
        last_seq=as_int(state.get("last_seq")),
        num_subjects=as_int(state.get("num_subjects")),
        storage=str(config.get("storage", "")),
        retention=str(config.get("retention", "")),
        replicas=as_int(config.get("num_replicas"), 1),
        description=str(config.get("description") or ""),
        allow_direct=bool(config.get("allow_direct")),
        sealed=bool(config.get("sealed")),
        mirror=str(mirror) if mirror else None,
        sources=sources,
        created=parse_time(info.get("created")),
        last_ts=parse_time(state.get("last_ts")),
    )


def stream_detail_from(info: dict[str, Any], subjects: dict[str, int], subjects_total: int) -> StreamDetail:
    state = {k: v for k, v in as_dict(info.get("state")).items() if k not in ("subjects", "deleted")}
    return StreamDetail(
        summary=stream_summary_from(info),
        config=as_dict(info.get("config")),
        state=state,
        subjects=subjects,
        subjects_total=subjects_total,
        cluster=as_dict(info.get("cluster")) or None,
    )


# -- consumers ------------------------------------------------------------------------


def consumer_summary_from(info: dict[str, Any]) -> ConsumerSummary:
    config = as_dict(info.get("config"))
    delivered = as_dict(info.get("delivered"))
    ack_floor = as_dict(info.get("ack_floor"))
    paused = bool(info.get("paused"))
    filters = _strings(config.get("filter_subjects")) or _strings(config.get("filter_subject"))
    return ConsumerSummary(
        stream=str(info.get("stream_name", "")),
        name=str(info.get("name", "")),
        durable=bool(config.get("durable_name")),
        description=str(config.get("description") or ""),
        filter_subjects=filters,
        ack_policy=str(config.get("ack_policy", "")),
        deliver_policy=str(config.get("deliver_policy", "")),
        push=bool(config.get("deliver_subject")),
        num_pending=as_int(info.get("num_pending")),
        num_ack_pending=as_int(info.get("num_ack_pending")),
        num_redelivered=as_int(info.get("num_redelivered")),
        num_waiting=as_int(info.get("num_waiting")),
        delivered_stream_seq=as_int(delivered.get("stream_seq")),
        delivered_consumer_seq=as_int(delivered.get("consumer_seq")),
        ack_floor_stream_seq=as_int(ack_floor.get("stream_seq")),
        ack_floor_consumer_seq=as_int(ack_floor.get("consumer_seq")),
        last_active=parse_time(delivered.get("last_active")),
        created=parse_time(info.get("created")),
        paused=paused,
        pause_until=parse_time(config.get("pause_until")) if paused else None,
        # nats-py declares this a str; the server sends integer nanoseconds.
        pause_remaining_s=seconds(info.get("pause_remaining")) if paused else None,
        config=config,
    )


# -- messages -------------------------------------------------------------------------


def parse_header_block(raw: bytes) -> list[tuple[str, bytes]]:
    """``NATS/1.0\\r\\nName: value\\r\\n...`` -> [(name, value)], keeping repeats and order."""
    if not raw:
        return []
    lines = raw.split(b"\r\n")
    pairs: list[tuple[str, bytes]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        pairs.append((name.decode("utf-8", "replace").strip(), value.strip()))
    return pairs


def stored_message_from_msg_get(message: dict[str, Any], limit: int | None = DISPLAY_LIMIT) -> StoredMessage:
    """From a ``$JS.API.STREAM.MSG.GET`` reply's ``message`` object (base64 data and headers)."""
    data = base64.b64decode(message.get("data") or "")
    raw_headers = base64.b64decode(message.get("hdrs") or "")
    headers = header_pairs(parse_header_block(raw_headers))
    return StoredMessage(
        seq=as_int(message.get("seq")),
        subject=str(message.get("subject", "")),
        time=parse_time(message.get("time")),
        headers=headers,
        value=Payload.of(data, limit),
    )


def stored_message_from_direct(
    headers: dict[str, str] | None, data: bytes, limit: int | None = DISPLAY_LIMIT
) -> StoredMessage:
    """From a ``$JS.API.DIRECT.GET`` reply: the message's facts come as ``Nats-*`` headers."""
    found = headers or {}
    meta = {str(k).lower(): v for k, v in found.items() if str(k).lower() in DIRECT_GET_META}
    own = header_pairs([(k, v) for k, v in found.items() if str(k).lower() not in DIRECT_GET_META])
    return StoredMessage(
        seq=as_int(meta.get("nats-sequence")),
        subject=str(meta.get("nats-subject", "")),
        time=parse_time(meta.get("nats-time-stamp")),
        headers=own,
        value=Payload.of(data, limit),
    )
