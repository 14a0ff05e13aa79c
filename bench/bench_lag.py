"""Lag history at 10,000 groups x 3 partitions: the sampling sweep, the history query, the Lag overview, /metrics.

Starts its own Kafka (tansu, or Apache Kafka with `--kafka apache`) and a throwaway SQLite database,
commits offsets for 10,000 groups on 100
topics x 3 partitions with the admin API, and gives 200 of the groups 24 hours of history (2,880 sweeps at
30 s, inserted directly). Then it runs real sweeps of the broker through ``streams.lag.sampling`` (the same
steps as the beat task, timed one by one: broker reads, the bulk insert, the evaluation of every group from its
window, the status snapshot), and times the pages through Django's test client (server time: middleware,
view, database, template; no broker round trip). CPU is this process's (``time.process_time``: Streamdesk's
threads and librdkafka's), not the broker's.

    .venv/bin/python -m bench.bench_lag
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import (
    batched_producer_config,
    command,
    commit_offsets,
    django_on,
    kafka_label,
    kafka_server,
    machine,
    median_seconds,
    superuser_get,
    table,
)

# STREAMDESK_BENCH_LAG_GROUPS=50000 checks that 50,000 groups fit in one 30 s sampling interval.
GROUPS = int(os.environ.get("STREAMDESK_BENCH_LAG_GROUPS", "10000"))
TOPICS = 100
PARTITIONS = 3
RECORDS_PER_PARTITION = 4
HISTORY_GROUPS = 200
HISTORY_SWEEPS = 2880  # 24 h at 30 s
SWEEPS = 10  # a full Burrow window
# Between two sweeps this share of the groups commits again (new offsets), as live consumers do.
RECOMMIT_SHARE = 0.1
RUNS = 20
TARGETS = {"sweep": 10.0 if GROUPS <= 10_000 else 30.0, "history": 0.100, "overview": 0.100, "metrics": 0.500}


def _seed(bootstrap: str) -> list[str]:
    """100 topics x 3 partitions with records; 10,000 groups committed on them."""
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [f"lag-{i:03d}" for i in range(TOPICS)]
    for future in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics], operation_timeout=30).values():
        future.result(60)
    producer = Producer(batched_producer_config(bootstrap))
    for topic in topics:
        for partition in range(PARTITIONS):
            for _ in range(RECORDS_PER_PARTITION):
                producer.produce(topic, b"x", partition=partition)
        producer.poll(0)
    assert producer.flush(60) == 0
    groups = [f"group-{i:05d}" for i in range(GROUPS)]
    commit_offsets(
        admin,
        (
            (group, [TopicPartition(topics[i % TOPICS], p, i % RECORDS_PER_PARTITION) for p in range(PARTITIONS)])
            for i, group in enumerate(groups)
        ),
    )
    return groups


def _recommit(bootstrap: str, groups: list[str], round_: int) -> int:
    """A RECOMMIT_SHARE of the groups (a different slice each round) commits new offsets; how many."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    count = max(1, int(len(groups) * RECOMMIT_SHARE))
    start = (round_ * count) % len(groups)

    def commits(k: int) -> tuple[str, list[TopicPartition]]:
        i = (start + k) % len(groups)
        offset = (i + round_ + 1) % (RECORDS_PER_PARTITION + 1)
        return groups[i], [TopicPartition(f"lag-{i % TOPICS:03d}", p, offset) for p in range(PARTITIONS)]

    return commit_offsets(admin, (commits(k) for k in range(count)))


def _bare_offsets(bootstrap: str, groups: list[str], in_flight: int = 32) -> float:
    """The floor under a sweep's broker reads: ListGroups, then every group's committed offsets with the
    client alone (``list_consumer_group_offsets``, as many requests in flight as the sampler keeps)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    started = time.perf_counter()
    admin.list_consumer_groups(request_timeout=60).result(60)
    pending: list[Any] = []
    for name in groups:
        pending.extend(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(name)]).values())
        if len(pending) >= in_flight:
            for future in pending:
                future.result(30)
            pending = []
    for future in pending:
        future.result(30)
    return time.perf_counter() - started


def _history(groups: list[str], end: datetime) -> int:
    """24 h of 30-second samples for the first HISTORY_GROUPS groups, ending at ``end``; rows inserted."""
    from django.db import connection, transaction

    from streams.lag.models import LagSeries, LagSweep

    LagSeries.objects.bulk_create(
        LagSeries(cluster="kafka", kind="kafka", consumer=g, source=f"lag-{i % TOPICS:03d}", partition=p)
        for i, g in enumerate(groups[:HISTORY_GROUPS])
        for p in range(PARTITIONS)
    )
    ids = list(LagSeries.objects.filter(cluster="kafka").values_list("id", flat=True))
    start = end - timedelta(seconds=30 * HISTORY_SWEEPS)
    sweeps = LagSweep.objects.bulk_create(
        LagSweep(cluster="kafka", kind="kafka", at=start + timedelta(seconds=30 * n), rows=len(ids), sweeps_total=n + 1)
        for n in range(HISTORY_SWEEPS)
    )
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for n, sweep in enumerate(sweeps):
            # Committed offsets creep up behind end offsets that grow faster for a while, then catch up.
            committed = 1000 + n * 5
            values = [(sweep.pk, sid, committed, committed + (n % 120) * (k % 7 + 1)) for k, sid in enumerate(ids)]
            cursor.executemany(
                "INSERT INTO streams_lagsample (sweep_id, series_id, committed, end_offset) VALUES (%s, %s, %s, %s)",
                values,
            )
            rows += len(values)
    return rows


def _sweep(config: Any, at: datetime) -> dict[str, float]:
    """One sweep as the beat task runs it, each step timed (wall and this process's CPU)."""
    from streams.lag import alerts, evaluate, sampling

    steps: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    with sampling.collector_paused():
        reading = asyncio.run(sampling.read_cluster(config, at))
        assert not reading.error, reading.error
        steps["read"] = time.perf_counter() - wall
        mark = time.perf_counter()
        sweep, fresh = sampling.store(reading)
        steps["store"] = time.perf_counter() - mark
        mark = time.perf_counter()
        evaluations = evaluate.evaluate_sweep(config.slug, (sweep.pk, sweep.at), fresh)
        steps["evaluate"] = time.perf_counter() - mark
        mark = time.perf_counter()
        alerts.apply(config, evaluations, at)
        steps["statuses"] = time.perf_counter() - mark
    steps["wall"] = time.perf_counter() - wall
    steps["cpu"] = time.process_time() - cpu
    steps["rows"] = float(len(reading.rows))
    steps["groups"] = float(len(evaluations))
    return steps


def measure(bootstrap: str, workdir: Path) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from streams import adapters
    from streams.lag.overview import kafka_laggards

    get = superuser_get()
    from django.test import Client

    htmx = Client()
    htmx.force_login(get_user_model().objects.get(username="bench"))

    def partial(path: str, **params: Any) -> None:
        response = htmx.get(path, params, headers={"HX-Request": "true"})
        assert response.status_code == 200 and b"<html" not in response.content, (path, response.status_code)

    results: dict[str, Any] = {}
    started = time.perf_counter()
    groups = _seed(bootstrap)
    results["seed_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    results["history_rows"] = _history(groups, datetime.now(UTC) - timedelta(minutes=10))
    results["history_seconds"] = time.perf_counter() - started

    config = adapters.get_config("kafka")
    sweeps = []
    for n in range(SWEEPS):
        if n:
            results["recommitted"] = _recommit(bootstrap, groups, n)
        sweeps.append(_sweep(config, datetime.now(UTC)))
    log = adapters.kafka(config).offsets_log.offsets.by_group
    results["offsets_source"] = "`__consumer_offsets`" if log else "OffsetFetch, group by group"
    first, steady = sweeps[0], sweeps[1:]
    results["bare_offsets"] = statistics.median(_bare_offsets(bootstrap, groups) for _ in range(3))
    # Apache Kafka's ListGroups has been seen to leave out a handful of the 10,000 freshly committed groups.
    assert first["groups"] >= GROUPS * 0.99 and first["rows"] >= GROUPS * PARTITIONS * 0.99, first
    results["groups_seen"] = int(min(s["groups"] for s in sweeps))
    results["sweep_first"] = first
    results["sweep"] = {key: statistics.median(s[key] for s in steady) for key in steady[0]}
    results["db_mb"] = (workdir / "bench.sqlite3").stat().st_size / 1e6
    # Said now, so that a failure further on does not lose what the sweeps took.
    print(f"[bench_lag] sweeps: {results['sweep']}; bare loop {results['bare_offsets']:.2f} s", file=sys.stderr)

    group = groups[0]
    answer = get(f"/api/v1/clusters/kafka/groups/{group}/history").json()
    results["history_points"] = len(answer["points"])
    assert results["history_points"] >= HISTORY_SWEEPS - 40, results["history_points"]  # the 24 h end now
    results["history_api"] = median_seconds(lambda: get(f"/api/v1/clusters/kafka/groups/{group}/history"), RUNS)
    results["history_html"] = median_seconds(
        lambda: partial(f"/clusters/kafka/groups/{group}/history", range="24h"), RUNS
    )
    results["status_api"] = median_seconds(lambda: get(f"/api/v1/clusters/kafka/groups/{group}/status"), RUNS)

    # The pages answer from samples only while they are recent, as they are under beat: sweep once more
    # (not measured), since the timings above can outlast that at 50,000 groups.
    _sweep(config, datetime.now(UTC))
    overview = get("/api/v1/lag").json()
    lag = overview["clusters"][0]
    assert lag["source"] == "samples" and lag["total"] >= GROUPS * 0.99, overview
    results["overview_api"] = median_seconds(lambda: get("/api/v1/lag"), RUNS)
    results["overview_api_100"] = median_seconds(lambda: get("/api/v1/lag", limit=100), RUNS)
    results["overview_html"] = median_seconds(lambda: get("/lag"), RUNS)
    results["overview_partial"] = median_seconds(lambda: partial("/lag"), RUNS)

    scrape = get("/metrics")
    results["metrics_bytes"] = len(scrape.content)
    results["metrics_lines"] = scrape.content.count(b"\n")
    results["metrics"] = median_seconds(lambda: get("/metrics"), 7)

    adapter = adapters.kafka(config)
    results["live_overview"] = median_seconds(
        lambda: asyncio.run(kafka_laggards(adapter, 10)), 3, lambda: adapter.invalidate()
    )
    return results


def report(r: dict[str, Any]) -> str:
    def met(value: float, key: str) -> str:
        return "yes" if value < TARGETS[key] else "**no**"

    s, f = r["sweep"], r["sweep_first"]
    rows = [
        (
            f"Sweep of {GROUPS:,} groups x 3 partitions, steady state: wall",
            s["wall"],
            f"< {TARGETS['sweep']:.0f} s",
            met(s["wall"], "sweep"),
        ),
        (
            f"… of which broker reads (ListGroups, committed offsets from {r['offsets_source']}, ListOffsets)",
            s["read"],
            "",
            "",
        ),
        (f"… of which insert of {GROUPS * PARTITIONS:,} sample rows (executemany)", s["store"], "", ""),
        (f"… of which Burrow evaluation of {GROUPS:,} groups over their windows", s["evaluate"], "", ""),
        ("… of which status snapshot and change detection", s["statuses"], "", ""),
        ("Sweep, steady state: CPU of this process", s["cpu"], "", ""),
        (
            f"First sweep (creates the {GROUPS * PARTITIONS:,} series, reads every commit so far): wall",
            f["wall"],
            "",
            "",
        ),
        ("… of which broker reads", f["read"], "", ""),
        (
            f"Baseline: a bare client loop, ListGroups + {GROUPS:,} list_consumer_group_offsets, 32 in flight",
            r["bare_offsets"],
            "",
            "",
        ),
        (
            "History API, 24 h of one group (2,880 samples x 3 partitions)",
            r["history_api"],
            "< 100 ms",
            met(r["history_api"], "history"),
        ),
        ("History chart (HTML partial), 24 h", r["history_html"], "", ""),
        ("Status API of one group (window from its samples)", r["status_api"], "", ""),
        (
            f"Lag overview API, {GROUPS:,} groups, top 10",
            r["overview_api"],
            "< 100 ms",
            met(r["overview_api"], "overview"),
        ),
        ("Lag overview API, top 100", r["overview_api_100"], "", ""),
        ("Lag overview page (HTML)", r["overview_html"], "< 100 ms", met(r["overview_html"], "overview")),
        ("Lag overview partial (the 10 s htmx refresh)", r["overview_partial"], "", ""),
        (
            f"/metrics, {GROUPS:,} groups ({r['metrics_lines']:,} lines, {r['metrics_bytes'] / 1e6:.1f} MB)",
            r["metrics"],
            "< 500 ms",
            met(r["metrics"], "metrics"),
        ),
        ("Baseline: the Lag overview read live from the broker (adapter, cold)", r["live_overview"], "", ""),
    ]
    lines = [
        "## Lag history",
        "",
        f"Measured on {machine()}, against {kafka_label()} on localhost and SQLite (WAL), both started by "
        f"the benchmark. {GROUPS:,} groups commit on {TOPICS} topics x {PARTITIONS} partitions; {HISTORY_GROUPS} of "
        f"them also have 24 h of 30-second samples inserted directly ({r['history_rows']:,} rows), so the sample "
        f"table holds about {r['history_rows'] + SWEEPS * GROUPS * PARTITIONS:,} rows when the pages are timed "
        f"({r['db_mb']:,.0f} MB). Sweeps are real: {SWEEPS} of them, one after the other, as the beat task runs them "
        f"(medians of the last {SWEEPS - 1}); before each of those, {r['recommitted']:,} of the groups commit new "
        f"offsets (untimed). Committed offsets came from {r['offsets_source']}. CPU is this process's, not the "
        "broker's. Pages are server time through "
        f"Django's test client, medians of {RUNS} runs (/metrics: 7), answered from the database. Seeding took "
        f"{r['seed_seconds']:.0f} s and the history {r['history_seconds']:.0f} s.",
        "",
        *table(rows),
        "",
        f"The whole sweep takes {s['wall'] / r['bare_offsets']:.2f}x the bare client loop, its broker reads "
        f"{s['read'] / r['bare_offsets']:.2f}x (the first sweep's {f['read'] / r['bare_offsets']:.2f}x). "
        f"Every sweep saw at least {r['groups_seen']:,} of the {GROUPS:,} groups. "
        f"Answering the Lag overview from the samples is {r['live_overview'] / r['overview_api']:,.0f}x faster than "
        "reading every group's lag from the broker, and its time no longer grows with the broker's answers. The "
        "sweep's evaluation builds every partition's window from the last 10 sweeps as the sweeping process holds "
        "them (the first sweep reads them from the database); the status snapshot rewrites only the rows that changed.",
        "",
        command("lag", f" with `STREAMDESK_BENCH_LAG_GROUPS={GROUPS}`" if GROUPS != 10_000 else ""),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="streamdesk-bench-lag-"))

    with kafka_server(workdir) as bootstrap, django_on(workdir, {"KAFKA_BOOTSTRAP_SERVERS": bootstrap}):
        print(report(measure(bootstrap, workdir)))


if __name__ == "__main__":
    main()
