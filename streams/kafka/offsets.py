"""Planning a consumer-group offset reset: what each partition moves from and to.

The plan is computed by the same rule for a dry run and for the real reset, each
time from what the broker reports at that moment: the page shows the preview, and
the reset applies the same rule when it runs. For a specific offset the result is
the same; for earliest, latest and a time it follows records written (or deleted)
in between, as ``kafka-consumer-groups --reset-offsets --execute`` does. Targets
follow that tool too: a specific offset is clamped into the partition's
[low, high] range, and a time with no record at or after it means the end of the
partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streams.aio import gather_strict
from streams.errors import InvalidInput
from streams.kafka.types import GroupDescription, TopicInfo, TopicPartitionKey, Watermark

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter

RESET_TARGETS = ("earliest", "latest", "timestamp", "offset")


@dataclass(frozen=True)
class ResetStep:
    partition: int
    old: int | None
    new: int
    note: str = ""

    @property
    def changes(self) -> bool:
        return self.old != self.new

    def as_api(self) -> dict[str, object]:
        return {"partition": self.partition, "old": self.old, "new": self.new, "note": self.note}


def plan_reset(
    partitions: Sequence[int],
    committed: Mapping[int, int],
    watermarks: Mapping[int, Watermark],
    to: str,
    value: int | None = None,
    by_time: Mapping[int, int | None] | None = None,
) -> list[ResetStep]:
    """One step per partition; ``by_time`` holds the offsets found for a timestamp target."""
    if to not in RESET_TARGETS:
        raise InvalidInput(f"to must be one of {', '.join(RESET_TARGETS)}.", field="to")
    if to == "offset" and (value is None or value < 0):
        raise InvalidInput("value must be an offset of 0 or more.", field="value")
    steps = []
    for partition in sorted(partitions):
        mark = watermarks.get(partition)
        if mark is None:
            raise InvalidInput(f"Partition {partition} has no known offsets; try again.", field="partition")
        old = committed.get(partition)
        old = old if old is not None and old >= 0 else None
        note = ""
        if to == "earliest":
            new = mark.low
        elif to == "latest":
            new = mark.high
        elif to == "offset":
            assert value is not None
            new = min(max(value, mark.low), mark.high)
            if new != value:
                note = f"{value} is outside {mark.low}..{mark.high}; clamped"
        else:
            found = (by_time or {}).get(partition)
            if found is None or found < 0:
                new, note = mark.high, "no record at or after that time; end of partition"
            else:
                new = min(max(found, mark.low), mark.high)
        steps.append(ResetStep(partition, old, new, note))
    return steps


@dataclass(frozen=True)
class ResetRequest:
    """Move ``group``'s offsets on ``topic`` (some or all partitions) to a target."""

    group: str
    topic: str
    to: str
    value: Any = None
    offset: int | None = None
    when_ms: int | None = None
    partitions: list[int] | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"topic": self.topic, "to": self.to, "value": self.value, "partitions": self.partitions}

    def partitions_of(self, info: TopicInfo) -> list[int]:
        partitions = self.partitions if self.partitions is not None else info.partition_ids
        missing = sorted(set(partitions) - set(info.partition_ids))
        if missing:
            raise InvalidInput(f"Topic {self.topic} has no partition {missing[0]}.", field="partitions")
        return partitions


@dataclass(frozen=True)
class ResetPlan:
    request: ResetRequest
    steps: list[ResetStep]
    blocked: str | None

    @property
    def moved(self) -> int:
        return sum(1 for s in self.steps if s.changes)

    def describe(self) -> str:
        return "; ".join(f"p{s.partition}: {'none' if s.old is None else s.old} -> {s.new}" for s in self.steps)

    def as_api(self, *, dry_run: bool) -> dict[str, Any]:
        req = self.request
        return {
            "group": req.group,
            "topic": req.topic,
            "to": req.to,
            "value": req.value,
            "dry_run": dry_run,
            "blocked": self.blocked,
            "partitions": [s.as_api() for s in self.steps],
        }


def make_plan(
    req: ResetRequest,
    partitions: list[int],
    desc: GroupDescription | None,
    committed: Mapping[TopicPartitionKey, int],
    marks: Mapping[TopicPartitionKey, Watermark],
    by_time: Mapping[int, int | None] | None,
) -> ResetPlan:
    steps = plan_reset(
        partitions,
        {p: o for (t, p), o in committed.items() if t == req.topic},
        {p: m for (t, p), m in marks.items() if t == req.topic},
        req.to,
        req.offset,
        by_time,
    )
    blocked = None
    if desc is not None and desc.active:
        who = f"{len(desc.members)} member(s)" if desc.members else f"state {desc.state}"
        blocked = f"Group {req.group} has active members ({who}); stop its consumers before resetting its offsets."
    return ResetPlan(req, steps, blocked)


async def plan(adapter: KafkaAdapter, req: ResetRequest) -> ResetPlan:
    """What a reset would do, read fresh from the broker at this moment: the dry run, the
    page's preview and the reset itself all come from here."""
    reads = await asyncio.gather(
        adapter.describe_groups([req.group], fresh=True),
        adapter.committed([req.group], fresh=True),
        adapter.topic(req.topic),
        return_exceptions=True,
    )
    # An unknown group says 404 before an unknown topic does; it answers from the description just read.
    await adapter.group(req.group)
    described, committed, info = await gather_strict(*(_settled(r) for r in reads))
    partitions = req.partitions_of(info)

    async def by_time() -> dict[int, int | None] | None:
        if req.when_ms is None:
            return None
        return await adapter.offsets_for_time(req.topic, partitions, req.when_ms)

    marks, found = await gather_strict(adapter.watermarks([info], fresh=True), by_time())
    return make_plan(req, partitions, described.get(req.group), committed.get(req.group, {}), marks, found)


async def _settled(result: Any) -> Any:
    """An answer already read (or its failure), awaitable again so gather_strict can order failures."""
    if isinstance(result, BaseException):
        raise result
    return result
