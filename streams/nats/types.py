"""Neutral shapes for NATS and JetStream: small frozen dataclasses that both the pages and the JSON API render.

``streams.nats.convert`` builds them from the server's own JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.nats.durations import MAX_DURATION, humanize
from streams.payloads import Payload, headers_api

# -- streams --------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamSummary:
    name: str
    subjects: tuple[str, ...]
    messages: int
    bytes: int
    consumers: int
    first_seq: int
    last_seq: int
    num_subjects: int
    storage: str
    retention: str
    replicas: int
    description: str
    allow_direct: bool
    sealed: bool
    mirror: str | None
    sources: tuple[str, ...]
    created: datetime | None
    last_ts: datetime | None

    def as_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subjects": list(self.subjects),
            "messages": self.messages,
            "bytes": self.bytes,
            "consumers": self.consumers,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "num_subjects": self.num_subjects,
            "storage": self.storage,
            "retention": self.retention,
            "replicas": self.replicas,
            "description": self.description,
            "allow_direct": self.allow_direct,
            "sealed": self.sealed,
            "mirror": self.mirror,
            "sources": list(self.sources),
            "created": self.created,
            "last_ts": self.last_ts,
        }


@dataclass(frozen=True)
class StreamDetail:
    summary: StreamSummary
    config: dict[str, Any]
    state: dict[str, Any]
    subjects: dict[str, int]
    subjects_total: int
    cluster: dict[str, Any] | None

    @property
    def subjects_truncated(self) -> bool:
        return self.subjects_total > len(self.subjects)

    def as_api(self) -> dict[str, Any]:
        return {
            **self.summary.as_api(),
            "config": self.config,
            "state": self.state,
            "subjects": self.subjects,
            "subjects_total": self.subjects_total,
            "subjects_truncated": self.subjects_truncated,
            "cluster": self.cluster,
        }


# -- consumers ------------------------------------------------------------------------

# The JetStream API has no open-ended pause, so "until resumed" pauses for the longest
# duration the console accepts; a pause with more than half of that left reads "until resumed".
INDEFINITE_PAUSE = MAX_DURATION
_UNTIL_RESUMED_AFTER_S = INDEFINITE_PAUSE.total_seconds() / 2


def pause_until_resumed(remaining_s: float | None) -> bool:
    return remaining_s is not None and remaining_s > _UNTIL_RESUMED_AFTER_S


def pause_description(remaining_s: float | None) -> str:
    """How long a pause lasts, for messages: "until resumed", "for 9m 59s", or "" when unknown."""
    if remaining_s is None:
        return ""
    return "until resumed" if pause_until_resumed(remaining_s) else f"for {humanize(remaining_s)}"


@dataclass(frozen=True)
class ConsumerSummary:
    stream: str
    name: str
    durable: bool
    description: str
    filter_subjects: tuple[str, ...]
    ack_policy: str
    deliver_policy: str
    push: bool
    num_pending: int
    num_ack_pending: int
    num_redelivered: int
    num_waiting: int
    delivered_stream_seq: int
    delivered_consumer_seq: int
    ack_floor_stream_seq: int
    ack_floor_consumer_seq: int
    last_active: datetime | None
    created: datetime | None
    paused: bool
    pause_until: datetime | None
    pause_remaining_s: float | None
    config: dict[str, Any] = field(repr=False)

    @property
    def lag(self) -> int:
        return self.num_pending

    @property
    def pause_remaining_text(self) -> str:
        return humanize(self.pause_remaining_s)

    @property
    def until_resumed(self) -> bool:
        """Paused with no practical end (the console's "until resumed" is a century away)."""
        return pause_until_resumed(self.pause_remaining_s)

    def as_api(self, *, with_config: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "stream": self.stream,
            "durable": self.durable,
            "description": self.description,
            "filter_subjects": list(self.filter_subjects),
            "ack_policy": self.ack_policy,
            "deliver_policy": self.deliver_policy,
            "push": self.push,
            "num_pending": self.num_pending,
            "num_ack_pending": self.num_ack_pending,
            "num_redelivered": self.num_redelivered,
            "num_waiting": self.num_waiting,
            "delivered": {"stream_seq": self.delivered_stream_seq, "consumer_seq": self.delivered_consumer_seq},
            "ack_floor": {"stream_seq": self.ack_floor_stream_seq, "consumer_seq": self.ack_floor_consumer_seq},
            "last_active": self.last_active,
            "created": self.created,
            "paused": self.paused,
            "pause_until": self.pause_until,
            "pause_remaining_s": None if self.pause_remaining_s is None else round(self.pause_remaining_s, 3),
            "lag": self.lag,
        }
        if with_config:
            data["config"] = self.config
        return data


# -- messages -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    subject: str
    time: datetime | None
    headers: list[tuple[str, Payload]]
    value: Payload

    @property
    def truncated(self) -> bool:
        return self.value.truncated

    def as_api(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "subject": self.subject,
            "time": self.time,
            "headers": headers_api(self.headers),
            "value": self.value.as_api(),
            "truncated": self.value.truncated,
            "size": self.value.size,
        }


@dataclass(frozen=True)
class Browse:
    """One page of the message browser."""

    stream: str
    messages: list[StoredMessage]
    method: str
    first_seq: int
    last_seq: int
    next_seq: int | None

    def as_api(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "messages": [m.as_api() for m in self.messages],
            "method": self.method,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "next_seq": self.next_seq,
        }
