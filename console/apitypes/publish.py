"""Publishing (one message, a stored one again, or a bulk job), jobs, saved messages."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required

from pydantic import Field
from typing_extensions import TypedDict

from console.apitypes.common import Header, Payload

Time = Annotated[str | None, Field(description="ISO-8601")]
Encoding = Literal["text", "json", "base64", "avro", "protobuf", "json-schema"]


class Message(TypedDict, total=False):
    key: str | None
    value: str | None
    encoding: Encoding
    key_encoding: Encoding
    schema: dict[str, Any]
    key_schema: dict[str, Any]
    headers: Annotated[Any, Field(description='[[name, value], ...] or "name: value" lines')]
    count: Annotated[int, Field(ge=1, description="a bulk job of this many messages ({{n}} placeholders)")]
    rate: Annotated[float, Field(gt=0, description="messages per second at most")]


class KafkaPublish(Message, total=False):
    partition: Annotated[int, Field(ge=0)]
    from_partition: Annotated[int, Field(ge=0)]
    from_offset: Annotated[int, Field(ge=0, description="send this stored message again")]


class NatsPublish(Message, total=False):
    subject: str
    mode: Literal["publish", "request", "jetstream"]
    timeout: Annotated[float, Field(gt=0, description="seconds a request waits for its reply")]
    msg_id: str
    from_stream: str
    from_seq: Annotated[int, Field(ge=1, description="send this stored message again")]


class KafkaDelivery(TypedDict):
    topic: str
    partition: int
    offset: int
    timestamp: str | None
    timestamp_ms: int | None
    message: str
    schema_id: NotRequired[int]


class Reply(TypedDict):
    subject: str
    headers: list[Header]
    value: Payload | None
    truncated: bool
    size: int


class NatsOutcome(TypedDict):
    """``publish``: mode alone; ``jetstream``: the stream's ack; ``request``: the reply."""

    mode: Literal["publish", "request", "jetstream"]
    message: str
    subject: NotRequired[str]
    stream: NotRequired[str]
    seq: NotRequired[int]
    duplicate: NotRequired[bool]
    reply: NotRequired[Reply]
    elapsed_ms: NotRequired[float]


class JobStarted(TypedDict):
    job: int
    url: str
    message: str


class Template(TypedDict):
    """A saved message: its target and its fields (key, value, encoding, headers, ...)."""

    id: int
    name: str
    cluster: str
    kind: Literal["kafka", "nats"]
    target: str
    created_by: str | None
    updated_at: str


class KafkaFormQuery(TypedDict, total=False):
    template: Annotated[int, Field(ge=1)]
    from_partition: Annotated[int, Field(ge=0)]
    from_offset: Annotated[int, Field(ge=0)]


class KafkaForm(TypedDict):
    topic: str
    partitions: list[int]
    templates: list[Template]


class NatsFormQuery(TypedDict, total=False):
    template: Annotated[int, Field(ge=1)]
    from_stream: str
    from_seq: Annotated[int, Field(ge=1)]


class NatsForm(TypedDict):
    subject: str
    templates: list[Template]


class JobsQuery(TypedDict, total=False):
    limit: Annotated[int, Field(ge=1, le=500)]


class Job(TypedDict):
    id: int
    kind: Literal["kafka", "nats"]
    cluster: str
    target: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    total: int
    sent: int
    failed: int
    error: str | None
    rate: float | None
    rate_limit: float | None
    eta_s: float | None
    created_by: str | None
    created_at: str
    started_at: Time
    finished_at: Time


class JobList(TypedDict):
    items: list[Job]
    total: int


class JobCancelled(Job):
    message: str


class TemplatesQuery(TypedDict, total=False):
    cluster: Annotated[str, Field(max_length=50)]


class TemplateList(TypedDict):
    items: list[Template]
    total: int


class TemplateSave(Message, total=False):
    name: str
    cluster: str
    target: str
    partition: int
    mode: Literal["publish", "request", "jetstream"]


class TemplateSaved(Template):
    message: str


class TemplateDeleted(TypedDict):
    deleted: int
    message: str


class SchemaPanelQuery(TypedDict, total=False):
    """The part (``value`` by default) and its schema as the form names it: by subject and version, or by id."""

    part: Literal["key", "value"]
    encoding: str
    subject: str
    version: str
    id: Annotated[int, Field(ge=0)]
    type: str


class SchemaPanel(TypedDict):
    """The chosen schema and an example value from it, or none (with why) when the part is not schema-encoded."""

    schema: dict[str, Any] | None
    part: str
    message: NotRequired[str]


class ServiceRequest(TypedDict, total=False):
    """One request to a service endpoint's subject (operators; a publish)."""

    subject: Required[str]
    value: str | None
    encoding: Literal["text", "json", "base64"]
    timeout: Annotated[float, Field(gt=0)]


class ServiceReply(TypedDict):
    reply: Reply
    elapsed_ms: float
    subject: str
    message: str
