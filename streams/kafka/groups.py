"""Consumer-group lag read through the Kafka adapter: commits, watermarks, descriptions.

The arithmetic lives in ``streams.kafka_lag``; this module decides what to ask
the broker for, so every page and the Lag overview read lag the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from streams.errors import NotSupported, StreamdeskError
from streams.kafka import browse
from streams.kafka.lag import GroupLag, group_lag, topics_of
from streams.kafka.types import ClusterMetadata, GroupDescription, TopicInfo, TopicPartitionKey, Watermark

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter

Committed = dict[str, dict[TopicPartitionKey, int]]


async def read_watermarks(
    adapter: KafkaAdapter, topics: list[TopicInfo], *, fresh: bool = False
) -> tuple[dict[TopicPartitionKey, Watermark], str | None]:
    """Watermarks, or none and the reason: a table without counts beats an error page."""
    if not topics:
        return {}, None
    try:
        return await adapter.watermarks(topics, fresh=fresh), None
    except StreamdeskError as exc:
        return {}, f"Offsets unavailable: {exc.message}"


def partitions_of(md: ClusterMetadata, topics: Iterable[str]) -> dict[str, list[int]]:
    return {t: md.topics[t].partition_ids for t in topics if t in md.topics}


@dataclass(frozen=True)
class LagSweep:
    """The lag of some groups and the broker answers it was computed from."""

    lags: dict[str, GroupLag]
    committed: Committed
    marks: dict[TopicPartitionKey, Watermark]
    warning: str | None


async def sweep_lags(
    adapter: KafkaAdapter,
    md: ClusterMetadata,
    groups: list[str],
    described: Mapping[str, GroupDescription] | None = None,
    *,
    committed: Committed | None = None,
    also: Iterable[TopicInfo] = (),
    fresh: bool = False,
) -> LagSweep:
    """Lag of ``groups``; ``committed`` when already read, ``also`` topics whose watermarks are wanted too."""
    if committed is None:
        committed = await adapter.committed(groups, fresh=fresh)
    described = described or {}
    assigned: dict[str, dict[TopicPartitionKey, str]] = {
        g: {tp: m.client_id or m.member_id for tp, m in d.assigned_to().items()} for g, d in described.items()
    }
    owners: dict[str, dict[TopicPartitionKey, str]] = {
        g: {tp: m.member_id for tp, m in d.assigned_to().items()} for g, d in described.items()
    }
    topics = topics_of(committed.values()) | {t for a in assigned.values() for t, _ in a}
    wanted = {t: md.topics[t] for t in sorted(topics) if t in md.topics}
    wanted.update((info.name, info) for info in also)
    marks, warning = await read_watermarks(adapter, list(wanted.values()), fresh=fresh)
    layout = partitions_of(md, topics)
    lags = {g: group_lag(g, committed.get(g, {}), marks, layout, assigned.get(g), owners.get(g)) for g in groups}
    return LagSweep(lags, committed, marks, warning)


async def group_lags(
    adapter: KafkaAdapter,
    md: ClusterMetadata,
    groups: list[str],
    described: Mapping[str, GroupDescription] | None = None,
) -> tuple[dict[str, GroupLag], str | None]:
    """Lag of each of ``groups``, and why it is incomplete when the watermarks could not be read."""
    sweep = await sweep_lags(adapter, md, groups, described)
    return sweep.lags, sweep.warning


NOT_SUPPORTED = "not supported by this broker"


async def describe(
    adapter: KafkaAdapter, groups: list[str], *, fresh: bool = False
) -> tuple[dict[str, GroupDescription], str | None]:
    """Group descriptions, or none and the reason: a group page without members beats an error page."""
    if not groups:
        return {}, None
    try:
        return await adapter.describe_groups(groups, fresh=fresh), None
    except NotSupported:
        return {}, f"Group descriptions are {NOT_SUPPORTED}."
    except StreamdeskError as exc:
        return {}, f"Group descriptions unavailable: {exc.message}"


# A partition this few offsets behind is read to count its records: a consumer that read
# everything of a transactional topic may have committed the offset of the commit marker.
MARKER_PROBE_MAX_LAG = 64
MARKER_PROBE_MAX_PARTITIONS = 64


async def settle_markers(adapter: KafkaAdapter, lag: GroupLag) -> GroupLag:
    """``lag`` with the offsets that hold no record (transaction markers, aborted records) taken out.

    Offset arithmetic counts a commit marker as one record behind: a group that
    consumed all of a transactional topic and committed the offset after its last
    record is "1 behind" forever. Small lags are read (read_committed) and counted
    instead; larger ones, or a read that fails, keep the arithmetic.
    """
    # A commit below the low watermark points at deleted records: the consumer's reset policy decides, not a count.
    rows = [
        p
        for p in lag.partitions
        if p.lag and p.lag <= MARKER_PROBE_MAX_LAG and p.committed is not None and p.committed >= (p.low or 0)
    ]
    rows = rows[:MARKER_PROBE_MAX_PARTITIONS]
    if not rows:
        return lag
    spans = [(p.topic, p.partition, p.committed or 0, p.high or 0) for p in rows]
    try:
        counts = await adapter.call(
            browse.count_records,
            adapter.config,
            spans,
            adapter.timeout * 0.8,
            what="records behind the group",
            timeout=adapter.timeout + 1,
        )
    except StreamdeskError:
        return lag
    settled = []
    for p in lag.partitions:
        n = counts.get((p.topic, p.partition))
        settled.append(p if n is None or p.lag is None or n > p.lag else replace(p, lag=n, markers=p.lag - n))
    return GroupLag(lag.group, tuple(settled))
