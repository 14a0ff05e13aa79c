"""confluent-kafka answers -> Streamdesk's neutral types; no client type leaves here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka.admin import ConfigSource

from streams.kafka.types import (
    ClusterMetadata,
    ConfigItem,
    GroupDescription,
    GroupListing,
    KafkaMessage,
    MemberInfo,
    PartitionInfo,
    TopicInfo,
    is_internal_topic,
)
from streams.payloads import DISPLAY_LIMIT, Payload, header_pairs


def _state_name(state: Any) -> str:
    name = getattr(state, "name", None) or str(state or "UNKNOWN")
    return str(name).upper()


def metadata_from(md: Any) -> ClusterMetadata:
    """confluent-kafka ClusterMetadata -> neutral, sorted by partition."""
    topics: dict[str, TopicInfo] = {}
    for name, topic in md.topics.items():
        parts = tuple(
            PartitionInfo(
                partition=p.id,
                leader=p.leader,
                replicas=tuple(p.replicas),
                isr=tuple(p.isrs),
                error=p.error.str() if p.error else None,
            )
            for p in sorted(topic.partitions.values(), key=lambda p: p.id)
        )
        error = topic.error.str() if topic.error else None
        topics[name] = TopicInfo(name=name, partitions=parts, internal=is_internal_topic(name), error=error)
    brokers = {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}
    controller = md.controller_id if md.controller_id is not None and md.controller_id >= 0 else None
    return ClusterMetadata(topics=topics, brokers=brokers, controller=controller, cluster_id=md.cluster_id)


def listing_from(listing: Any) -> GroupListing:
    return GroupListing(
        group=listing.group_id,
        state=_state_name(getattr(listing, "state", None)),
        simple=bool(getattr(listing, "is_simple_consumer_group", False)),
    )


def group_from_description(desc: Any) -> GroupDescription:
    members = []
    for member in desc.members or ():
        assignment = getattr(member, "assignment", None)
        tps = getattr(assignment, "topic_partitions", None) or ()
        members.append(
            MemberInfo(
                member_id=member.member_id or "",
                client_id=member.client_id or "",
                host=member.host or "",
                instance_id=getattr(member, "group_instance_id", None),
                assignment=tuple(sorted((tp.topic, tp.partition) for tp in tps)),
            )
        )
    coordinator = getattr(desc, "coordinator", None)
    return GroupDescription(
        group=desc.group_id,
        state=_state_name(desc.state),
        members=tuple(sorted(members, key=lambda m: (m.client_id, m.member_id))),
        assignor=getattr(desc, "partition_assignor", "") or "",
        coordinator=getattr(coordinator, "id", None),
        simple=bool(getattr(desc, "is_simple_consumer_group", False)),
    )


def _source_name(source: Any) -> str:
    """librdkafka hands a config's source over as a bare number (4 = STATIC_BROKER_CONFIG)."""
    if source is None:
        return "unknown"
    if isinstance(source, int) and not isinstance(source, bool):
        try:
            source = ConfigSource(source)
        except ValueError:
            return "unknown"
    return _state_name(source).removesuffix("_CONFIG").lower()


def configs_from(entries: Mapping[str, Any]) -> tuple[ConfigItem, ...]:
    """DescribeConfigs entries; sensitive values are never passed on."""
    items = []
    for name, entry in sorted(entries.items()):
        sensitive = bool(getattr(entry, "is_sensitive", False))
        items.append(
            ConfigItem(
                name=name,
                value=None if sensitive else entry.value,
                source=_source_name(getattr(entry, "source", None)),
                default=bool(getattr(entry, "is_default", False)),
                sensitive=sensitive,
                read_only=bool(getattr(entry, "is_read_only", False)),
            )
        )
    return tuple(items)


_TIMESTAMP_TYPES = {0: "none", 1: "create", 2: "log_append"}


def message_from(msg: Any, limit: int | None) -> KafkaMessage:
    kind, stamp = msg.timestamp()
    return KafkaMessage(
        partition=msg.partition(),
        offset=msg.offset(),
        timestamp_ms=stamp if kind and stamp is not None and stamp >= 0 else None,
        timestamp_type=_TIMESTAMP_TYPES.get(kind, "none"),
        key=Payload.of(msg.key(), limit),
        value=Payload.of(msg.value(), limit),
        headers=tuple(header_pairs(msg.headers(), limit or DISPLAY_LIMIT)),
    )
