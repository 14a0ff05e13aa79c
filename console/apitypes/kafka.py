"""Kafka: topics, messages, brokers, configs, consumer groups."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from console.apitypes.common import Flag, Header, Page, PagedQuery, PageSize, Payload

Offset = Annotated[int, Field(ge=0)]


class TopicsQuery(PagedQuery, total=False):
    internal: Literal["show", "hide"]


class TopicRow(TypedDict):
    name: str
    partitions: int
    replication_factor: int
    messages: int | None
    internal: bool


class TopicList(TypedDict):
    items: list[TopicRow]
    total: int
    page: int
    page_size: int
    q: str
    internal: Literal["show", "hide"]
    warning: str | None


class TopicCreate(TypedDict):
    name: str
    partitions: NotRequired[Annotated[int, Field(ge=1, le=100_000)]]
    replication_factor: NotRequired[Annotated[int, Field(ge=-1, le=100, description="-1: the broker's default")]]
    configs: NotRequired[dict[str, str]]


class TopicCreated(TypedDict):
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]
    message: str


class Config(TypedDict):
    name: str
    value: str | None
    source: str
    default: bool
    sensitive: bool
    read_only: bool


class PartitionRow(TypedDict):
    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]
    low: int | None
    high: int | None
    messages: int | None
    under_replicated: bool
    error: str | None


class TopicReader(TypedDict):
    group: str
    lag: int | None
    lag_unknown: bool
    committed: int
    uncommitted: int


class TopicDetail(TypedDict):
    name: str
    internal: bool
    replication_factor: int
    messages: int | None
    partitions: list[PartitionRow]
    configs: dict[str, str | None] | None
    config_details: list[Config]
    configs_note: str | None
    groups: list[TopicReader]
    groups_note: str | None
    warning: str | None


class TopicConfigs(TypedDict):
    name: str
    configs: dict[str, str | None] | None
    config_details: list[Config]
    configs_note: str | None


class PartitionsAdd(TypedDict):
    count: Annotated[int, Field(ge=1, le=100_000, description="the new total")]


class PartitionsAdded(TypedDict):
    name: str
    partitions: int
    message: str


class PurgeBefore(TypedDict, total=False):
    offset: Offset
    time: str


class Purge(TypedDict):
    partitions: list[Offset] | None
    before: PurgeBefore | None


class PurgedPartition(TypedDict):
    partition: int
    low: int


class Purged(TypedDict):
    partitions: list[PurgedPartition]
    message: str


class ConfigsChange(TypedDict, total=False):
    set: dict[str, str]
    delete: list[str]


class ConfigsChangeQuery(TypedDict, total=False):
    dry_run: Flag


class ConfigsChanged(TypedDict):
    configs: dict[str, str | None] | None
    config_details: list[Config]
    dry_run: bool
    message: str


MessagesQuery = TypedDict(
    "MessagesQuery",
    {
        "partition": Offset,
        "limit": Annotated[int, Field(ge=1, le=500)],
        "offset": Offset,
        "timestamp": Annotated[str, Field(description="ISO-8601")],
        "from": Literal["beginning", "end", "offset", "timestamp"],
        "q": Annotated[str, Field(max_length=200, description="bytes the key or value must contain")],
        "full": Flag,
        "isolation": Literal["read_committed", "read_uncommitted"],
    },
    total=False,
)


class KafkaMessage(TypedDict):
    partition: int
    offset: int
    timestamp: str | None
    timestamp_ms: int | None
    timestamp_type: str
    key: Payload | None
    key_size: int
    headers: list[Header]
    value: Payload | None
    size: int
    truncated: bool


class Watermarks(TypedDict):
    partition: int
    low: int
    high: int


Messages = TypedDict(
    "Messages",
    {
        "topic": str,
        "partition": int | None,
        "from": Literal["beginning", "end", "offset", "timestamp"],
        "offset": int | None,
        "timestamp": str | None,
        "limit": int,
        "q": str,
        "full": bool,
        "isolation": Literal["read_committed", "read_uncommitted"],
        "messages": list[KafkaMessage],
        "scanned": int,
        "complete": bool,
        "watermarks": list[Watermarks],
        "partitions": list[int],
    },
)


class Broker(TypedDict):
    id: int
    host: str
    port: int | None
    rack: str | None
    controller: bool | None
    leader_partitions: int
    replica_partitions: int


class BrokerList(TypedDict):
    items: list[Broker]
    cluster_id: str | None
    note: str | None


class BrokerQuery(TypedDict, total=False):
    q: Annotated[str, Field(max_length=255)]


class BrokerDetail(Broker):
    configs: dict[str, Config]
    configs_total: int
    configs_note: str | None
    q: str


class GroupsQuery(TypedDict, total=False):
    q: Annotated[str, Field(max_length=255)]
    sort: Literal["name", "lag", "status"]
    page: Page
    page_size: PageSize


class GroupRow(TypedDict):
    group: str
    status: str | None
    sparkline: list[int | None]
    state: str
    members: int | None
    members_reported: bool
    topics: list[str]
    lag: int | None
    lag_unknown: bool
    partitions: int
    uncommitted: int


class GroupList(TypedDict):
    items: list[GroupRow]
    total: int
    page: int
    page_size: int
    q: str
    sort: Literal["name", "lag", "status"]
    warning: str | None


class Assignment(TypedDict):
    topic: str
    partition: int


class Member(TypedDict):
    member_id: str
    client_id: str
    host: str
    instance_id: str | None
    assignments: list[Assignment]
    assignment: Annotated[list[Assignment], Field(description="the earlier name of assignments")]


class PartitionLag(TypedDict):
    topic: str
    partition: int
    committed: int | None
    high: int | None
    low: int | None
    lag: int | None
    member: str | None
    member_id: str | None
    markers: int


class GroupDetail(TypedDict):
    group: str
    state: str
    active: bool
    members: list[Member]
    members_reported: bool
    members_note: str | None
    assignor: str
    coordinator: int | None
    lag: int | None
    lag_unknown: bool
    topics: list[str]
    uncommitted: int
    lag_unknown_partitions: int
    partitions: list[PartitionLag]
    warning: str | None


class GroupReset(TypedDict):
    topic: str
    to: Literal["earliest", "latest", "offset", "timestamp"]
    value: NotRequired[int | str]
    partitions: NotRequired[list[Offset] | None]
    partition: NotRequired[Offset]
    dry_run: NotRequired[bool]


class ResetStep(TypedDict):
    partition: int
    old: int | None
    new: int
    note: str


class ResetPlan(TypedDict):
    group: str
    topic: str
    to: str
    value: Any
    dry_run: bool
    blocked: str | None
    partitions: list[ResetStep]
    message: str


class AclQuery(TypedDict, total=False):
    principal: str
    resource_type: str
    name: str


class Acl(TypedDict):
    principal: str
    host: str
    operation: str
    permission: Literal["ALLOW", "DENY"]
    resource_type: str
    name: str
    pattern: Literal["LITERAL", "PREFIXED"]


class AclList(TypedDict):
    items: list[Acl]


class AclCreated(Acl):
    message: str


class AclsDeleted(TypedDict):
    deleted: int
    items: list[Acl]
    message: str


class AclFilter(TypedDict):
    """Which ACLs to delete: every field given explicitly, "ANY" written out (a missing field is a 400)."""

    principal: str
    host: str
    operation: str
    permission: str
    resource_type: str
    name: str
    pattern: str
