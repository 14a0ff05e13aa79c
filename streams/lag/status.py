"""Consumer lag status by Burrow's rules, over a window built from sampled offsets.

The rules are those of Burrow's evaluator (core/internal/evaluator/caching.go). A partition is judged on its
window of recent commits (offset, commit time, lag at the commit), the recent broker end offsets and its current
lag. A group takes its worst partition, with STOP, STALL and REWIND rolled up as ERR.

Burrow sees every commit; Streamdesk samples the committed offset and the end offset on an interval.
``window_from_samples`` turns those samples into Burrow's inputs:

- a commit entry is added only when the committed offset differs from the last entry's, stamped with the time of
  the sample that first saw it; its lag is that sample's end minus the offset, at least 0, None when the end was
  not read;
- the broker offsets are the end offsets that were read; a sample without one is skipped, never taken as 0;
- the current lag is the last end offset read minus the last committed offset, at least 0 (Burrow too uses the
  last broker offset it fetched); None without a commit or an end offset;
- both windows keep their last ``window_size`` values, like Burrow's rings.

Where the result can differ from Burrow's:

- several commits between two samples collapse into one entry, so a rewind recovered before the next sample is
  not seen, and the window spans more time than Burrow's does;
- an entry's timestamp is when a sample saw the offset, up to one interval after the commit;
- commits that repeat an offset are one entry, so a stalled group (committing the same offset while lagging) has
  a single, ageing entry and reads as STOP, like a group that stopped committing; STALL is hardly ever reported;
- a group idle at lag 0 keeps its old timestamp too; when messages arrive, only a broker offset at or below its
  committed offset still in the broker window (Burrow's recent-lag-zero check) keeps it from STOP;
- an entry's lag uses its own sample's end offset, where Burrow uses the last one it fetched, however old.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from typing_extensions import TypedDict

PartitionState = Literal["OK", "WARN", "STOP", "STALL", "REWIND"]
GroupState = Literal["NOTFOUND", "OK", "WARN", "ERR"]

# Burrow's StatusConstant values: the group takes the highest, and anything above ERR is reported as ERR.
_SEVERITY: dict[str, int] = {"NOTFOUND": 0, "OK": 1, "WARN": 2, "ERR": 3, "STOP": 4, "STALL": 5, "REWIND": 6}


class CommitEntry(TypedDict):
    """One entry of Burrow's commit ring: the committed offset, when it was committed, the lag at that time."""

    offset: int
    timestamp_ms: int
    lag: int | None


class LagSample(TypedDict):
    """One sampling of a partition: the group's committed offset and the broker's end offset, None when unknown."""

    t_ms: int
    committed: int | None
    end: int | None


class PartitionStatusApi(TypedDict):
    topic: str
    partition: int
    status: PartitionState
    current_lag: int | None
    complete: float
    start: CommitEntry | None
    end: CommitEntry | None


class GroupStatusApi(TypedDict):
    group: str
    status: GroupState
    complete: float
    total_lag: int
    lag_unknown: int
    partition_count: int
    maxlag: PartitionStatusApi | None
    partitions: list[PartitionStatusApi]


# -- Burrow's partition rules, in the order calculatePartitionStatus applies them ----------------------------------


def lag_always_not_zero(offsets: Sequence[CommitEntry], allowed_lag: int) -> bool:
    """isLagAlwaysNotZero: no entry has a known lag within the allowed lag."""
    return not any(entry["lag"] is not None and entry["lag"] <= allowed_lag for entry in offsets)


def rewind_index(offsets: Sequence[CommitEntry]) -> int:
    """checkIfOffsetsRewind: index of the first entry whose offset is below the previous one's, -1 if none."""
    for i in range(1, len(offsets)):
        if offsets[i]["offset"] < offsets[i - 1]["offset"]:
            return i
    return -1


def rewind_recovered(offsets: Sequence[CommitEntry], rewind_at: int) -> bool:
    """checkIfRewindRecovered: some entry from the rewind on is back at or past the offset before it."""
    before = offsets[rewind_at - 1]["offset"]
    return any(entry["offset"] >= before for entry in offsets[rewind_at:])


def offsets_stopped(offsets: Sequence[CommitEntry], now_ms: int) -> bool:
    """checkIfOffsetsStopped: the time since the last commit exceeds the time the window spans."""
    first = offsets[0]["timestamp_ms"]
    last = offsets[-1]["timestamp_ms"]
    # Burrow reads the clock in whole seconds before comparing with millisecond commit times.
    now_truncated_ms = now_ms // 1000 * 1000
    return now_truncated_ms - last > last - first


def offsets_stalled(offsets: Sequence[CommitEntry]) -> bool:
    """checkIfOffsetsStalled: every entry has the same offset (true for a single entry)."""
    return all(offsets[i]["offset"] == offsets[i - 1]["offset"] for i in range(1, len(offsets)))


def lag_not_decreasing(offsets: Sequence[CommitEntry]) -> bool:
    """checkIfLagNotDecreasing: no known lag is below the known lag before it."""
    last_lag: int | None = None
    for entry in offsets:
        lag = entry["lag"]
        if lag is None:
            continue
        if last_lag is not None and lag < last_lag:
            return False
        last_lag = lag
    return True


def recent_lag_zero(offsets: Sequence[CommitEntry], broker_offsets: Sequence[int]) -> bool:
    """checkIfRecentLagZero: some recent broker end offset is at or below the last committed offset."""
    last_offset = offsets[-1]["offset"]
    return any(broker_offset <= last_offset for broker_offset in broker_offsets)


def evaluate_partition(
    offsets: Sequence[CommitEntry],
    broker_offsets: Sequence[int],
    current_lag: int,
    now_ms: int,
    allowed_lag: int = 0,
) -> PartitionState:
    """Burrow's calculatePartitionStatus. ``offsets`` and ``broker_offsets`` are oldest first.

    An empty window is OK: Burrow returns before the rules when it has no commit for the partition.
    """
    if not offsets or current_lag <= allowed_lag:
        return "OK"
    # A stop counts even if the lag was zero earlier in the window, unless the consumer was caught up recently.
    if offsets_stopped(offsets, now_ms) and not recent_lag_zero(offsets, broker_offsets):
        return "STOP"
    # Checked before the zero-lag rule: a consumer at lag 0 that rewinds to earliest would otherwise read as OK.
    rewind_at = rewind_index(offsets)
    if rewind_at > 0 and not rewind_recovered(offsets, rewind_at):
        return "REWIND"
    if lag_always_not_zero(offsets, allowed_lag):
        if offsets_stalled(offsets):
            return "STALL"
        if lag_not_decreasing(offsets):
            return "WARN"
    return "OK"


def partition_complete(offsets: Sequence[CommitEntry], window_size: int) -> float:
    """Share of the window that holds entries, as Burrow's PartitionStatus.Complete (0.0 without any entry)."""
    if window_size < 1:
        raise ValueError("window_size must be at least 1")
    return min(len(offsets), window_size) / window_size


# -- From samples to Burrow's inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionWindow:
    """Burrow's inputs for one partition: commit entries and broker end offsets (oldest first), the current lag."""

    offsets: tuple[CommitEntry, ...]
    broker_offsets: tuple[int, ...]
    current_lag: int | None
    window_size: int

    @property
    def complete(self) -> float:
        return partition_complete(self.offsets, self.window_size)


def window_from_samples(samples: Iterable[LagSample], window_size: int) -> PartitionWindow:
    """The commit window, broker offsets and current lag that samples (oldest first) stand for."""
    if window_size < 1:
        raise ValueError("window_size must be at least 1")
    entries: deque[CommitEntry] = deque(maxlen=window_size)
    ends: deque[int] = deque(maxlen=window_size)
    last_committed: int | None = None
    for sample in samples:
        end = sample["end"]
        committed = sample["committed"]
        # Kafka answers -1 for "no committed offset" and for an unreadable end offset.
        if end is not None and end < 0:
            end = None
        if committed is not None and committed < 0:
            committed = None
        if end is not None:
            ends.append(end)
        if committed is None or committed == last_committed:
            continue
        last_committed = committed
        lag = None if end is None else max(end - committed, 0)
        entries.append({"offset": committed, "timestamp_ms": sample["t_ms"], "lag": lag})
    current_lag = None
    if last_committed is not None and ends:
        current_lag = max(ends[-1] - last_committed, 0)
    return PartitionWindow(tuple(entries), tuple(ends), current_lag, window_size)


# -- Partition and group results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionStatus:
    topic: str
    partition: int
    status: PartitionState
    current_lag: int | None
    complete: float
    start: CommitEntry | None = None
    end: CommitEntry | None = None

    def as_api(self) -> PartitionStatusApi:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "status": self.status,
            "current_lag": self.current_lag,
            "complete": self.complete,
            "start": self.start.copy() if self.start else None,
            "end": self.end.copy() if self.end else None,
        }


def partition_status(
    topic: str,
    partition: int,
    window: PartitionWindow,
    now_ms: int,
    allowed_lag: int = 0,
    minimum_complete: float = 0.0,
) -> PartitionStatus:
    """Burrow's evaluatePartitionStatus: the rules run only once the window is at least ``minimum_complete`` full."""
    offsets = window.offsets[-window.window_size :]
    complete = partition_complete(offsets, window.window_size)
    state: PartitionState = "OK"
    if offsets and complete >= minimum_complete:
        # Burrow's current lag is 0 when it cannot compute one, which keeps every rule quiet.
        state = evaluate_partition(offsets, window.broker_offsets, window.current_lag or 0, now_ms, allowed_lag)
    return PartitionStatus(
        topic=topic,
        partition=partition,
        status=state,
        current_lag=window.current_lag,
        complete=complete,
        start=offsets[0] if offsets else None,
        end=offsets[-1] if offsets else None,
    )


@dataclass(frozen=True)
class GroupStatus:
    group: str
    status: GroupState
    complete: float
    total_lag: int
    partitions: tuple[PartitionStatus, ...]
    maxlag: PartitionStatus | None

    @property
    def lag_unknown(self) -> int:
        """Partitions whose current lag is unknown; they are left out of total_lag."""
        return sum(1 for p in self.partitions if p.current_lag is None)

    def as_api(self, show_all: bool = True) -> GroupStatusApi:
        """``show_all=False`` lists only the partitions that are not OK, like Burrow's default answer."""
        shown = [p for p in self.partitions if show_all or p.status != "OK"]
        return {
            "group": self.group,
            "status": self.status,
            "complete": self.complete,
            "total_lag": self.total_lag,
            "lag_unknown": self.lag_unknown,
            "partition_count": len(self.partitions),
            "maxlag": self.maxlag.as_api() if self.maxlag else None,
            "partitions": [p.as_api() for p in shown],
        }


def evaluate_group(group: str, partitions: Iterable[PartitionStatus] | None) -> GroupStatus:
    """Burrow's roll-up of partition results into a group status.

    ``None`` means the group is not known: NOTFOUND, complete 1.0, as Burrow answers. A known group without
    partitions is OK with complete 0.0, as Burrow answers for a group whose topics were deleted.
    """
    if partitions is None:
        return GroupStatus(group, "NOTFOUND", 1.0, 0, (), None)
    rows = tuple(partitions)
    state: GroupState = "OK"
    maxlag: PartitionStatus | None = None
    for row in rows:
        if _SEVERITY[row.status] > _SEVERITY[state]:
            state = "ERR" if _SEVERITY[row.status] > _SEVERITY["ERR"] else "WARN"
        # Strictly greater: on a tie the first partition keeps the place. An unknown lag ranks below any known one.
        if maxlag is None or _lag_rank(row) > _lag_rank(maxlag):
            maxlag = row
    complete = sum(1 for row in rows if row.complete == 1.0) / len(rows) if rows else 0.0
    total_lag = sum(row.current_lag for row in rows if row.current_lag is not None)
    return GroupStatus(group, state, complete, total_lag, rows, maxlag)


def _lag_rank(row: PartitionStatus) -> int:
    return -1 if row.current_lag is None else row.current_lag
