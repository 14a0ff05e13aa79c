"""Real processes dying: a runconsumers killed with -9 mid-stream loses nothing, and two processes
share a topic's partitions and take over from each other."""

from __future__ import annotations

import collections
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from streams.workers.models import ConsumerInstance
from streams.workers.tasks import mark_lost
from tests.kafka import helpers as kh
from tests.polling import wait_until
from tests.publish.helpers import read_topic
from tests.workers.conftest import lines
from tests.workers.test_kafka import define, get

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("workers"),
    pytest.mark.usefixtures("notify"),
    pytest.mark.slow,
]

TOTAL = 3000
BATCH = 50


def test_kill_9_mid_stream_loses_nothing_and_duplicates_stay_within_a_batch_per_partition(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in", partitions=3)
    sink = kh.create_topic(kafka_bootstrap, f"{unique}-out")
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="forward", config={"cluster": "kafka", "topic": sink}, batch_size=BATCH)  # fmt: skip
    first = runconsumers()

    def produce() -> None:
        # A steady stream, spread over the partitions, while the consumer is killed and replaced.
        for start in range(0, TOTAL, 100):
            for partition in range(3):
                values = [f"v{i}" for i in range(start, start + 100) if i % 3 == partition]
                kh.produce(kafka_bootstrap, source, values, partition=partition)
            time.sleep(0.1)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_until(lambda: len(read_topic(kafka_bootstrap, sink, [0], expect=300, timeout=1)) >= 300,
                   message="part of the stream forwarded", timeout=60)  # fmt: skip
        first.kill()
        runconsumers()
    finally:
        producer.join()

    wanted = {f"v{i}".encode() for i in range(TOTAL)}

    def everything() -> list[Any] | None:
        found = read_topic(kafka_bootstrap, sink, [0], expect=TOTAL * 2, timeout=1)
        return found if {r.value for r in found} >= wanted else None

    records = wait_until(everything, message="every input message in the output", timeout=90, interval=1)
    per_partition = collections.Counter(dict(r.headers)["streamdesk-origin-partition"] for r in records)
    copies = collections.Counter(r.value for r in records)
    duplicates = collections.Counter(
        dict(r.headers)["streamdesk-origin-partition"] for r in records if copies[r.value] > 1
    )
    assert sum(per_partition.values()) == len(records)
    for partition, count in duplicates.items():
        # Each duplicated message shows up (at least) twice; what was redone is at most one batch per partition.
        assert count // 2 <= BATCH, (partition, count)
    print(f"{len(records) - TOTAL} duplicates after kill -9 ({dict(duplicates)})")


def test_two_processes_share_the_partitions_and_take_over_when_one_dies(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str, calls: Path
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in", partitions=3)
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="test.record", config={"path": str(calls)})  # fmt: skip
    first, second = runconsumers(), runconsumers()

    def shared() -> dict[int, list[int]] | None:
        instances = get(operator_client, unique)["instances"]
        owned = {i["pid"]: sorted(p for _, p in i["assignment"]) for i in instances}
        taken = sorted(p for parts in owned.values() for p in parts)
        return owned if len(owned) == 2 and all(owned.values()) and taken == [0, 1, 2] else None

    owned = wait_until(shared, message="both processes holding partitions", timeout=60)
    assert set(owned) == {first.proc.pid, second.proc.pid}
    for partition in range(3):
        kh.produce(kafka_bootstrap, source, [f"a{partition}-{i}" for i in range(10)], partition=partition)
    wait_until(lambda: len(lines(calls)) == 30, message="30 handled by the two", timeout=30)

    first.kill()

    def taken_over() -> bool:
        instances = get(operator_client, unique)["instances"]
        mine = [i for i in instances if i["pid"] == second.proc.pid]
        return bool(mine) and sorted(p for _, p in mine[0]["assignment"]) == [0, 1, 2]

    wait_until(taken_over, message="the survivor holding every partition", timeout=60)
    for partition in range(3):
        kh.produce(kafka_bootstrap, source, [f"b{partition}-{i}" for i in range(10)], partition=partition)
    wait_until(lambda: len({line.rsplit(":", 1)[-1] for line in lines(calls)}) == 60, message="60 handled", timeout=30)

    # The killed process's last heartbeat came before the takeover, the survivor's after it: half a
    # second past the survivor's, only the killed one has been silent for longer than a second.
    last = ConsumerInstance.objects.get(consumer__name=unique, pid=second.proc.pid).heartbeat_at
    with override_settings(WORKER_LOST_AFTER_SECONDS=1):
        mark_lost(now=last + timedelta(seconds=0.5))
        dead = ConsumerInstance.objects.get(consumer__name=unique, pid=first.proc.pid)
        alive = ConsumerInstance.objects.get(consumer__name=unique, pid=second.proc.pid)
        assert (dead.state, alive.state) == ("lost", "running")


def test_a_paused_consumer_stays_paused_through_a_rebalance(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str, calls: Path
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in", partitions=3)
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="test.record", config={"path": str(calls)}, desired="paused")  # fmt: skip
    first = runconsumers()
    wait_until(lambda: (w := get(operator_client, unique))["state"] == "paused" and w["instances"][0]["assignment"],
               message="paused with partitions", timeout=30)  # fmt: skip
    second = runconsumers()

    def both_hold_partitions() -> bool:
        instances = get(operator_client, unique)["instances"]
        return len(instances) == 2 and all(i["assignment"] and i["state"] == "paused" for i in instances)

    # The second member's join reassigns the partitions: each side pauses what it is given.
    wait_until(both_hold_partitions, message="the partitions shared, both paused", timeout=60)
    for partition in range(3):
        kh.produce(kafka_bootstrap, source, [f"p{partition}-{i}" for i in range(5)], partition=partition)
    time.sleep(3)  # a paused consumer shows only by doing nothing: no event follows what it must not take
    assert lines(calls) == []
    assert first.proc.poll() is None and second.proc.poll() is None

    assert operator_client.post(f"/api/v1/workers/{unique}/resume").status_code == 202
    wait_until(lambda: len(lines(calls)) == 15, message="all 15 handled after resume", timeout=30)
