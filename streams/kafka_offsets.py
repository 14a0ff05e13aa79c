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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams.brokers.kafka_types import Watermark
from streams.errors import InvalidInput

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
