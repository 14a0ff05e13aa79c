"""Consumer-group lag, as plain arithmetic over what the broker reported.

Partition lag = max(high watermark - committed offset, 0). A partition the group
has never committed is "no commit" (lag None), not zero: nothing says the group
has read it. A committed partition whose high watermark could not be read (the
broker did not answer, the topic was deleted) has an unknown lag, also None but
counted apart, so it is never shown as "no commit". A committed offset beyond
the high watermark (topic recreated, records deleted) is lag 0, never negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from streams.kafka.types import TopicPartitionKey, Watermark


def partition_lag(committed: int | None, high: int | None) -> int | None:
    if committed is None or committed < 0 or high is None or high < 0:
        return None
    return max(high - committed, 0)


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    high: int | None
    low: int | None
    lag: int | None
    member: str | None = None
    # The member id of the owner, where the broker named the group's assignments.
    member_id: str | None = None
    # Offsets between the commit and the high watermark that hold no record a consumer
    # receives (transaction markers, aborted records): not counted in ``lag``.
    markers: int = 0

    @property
    def has_commit(self) -> bool:
        return self.committed is not None

    def as_api(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "high": self.high,
            "low": self.low,
            "lag": self.lag,
            "member": self.member,
            "member_id": self.member_id,
            "markers": self.markers,
        }


@dataclass(frozen=True)
class GroupLag:
    group: str
    partitions: tuple[PartitionLag, ...]

    @property
    def total(self) -> int | None:
        """Summed over the partitions with a known lag; None when there is none."""
        lags = [p.lag for p in self.partitions if p.lag is not None]
        return sum(lags) if lags else None

    @property
    def lag_unknown(self) -> int:
        """Partitions with a commit whose lag is unknown (no high watermark was read)."""
        return sum(1 for p in self.partitions if p.has_commit and p.lag is None)

    @property
    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.partitions})

    @property
    def uncommitted(self) -> int:
        return sum(1 for p in self.partitions if not p.has_commit)


def group_lag(
    group: str,
    committed: Mapping[TopicPartitionKey, int],
    watermarks: Mapping[TopicPartitionKey, Watermark],
    partitions_of: Mapping[str, Sequence[int]],
    assigned: Mapping[TopicPartitionKey, str] | None = None,
    owners: Mapping[TopicPartitionKey, str] | None = None,
) -> GroupLag:
    """Every partition of every topic the group commits to or is assigned, in order.

    ``partitions_of`` names the partitions each existing topic has, so partitions
    the group never committed still show up (as "no commit"); a committed topic
    missing from it (deleted since) keeps its commits with an unknown high.
    """
    assigned = assigned or {}
    owners = owners or {}
    keys: set[TopicPartitionKey] = {k for k, offset in committed.items() if offset >= 0} | set(assigned)
    for topic in {t for t, _ in keys}:
        keys.update((topic, p) for p in partitions_of.get(topic, ()))
    rows = []
    for topic, partition in sorted(keys):
        offset = committed.get((topic, partition))
        if offset is not None and offset < 0:
            offset = None
        mark = watermarks.get((topic, partition))
        high = mark.high if mark else None
        rows.append(
            PartitionLag(
                topic=topic,
                partition=partition,
                committed=offset,
                high=high,
                low=mark.low if mark else None,
                lag=partition_lag(offset, high),
                member=assigned.get((topic, partition)),
                member_id=owners.get((topic, partition)),
            )
        )
    return GroupLag(group, tuple(rows))


def committed_rows(
    committed: Mapping[TopicPartitionKey, int],
    watermarks: Mapping[TopicPartitionKey, Watermark],
    partitions_of: Mapping[str, Sequence[int]],
) -> list[tuple[str, int, int | None, int | None]]:
    """``(topic, partition, committed, high)`` of each partition ``group_lag`` lists for a group with no
    assignments, in its order: what a lag sample keeps, without a PartitionLag for each of a sweep's rows."""
    keys = {k for k, offset in committed.items() if offset >= 0}
    for topic in {t for t, _ in keys}:
        keys.update((topic, p) for p in partitions_of.get(topic, ()))
    rows = []
    for key in sorted(keys):
        offset = committed.get(key)
        mark = watermarks.get(key)
        rows.append((key[0], key[1], None if offset is None or offset < 0 else offset, mark.high if mark else None))
    return rows


def topics_of(committed: Iterable[Mapping[TopicPartitionKey, int]]) -> set[str]:
    return {topic for offsets in committed for (topic, _), offset in offsets.items() if offset >= 0}


def _rank(lag: GroupLag) -> int:
    if lag.total is not None:
        return 0
    return 1 if lag.lag_unknown else 2


def sort_by_lag(lags: Iterable[GroupLag]) -> list[GroupLag]:
    """Largest total lag first; then groups whose lag is unknown, then those without any commit; ties by name.

    An unknown lag may be the largest of all, so it ranks above "no commit".
    """
    return sorted(lags, key=lambda g: (_rank(g), -(g.total or 0), g.group))
