"""Burrow's lag rules: its evaluator test table, its group answers, and windows built from samples."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from streams.lag.status import (
    CommitEntry,
    LagSample,
    PartitionState,
    PartitionStatus,
    PartitionWindow,
    evaluate_group,
    evaluate_partition,
    lag_always_not_zero,
    lag_not_decreasing,
    offsets_stalled,
    offsets_stopped,
    partition_complete,
    partition_status,
    recent_lag_zero,
    rewind_index,
    window_from_samples,
)


def entries(*rows: tuple[int, int, int | None]) -> list[CommitEntry]:
    return [{"offset": offset, "timestamp_ms": ts, "lag": lag} for offset, ts, lag in rows]


# -- Burrow's table (core/internal/evaluator/caching_test.go, `tests`), case by case -------------------------------
# Burrow's timeNow is in seconds; here it is kept as `time_now_s` and passed on as milliseconds.


@dataclass(frozen=True)
class Rules:
    """What each of Burrow's rule functions returns for a case, named after them."""

    lag_always_not_zero: bool  # isLagAlwaysNotZero
    rewind_index: int  # checkIfOffsetsRewind
    stopped: bool  # checkIfOffsetsStopped
    stalled: bool  # checkIfOffsetsStalled
    lag_not_decreasing: bool  # checkIfLagNotDecreasing
    recent_lag_zero: bool  # checkIfRecentLagZero


@dataclass(frozen=True)
class BurrowCase:
    offsets: list[CommitEntry]
    broker_offsets: list[int]
    current_lag: int
    time_now_s: int
    allowed_lag: int
    rules: Rules
    status: str


STEADY_ZERO_FIRST = entries(
    (1000, 100000, 0), (2000, 200000, 50), (3000, 300000, 100), (4000, 400000, 150), (5000, 500000, 200)
)
STEADY_NEVER_ZERO = entries(
    (1000, 100000, 50), (2000, 200000, 100), (3000, 300000, 150), (4000, 400000, 200), (5000, 500000, 250)
)
STANDING_ZERO_FIRST = entries(
    (1000, 100000, 0), (1000, 200000, 50), (1000, 300000, 100), (1000, 400000, 150), (1000, 500000, 200)
)
STANDING_NEVER_ZERO = entries(
    (1000, 100000, 100), (1000, 200000, 150), (1000, 300000, 200), (1000, 400000, 250), (1000, 500000, 300)
)
STANDING_CONSTANT_LAG = entries(
    (1000, 100000, 100), (1000, 200000, 100), (1000, 300000, 100), (1000, 400000, 100), (1000, 500000, 100)
)
REWIND_RECOVERED = entries(
    (1000, 100000, 100), (2000, 200000, 150), (3000, 300000, 200), (2000, 400000, 1250), (4000, 500000, 300)
)
REWIND_NOT_RECOVERED = entries(
    (1000, 100000, 100), (2000, 200000, 150), (3000, 300000, 200), (2000, 400000, 1250), (2500, 500000, 300)
)
STEADY_WITH_UNKNOWN_LAGS = entries(
    (1000, 100000, 0), (1500, 150000, None), (2000, 200000, 50), (2500, 250000, None), (3000, 300000, 100),
    (3500, 350000, None), (4000, 400000, 150), (4500, 450000, None), (5000, 500000, 200), (5500, 550000, None),
)  # fmt: skip
# Burrow's cases 9 and 10: one commit a second, always at lag 0.
CAUGHT_UP = entries(*[(792748079 + i, ts, 0) for i, ts in enumerate([
    1512224618356, 1512224619362, 1512224620366, 1512224621367, 1512224622370, 1512224623373, 1512224624378,
    1512224625379, 1512224626383, 1512224627383, 1512224628383, 1512224629388, 1512224630391, 1512224631394,
    1512224632397,
])])  # fmt: skip

BURROW_TABLE = {
    # 0 - returns OK because there is zero lag somewhere
    "0-zero-lag-somewhere": BurrowCase(
        STEADY_ZERO_FIRST, [5200], current_lag=200, time_now_s=600, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=False, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 1 - same status; not stopped as the time since the last commit (400s) equals the window span, not greater
    "1-stop-boundary-not-greater": BurrowCase(
        STEADY_ZERO_FIRST, [5200], current_lag=200, time_now_s=900, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=False, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 2 - STOP: the time since the last commit (500s) is long enough, even though lag is zero at the start (#290)
    "2-stop-despite-zero-lag": BurrowCase(
        STEADY_ZERO_FIRST, [5200], current_lag=200, time_now_s=1000, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=True, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="STOP",
    ),
    # 3 - STOP when lag is always non-zero as well
    "3-stop-lag-never-zero": BurrowCase(
        STEADY_NEVER_ZERO, [5250], current_lag=250, time_now_s=1000, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=-1, stopped=True, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="STOP",
    ),
    # 4 - OK because of zero lag, though stalled (the offset never moves while there is lag)
    "4-stalled-but-zero-lag": BurrowCase(
        STANDING_ZERO_FIRST, [1200], current_lag=200, time_now_s=600, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=False, stalled=True,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 5 - STALL because the lag is always non-zero
    "5-stall": BurrowCase(
        STANDING_NEVER_ZERO, [1300], current_lag=300, time_now_s=600, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=-1, stopped=False, stalled=True,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="STALL",
    ),
    # 6 - still STALL when the lag stays the same
    "6-stall-constant-lag": BurrowCase(
        STANDING_CONSTANT_LAG, [1100], current_lag=100, time_now_s=600, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=-1, stopped=False, stalled=True,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="STALL",
    ),
    # 7 - OK: the offsets go backwards, but the consumer gets back past the rewind and the lag decreases
    "7-rewind-recovered": BurrowCase(
        REWIND_RECOVERED, [4300], current_lag=300, time_now_s=600, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=3, stopped=False, stalled=False,
            lag_not_decreasing=False, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 8 - OK because the current lag is 0, even though the timestamps say stopped
    "8-current-lag-zero": BurrowCase(
        STEADY_NEVER_ZERO, [5250], current_lag=0, time_now_s=1000, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=-1, stopped=True, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 9 - STOP by timestamps: current lag is non-zero although every commit had lag 0 (#290)
    "9-stop-after-zero-lag-commits": BurrowCase(
        CAUGHT_UP, [792749024, 792749000, 792748800, 792748600, 792748500], current_lag=931,
        time_now_s=1512224650, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=True, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="STOP",
    ),
    # 10 - OK though stopped by timestamps: a recent broker offset shows the lag was zero (#303)
    "10-stop-held-by-recent-zero-lag": BurrowCase(
        CAUGHT_UP, [792748094, 792748093, 792748093, 792748093], current_lag=1, time_now_s=1512224650, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=True, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=True
        ),
        status="OK",
    ),
    # 11 - case 0 with entries of unknown lag in between, which must not change anything
    "11-unknown-lag-entries": BurrowCase(
        STEADY_WITH_UNKNOWN_LAGS, [5700], current_lag=200, time_now_s=600, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=False, stalled=False,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 12 - OK although the current lag is above zero and stopped by timestamps, thanks to the allowed lag
    "12-allowed-lag": BurrowCase(
        entries((1000, 100000, 2), (2000, 200000, 1), (2000, 300000, 1)), [2001], current_lag=1, time_now_s=550,
        allowed_lag=1,
        rules=Rules(
            lag_always_not_zero=False, rewind_index=-1, stopped=True, stalled=False,
            lag_not_decreasing=False, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 13 - case 5 with an allowed lag
    "13-stall-with-allowed-lag": BurrowCase(
        STANDING_NEVER_ZERO, [1300], current_lag=300, time_now_s=600, allowed_lag=99,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=-1, stopped=False, stalled=True,
            lag_not_decreasing=True, recent_lag_zero=False
        ),
        status="STALL",
    ),
    # 14 - case 7 with an allowed lag
    "14-rewind-recovered-with-allowed-lag": BurrowCase(
        REWIND_RECOVERED, [4300], current_lag=300, time_now_s=600, allowed_lag=99,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=3, stopped=False, stalled=False,
            lag_not_decreasing=False, recent_lag_zero=False
        ),
        status="OK",
    ),
    # 15 - REWIND: the consumer did not get back to the offset before the rewind
    "15-rewind-not-recovered": BurrowCase(
        REWIND_NOT_RECOVERED, [4300], current_lag=300, time_now_s=600, allowed_lag=0,
        rules=Rules(
            lag_always_not_zero=True, rewind_index=3, stopped=False, stalled=False,
            lag_not_decreasing=False, recent_lag_zero=False
        ),
        status="REWIND",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BURROW_TABLE.values(), ids=BURROW_TABLE.keys())
def test_burrow_rules(case):
    now_ms = case.time_now_s * 1000
    rules = Rules(
        lag_always_not_zero=lag_always_not_zero(case.offsets, case.allowed_lag),
        rewind_index=rewind_index(case.offsets),
        stopped=offsets_stopped(case.offsets, now_ms),
        stalled=offsets_stalled(case.offsets),
        lag_not_decreasing=lag_not_decreasing(case.offsets),
        recent_lag_zero=recent_lag_zero(case.offsets, case.broker_offsets),
    )
    assert rules == case.rules


@pytest.mark.parametrize("case", BURROW_TABLE.values(), ids=BURROW_TABLE.keys())
def test_burrow_status(case):
    now_ms = case.time_now_s * 1000
    status = evaluate_partition(case.offsets, case.broker_offsets, case.current_lag, now_ms, case.allowed_lag)
    assert status == case.status


def test_burrow_reads_the_clock_in_whole_seconds():
    # Case 1 sits on the stop boundary; Burrow at 900.999 s still sees 900 s.
    assert evaluate_partition(STEADY_ZERO_FIRST, [5200], 200, 900_999) == "OK"
    assert evaluate_partition(STEADY_ZERO_FIRST, [5200], 200, 901_000) == "STOP"


def test_no_entries_is_ok():
    assert evaluate_partition([], [5000], 500, 10_000) == "OK"


def test_lag_within_allowed_lag_is_ok_whatever_the_window():
    assert evaluate_partition(STANDING_NEVER_ZERO, [1300], 300, 10_000_000, allowed_lag=300) == "OK"
    assert evaluate_partition(STANDING_NEVER_ZERO, [1300], 300, 10_000_000, allowed_lag=299) == "STOP"


def test_slow_consumer_is_warn():
    growing_lag = entries((1000, 100000, 100), (2000, 200000, 150), (3000, 300000, 200))
    assert evaluate_partition(growing_lag, [3200], 200, 350_000) == "WARN"


# -- Completeness --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "window_size", "complete"),
    [(0, 10, 0.0), (5, 10, 0.5), (7, 10, 0.7), (10, 10, 1.0), (12, 10, 1.0), (1, 1, 1.0)],
)
def test_partition_complete(count, window_size, complete):
    rows = entries(*[(1000 + i, 1000 * i, 0) for i in range(count)])
    assert partition_complete(rows, window_size) == pytest.approx(complete)


def test_window_size_must_be_positive():
    with pytest.raises(ValueError):
        partition_complete([], 0)
    with pytest.raises(ValueError):
        window_from_samples([], 0)


# -- Group roll-up -------------------------------------------------------------------------------------------------


def row(
    status: PartitionState = "OK", lag: int | None = 0, complete: float = 1.0, topic: str = "t", partition: int = 0
) -> PartitionStatus:
    return PartitionStatus(topic, partition, status, lag, complete)


def test_unknown_group_is_notfound():
    group = evaluate_group("g", None)
    assert group.as_api() == {
        "group": "g",
        "status": "NOTFOUND",
        "complete": 1.0,
        "total_lag": 0,
        "lag_unknown": 0,
        "partition_count": 0,
        "maxlag": None,
        "partitions": [],
    }


def test_group_without_partitions_is_ok_and_incomplete():
    # Burrow's TestCachingEvaluator_TopicDeleted: the group is still known, its topic is gone.
    group = evaluate_group("g", [])
    assert (group.status, group.complete, group.total_lag, group.maxlag) == ("OK", 0.0, 0, None)


def test_all_ok_is_ok():
    group = evaluate_group("g", [row(lag=3, partition=0), row(lag=4, partition=1)])
    assert (group.status, group.complete, group.total_lag) == ("OK", 1.0, 7)


def test_warn_partition_makes_group_warn():
    assert evaluate_group("g", [row(), row("WARN", partition=1)]).status == "WARN"


@pytest.mark.parametrize("bad", ["STOP", "STALL", "REWIND"])
@pytest.mark.parametrize("warn_first", [True, False])
def test_stop_stall_rewind_make_group_err(bad, warn_first):
    rows = [row("WARN", partition=0), row(bad, partition=1), row(partition=2)]
    if not warn_first:
        rows.reverse()
    group = evaluate_group("g", rows)
    assert group.status == "ERR"
    assert [p["status"] for p in group.as_api()["partitions"]] == [r.status for r in rows]


def test_group_complete_counts_only_full_partitions():
    rows = [row(complete=1.0, partition=0), row(complete=0.9, partition=1), row(complete=0.0, partition=2)]
    rows.append(row(complete=1.0, partition=3))
    assert evaluate_group("g", rows).complete == 0.5


def test_total_lag_skips_unknown_lag():
    group = evaluate_group("g", [row(lag=10, partition=0), row(lag=None, partition=1), row(lag=5, partition=2)])
    assert (group.total_lag, group.lag_unknown) == (15, 1)


def test_maxlag_is_first_partition_with_highest_lag():
    rows = [row(lag=None, partition=0), row(lag=7, partition=1), row(lag=9, partition=2), row(lag=9, partition=3)]
    maxlag = evaluate_group("g", rows).maxlag
    assert maxlag is not None and maxlag.partition == 2
    only_unknown = evaluate_group("g", [row(lag=None, partition=0), row(lag=None, partition=1)]).maxlag
    assert only_unknown is not None and only_unknown.partition == 0


def test_show_all_false_lists_only_partitions_not_ok():
    # Burrow's TestCachingEvaluator_SingleRequest_NoShowAll answers without the OK partitions.
    group = evaluate_group("g", [row(partition=0), row("STOP", lag=5, partition=1)])
    api = group.as_api(show_all=False)
    assert [p["partition"] for p in api["partitions"]] == [1]
    assert api["partition_count"] == 2
    assert len(group.as_api()["partitions"]) == 2


def burrow_fixture_window(commits: int, now_ms: int) -> PartitionWindow:
    # Burrow's storage fixture: broker offset 4321, commits 1000, 1100, ... every 10 s from 100 s ago, 10 intervals.
    start_ms = now_ms - 100_000
    offsets = entries(*[(1000 + i * 100, start_ms + i * 10_000, 4321 - (1000 + i * 100)) for i in range(commits)])
    return PartitionWindow(tuple(offsets), (4321,), 4321 - offsets[-1]["offset"], 10)


def test_burrow_fixture_full_ring():
    # Burrow's TestCachingEvaluator_SingleRequest_ShowAll.
    now_ms = 1_700_000_000_000
    status = partition_status("testtopic", 0, burrow_fixture_window(10, now_ms), now_ms)
    group = evaluate_group("testgroup", [status])
    assert (group.status, group.complete, group.total_lag, len(group.partitions)) == ("OK", 1.0, 2421, 1)


def test_burrow_fixture_partial_ring():
    # Burrow's TestCachingEvaluator_SingleRequest_Incomplete.
    now_ms = 1_700_000_000_000
    status = partition_status("testtopic", 0, burrow_fixture_window(5, now_ms), now_ms)
    group = evaluate_group("testgroup2", [status])
    assert (group.status, group.complete, group.total_lag) == ("ERR", 0.0, 2921)
    assert (status.status, status.complete) == ("STOP", 0.5)
    assert group.maxlag is status
    assert status.start is not None and status.start["offset"] == 1000
    assert status.end is not None and status.end["offset"] == 1400


def test_minimum_complete_holds_back_the_rules():
    now_ms = 1_700_000_000_000
    window = burrow_fixture_window(5, now_ms)
    assert partition_status("t", 0, window, now_ms, minimum_complete=0.5).status == "STOP"
    assert partition_status("t", 0, window, now_ms, minimum_complete=0.6).status == "OK"


def test_partition_status_as_api():
    window = PartitionWindow(tuple(entries((10, 1000, 0), (15, 2000, 0))), (15,), 0, 4)
    api = partition_status("orders", 3, window, 2000).as_api()
    assert api == {
        "topic": "orders",
        "partition": 3,
        "status": "OK",
        "current_lag": 0,
        "complete": 0.5,
        "start": {"offset": 10, "timestamp_ms": 1000, "lag": 0},
        "end": {"offset": 15, "timestamp_ms": 2000, "lag": 0},
    }


# -- Windows from samples ------------------------------------------------------------------------------------------

STEP_MS = 30_000


def samples(*rows: tuple[int | None, int | None]) -> list[LagSample]:
    """(committed, end) every 30 s from t=30 s."""
    return [{"t_ms": (i + 1) * STEP_MS, "committed": c, "end": e} for i, (c, e) in enumerate(rows)]


def test_moving_offsets_make_one_entry_per_sample():
    window = window_from_samples(samples((100, 150), (200, 260), (300, 330)), 10)
    assert window.offsets == tuple(entries((100, 30_000, 50), (200, 60_000, 60), (300, 90_000, 30)))
    assert window.broker_offsets == (150, 260, 330)
    assert window.current_lag == 30
    assert window.complete == pytest.approx(0.3)
    assert partition_status("t", 0, window, 90_000).status == "OK"


def test_standing_offset_is_one_entry_from_when_it_was_first_seen():
    window = window_from_samples(samples((100, 150), (100, 180), (100, 220)), 10)
    assert window.offsets == tuple(entries((100, 30_000, 50)))
    assert window.broker_offsets == (150, 180, 220)
    assert window.current_lag == 120
    # Lagging and never seen caught up: Burrow's stop rule.
    assert partition_status("t", 0, window, 90_000).status == "STOP"


def test_standing_offset_of_an_idle_group_is_not_stop_while_it_was_caught_up_recently():
    window = window_from_samples(samples((100, 100), (100, 100), (100, 100), (100, 104)), 10)
    assert window.offsets == tuple(entries((100, 30_000, 0)))
    assert partition_status("t", 0, window, 120_000).status == "OK"
    # Once the caught-up broker offsets have left the window, the standing offset reads as STOP.
    aged = window_from_samples(samples((100, 100), (100, 104), (100, 110)), 2)
    assert aged.broker_offsets == (104, 110)
    assert partition_status("t", 0, aged, 90_000).status == "STOP"


def test_rewind_between_samples_is_a_new_entry():
    window = window_from_samples(samples((500, 600), (900, 1000), (400, 1100), (450, 1200)), 10)
    assert [e["offset"] for e in window.offsets] == [500, 900, 400, 450]
    assert partition_status("t", 0, window, 120_000).status == "REWIND"


def test_gaps_are_not_zeros():
    window = window_from_samples(samples((100, 150), (200, None), (200, None), (300, 400)), 10)
    assert window.offsets == tuple(entries((100, 30_000, 50), (200, 60_000, None), (300, 120_000, 100)))
    assert window.broker_offsets == (150, 400)
    assert window.current_lag == 100


def test_broker_down_keeps_the_last_end_offset_read():
    window = window_from_samples(samples((100, 150), (100, None), (100, None)), 10)
    assert window.broker_offsets == (150,)
    assert window.current_lag == 50
    # An unread end offset taken as 0 would look like a recent catch-up and hide the stop.
    assert partition_status("t", 0, window, 90_000).status == "STOP"


def test_no_end_offset_ever_read_leaves_the_lag_unknown():
    window = window_from_samples(samples((100, None), (100, None)), 10)
    assert window.offsets == tuple(entries((100, 30_000, None)))
    assert window.broker_offsets == ()
    assert window.current_lag is None
    assert partition_status("t", 0, window, 60_000).status == "OK"


def test_no_commit():
    window = window_from_samples(samples((None, 150), (None, 180), (-1, 200)), 10)
    assert window.offsets == ()
    assert window.broker_offsets == (150, 180, 200)
    assert window.current_lag is None
    status = partition_status("t", 0, window, 90_000)
    assert (status.status, status.complete, status.current_lag, status.start) == ("OK", 0.0, None, None)
    assert evaluate_group("g", [status]).complete == 0.0


def test_commit_missing_for_a_while_does_not_repeat_its_entry():
    window = window_from_samples(samples((100, 150), (None, 150), (100, 160), (120, 170)), 10)
    assert [(e["offset"], e["timestamp_ms"]) for e in window.offsets] == [(100, 30_000), (120, 120_000)]


def test_committed_past_the_end_offset_is_lag_zero():
    window = window_from_samples(
        samples(
            (210, 200),
        ),
        10,
    )
    assert window.offsets[0]["lag"] == 0
    assert window.current_lag == 0


def test_windows_keep_the_last_window_size_values():
    window = window_from_samples(samples(*[(100 * i, 100 * i + 10) for i in range(1, 8)]), 3)
    assert [e["offset"] for e in window.offsets] == [500, 600, 700]
    assert window.broker_offsets == (510, 610, 710)
    assert window.complete == 1.0


def test_single_entry_window_is_stall_within_its_second_then_stop():
    # Burrow's stop rule needs the last commit older than the window's span, which is 0 for a single entry.
    window = window_from_samples(samples((100, 150)), 10)
    assert partition_status("t", 0, window, 30_999).status == "STALL"
    assert partition_status("t", 0, window, 31_000).status == "STOP"
