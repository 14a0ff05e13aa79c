"""NATS: the server, its connections and subjects, JetStream streams, messages and consumers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from console.apitypes.common import Flag, Header, Page, Payload

Size = Annotated[int, Field(ge=1, le=1000)]
Time = Annotated[str | None, Field(description="ISO-8601")]


class ServerOverview(TypedDict):
    """The client's INFO and the account's JetStream usage, with varz/jsz where monitoring is set."""

    monitoring: bool
    monitor_error: str | None


class ConnectionsQuery(TypedDict, total=False):
    sort: Literal["pending", "subs", "msgs_to", "msgs_from", "bytes_to", "bytes_from", "idle", "cid"]
    page: Page
    page_size: Annotated[int, Field(ge=1, le=500)]


class Connection(TypedDict):
    cid: int
    name: str
    address: str
    subscriptions: int
    pending_bytes: int
    in_msgs: int
    out_msgs: int
    in_bytes: int
    out_bytes: int
    lang: str
    version: str
    uptime: str
    idle: str
    rtt: str
    level: str


class Connections(TypedDict):
    items: list[Connection]
    total: int
    page: int
    page_size: int
    sort: str
    monitoring: bool


class SubjectsQuery(TypedDict, total=False):
    q: Annotated[str, Field(max_length=1024, description="a subject pattern (* and >) or a substring")]
    source: Literal["subscription", "stream"]
    internal: Literal["0", "1"]
    page: Page
    page_size: Size


class SubjectRow(TypedDict):
    subject: str
    source: Literal["subscription", "stream"]
    count: int
    subscribers: int | None
    queue_groups: list[str]
    stream: str | None


class Subjects(TypedDict):
    items: list[SubjectRow]
    total: int
    page: int
    page_size: int
    q: str
    monitoring: bool
    monitor_error: str | None
    jetstream: bool
    hidden_internal: int
    subscriptions_total: int | None
    subscriptions_truncated: bool
    truncated: bool


class StreamsQuery(TypedDict, total=False):
    q: Annotated[str, Field(max_length=1024)]
    sort: Literal["name", "messages", "bytes", "consumers", "last"]
    page: Page
    page_size: Size


class Stream(TypedDict):
    name: str
    subjects: list[str]
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
    sources: list[str]
    created: Time
    last_ts: Time


class StreamList(TypedDict):
    items: list[Stream]
    total: int
    page: int
    page_size: int
    q: str
    sort: str


class StreamDetail(TypedDict):
    """The summary's fields, the stream's config and state in nats-server's JSON, and its subjects."""

    name: str
    messages: int
    config: dict[str, Any]
    state: dict[str, Any]
    subjects: dict[str, int]
    subjects_total: int
    subjects_truncated: bool
    cluster: dict[str, Any] | None


class StreamConfig(TypedDict, total=False):
    """A stream config in nats-server's own JSON (editable fields; durations in nanoseconds)."""

    name: str
    subjects: list[str]
    retention: Literal["limits", "interest", "workqueue"]
    storage: Literal["file", "memory"]
    max_msgs: int
    max_bytes: int
    max_age: int
    num_replicas: int
    discard: Literal["old", "new"]
    duplicate_window: int
    allow_direct: bool
    description: str


class StreamWritten(StreamDetail):
    message: str


class StreamPurge(TypedDict, total=False):
    subject: str
    keep: Annotated[int, Field(ge=0)]


class StreamPurged(TypedDict):
    purged: int
    message: str


class MessagesQuery(TypedDict, total=False):
    seq: Annotated[int, Field(ge=1)]
    since: Annotated[str, Field(description="ISO-8601")]
    subject: Annotated[str, Field(max_length=1024)]
    limit: Annotated[int, Field(ge=1, le=500)]


class StoredMessage(TypedDict):
    seq: int
    subject: str
    time: Time
    headers: list[Header]
    value: Payload | None
    truncated: bool
    size: int


class Messages(TypedDict):
    stream: str
    messages: list[StoredMessage]
    method: str
    first_seq: int
    last_seq: int
    next_seq: int | None
    seq: int | None
    since: Time
    subject: str | None
    limit: int


class MessageQuery(TypedDict, total=False):
    full: Flag


class OneMessage(TypedDict):
    stream: str
    message: StoredMessage
    full: bool
    limit: int


class MessageDelete(TypedDict, total=False):
    erase: bool


class MessageDeleted(TypedDict):
    deleted: int
    stream: str
    message: str


class ConsumersQuery(TypedDict, total=False):
    q: Annotated[str, Field(max_length=255)]
    sort: Literal["name", "lag", "ack_pending", "redelivered", "waiting"]
    page: Page
    page_size: Size


class Sequences(TypedDict):
    stream_seq: int
    consumer_seq: int


class Consumer(TypedDict):
    name: str
    stream: str
    durable: bool
    description: str
    filter_subjects: list[str]
    ack_policy: str
    deliver_policy: str
    push: bool
    num_pending: int
    num_ack_pending: int
    num_redelivered: int
    num_waiting: int
    delivered: Sequences
    ack_floor: Sequences
    last_active: Time
    created: Time
    paused: bool
    pause_until: Time
    pause_remaining_s: float | None
    lag: int


class ConsumerRow(Consumer):
    status: str | None
    sparkline: list[int | None]


class ConsumerList(TypedDict):
    stream: str
    items: list[ConsumerRow]
    total: int
    page: int
    page_size: int
    q: str
    sort: str


class ConsumerDetail(Consumer):
    config: dict[str, Any]


class ConsumerWritten(ConsumerDetail):
    message: str


class ConsumerConfig(TypedDict, total=False):
    """A consumer config in nats-server's JSON (durations in nanoseconds)."""

    durable_name: str
    description: str
    filter_subjects: list[str]
    deliver_policy: str
    ack_policy: str
    ack_wait: int
    max_deliver: int
    backoff: list[int]


PausePlan = TypedDict(
    "PausePlan",
    {"for": Annotated[str, Field(description="a duration: 90s, 10m, 1h30m")], "until": Time},
    total=False,
)


class Paused(TypedDict):
    stream: str
    name: str
    paused: bool
    pause_until: Time
    pause_remaining_s: float | None
    message: str


class Resumed(TypedDict):
    stream: str
    name: str
    paused: bool
    message: str
