"""Neutral answers of the Kafka adapter: no confluent-kafka type leaves the adapter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from streams.payloads import Payload

# Group states in which the coordinator has (or is assembling) members: offsets
# cannot be changed from outside then, and Kafka refuses to delete the group.
ACTIVE_GROUP_STATES = frozenset({"STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE", "ASSIGNING", "RECONCILING"})


TopicPartitionKey = tuple[str, int]


def is_internal_topic(name: str) -> bool:
    # Kafka's own bookkeeping topics (__consumer_offsets, __transaction_state, ...) and,
    # by convention, every tool's internal topics start with "__".
    return name.startswith("__")


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    error: str | None = None


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: tuple[PartitionInfo, ...]
    internal: bool = False
    error: str | None = None

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def partition_ids(self) -> list[int]:
        return [p.partition for p in self.partitions]


@dataclass(frozen=True)
class ClusterMetadata:
    topics: Mapping[str, TopicInfo]
    brokers: Mapping[int, str]
    controller: int | None = None
    cluster_id: str | None = None

    @cached_property
    def sorted_names(self) -> list[str]:
        return sorted(self.topics)


@dataclass(frozen=True)
class Watermark:
    low: int
    high: int

    @property
    def messages(self) -> int:
        return max(self.high - self.low, 0)


@dataclass(frozen=True)
class GroupListing:
    group: str
    state: str
    simple: bool = False


@dataclass(frozen=True)
class MemberInfo:
    member_id: str
    client_id: str
    host: str
    instance_id: str | None
    assignment: tuple[TopicPartitionKey, ...] = ()


@dataclass(frozen=True)
class GroupDescription:
    group: str
    state: str
    members: tuple[MemberInfo, ...] = ()
    assignor: str = ""
    coordinator: int | None = None
    simple: bool = False

    @property
    def active(self) -> bool:
        """Someone is in the group: its offsets are theirs to move."""
        return bool(self.members) or self.state in ACTIVE_GROUP_STATES

    @property
    def members_reported(self) -> bool:
        """False when the broker calls the group active yet names nobody in it."""
        return bool(self.members) or self.state not in ACTIVE_GROUP_STATES

    def assigned_to(self) -> dict[TopicPartitionKey, MemberInfo]:
        return {tp: member for member in self.members for tp in member.assignment}


@dataclass(frozen=True)
class ConfigItem:
    name: str
    value: str | None
    source: str
    default: bool
    sensitive: bool
    read_only: bool


@dataclass(frozen=True)
class KafkaMessage:
    partition: int
    offset: int
    timestamp_ms: int | None
    timestamp_type: str
    key: Payload
    value: Payload
    headers: tuple[tuple[str, Payload], ...] = ()

    @property
    def timestamp(self) -> datetime | None:
        if self.timestamp_ms is None:
            return None
        try:
            return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None

    @property
    def truncated(self) -> bool:
        return self.key.truncated or self.value.truncated


@dataclass(frozen=True)
class ReadRange:
    """Read ``[start, end)`` of one partition, keeping at most ``keep`` matches."""

    partition: int
    start: int
    end: int
    keep: int
    # How far the read may grow when the window holds fewer records than ``keep``
    # (offsets taken by transaction markers, aborted or compacted-away records):
    # back to ``floor`` for the newest records, on to ``ceiling`` reading forward.
    floor: int | None = None
    ceiling: int | None = None


@dataclass
class BrowseResult:
    messages: list[KafkaMessage] = field(default_factory=list)
    scanned: int = 0
    complete: bool = True
