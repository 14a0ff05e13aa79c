"""Managed consumers on Kafka, run by real runconsumers processes: forwarding, retries and dead
letters, failures that stop a consumer visibly, pause and resume, definitions changed live."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from streams.workers.models import ConsumerInstance, ManagedConsumer
from tests.kafka import helpers as kh
from tests.polling import wait_until
from tests.publish.helpers import read_topic, read_topic_to_end
from tests.workers.conftest import lines

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.xdist_group("workers"),
    pytest.mark.usefixtures("notify"),
]


def define(client: Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/workers", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def get(client: Client, name: str) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/workers/{name}").json())


def done(offsets: dict[int, int]) -> int:
    """Messages committed over the partitions (a partition without a commit counts none)."""
    return sum(max(o, 0) for o in offsets.values())


def running(client: Client, name: str) -> dict[str, Any] | None:
    worker = get(client, name)
    live = [i for i in worker["instances"] if i["assignment"]]
    return worker if worker["state"] == "running" and live else None


def test_forward_with_provenance_then_retries_and_dead_letters(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in", partitions=2)
    copy = kh.create_topic(kafka_bootstrap, f"{unique}-copy")
    dead = kh.create_topic(kafka_bootstrap, f"{unique}-dead")
    kh.produce(kafka_bootstrap, source, [f"m{i}" for i in range(20)], key="k", headers=[("trace", b"t")])
    common = {"cluster": "kafka", "topic": source, "start": "earliest"}
    define(operator_client, name=f"{unique}-fwd", group=f"{unique}-fwd", handler="forward",
           config={"cluster": "kafka", "topic": copy}, **common)  # fmt: skip
    define(operator_client, name=f"{unique}-bad", group=f"{unique}-bad", handler="test.fail", max_retries=2,
           retry_backoff_ms=5, dead_letter={"cluster": "kafka", "topic": dead}, **common)  # fmt: skip
    runconsumers()

    copied = read_topic(kafka_bootstrap, copy, [0], expect=20, timeout=40)
    assert sorted(r.value or b"" for r in copied) == sorted(f"m{i}".encode() for i in range(20))
    headers = dict(copied[0].headers)
    assert copied[0].key == b"k" and headers["trace"] == b"t" and headers["streamdesk-origin-topic"] == source.encode()
    assert {"streamdesk-origin-partition", "streamdesk-origin-offset", "streamdesk-origin-cluster"} <= set(headers)

    letters = read_topic(kafka_bootstrap, dead, [0], expect=20, timeout=40)
    assert len(letters) == 20
    first = dict(letters[0].headers)
    assert first["streamdesk-error"].startswith(b"ValueError: cannot handle")
    assert first["streamdesk-handler"] == b"test.fail" and first["streamdesk-attempts"] == b"3"
    assert first["streamdesk-origin-cluster"] == b"kafka" and first["streamdesk-origin-topic"] == source.encode()
    assert first["trace"] == b"t" and letters[0].key == b"k"
    origins = {
        (dict(r.headers)["streamdesk-origin-partition"], dict(r.headers)["streamdesk-origin-offset"]) for r in letters
    }
    assert len(origins) == 20

    def settled() -> bool:
        offsets = [kh.committed(kafka_bootstrap, f"{unique}-{n}", source, [0, 1]) for n in ("fwd", "bad")]
        return all(sum(max(o, 0) for o in each.values()) == 20 for each in offsets)

    wait_until(settled, message="every message committed", timeout=30)
    bad = wait_until(
        lambda: (w := get(operator_client, f"{unique}-bad"))["dead_lettered"] == 20 and w, message="counts", timeout=30
    )
    assert bad["failed"] == 60 and bad["processed"] == 0 and bad["state"] == "running"
    assert "dead-lettered" in bad["last_error"] and bad["last_error_origin"]["topic"] == source
    fwd = wait_until(
        lambda: (w := get(operator_client, f"{unique}-fwd"))["processed"] == 20 and w, message="counts", timeout=30
    )
    assert fwd["lag"] == 0 and fwd["instances"][0]["pid"] > 0


def test_failures_stop_the_consumer_visibly_and_consume_nothing(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str, calls: Path
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    kh.produce(kafka_bootstrap, source, ["a", "b", "c"])
    common = {"cluster": "kafka", "source_kind": "topic", "source": source, "start": "earliest"}
    # Rows as an older definition or another process may have left them: the runner checks again.
    ManagedConsumer.objects.create(name=f"{unique}-gone", group=f"{unique}-gone", handler="test.gone", **common)
    ManagedConsumer.objects.create(name=f"{unique}-cfg", group=f"{unique}-cfg", handler="test.record",
                                   config={"nopath": 1}, **common)  # fmt: skip
    define(operator_client, name=f"{unique}-stuck", topic=source, cluster="kafka", group=f"{unique}-stuck",
           start="earliest", handler="test.record", config={"path": str(calls), "fail_first": 99}, max_retries=1,
           retry_backoff_ms=5, dead_letter=None)  # fmt: skip
    runconsumers()

    def failing(name: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            worker = get(operator_client, f"{unique}-{name}")
            return worker if worker["state"] == "failing" else None

        found: dict[str, Any] = wait_until(check, message=f"{name} failing", timeout=30)
        return found

    for name, says in (("gone", "No handler named 'test.gone'"), ("cfg", "does not fit handler test.record")):
        assert says in failing(name)["last_error"]
    stuck = failing("stuck")
    assert "no dead-letter destination" in stuck["last_error"]
    assert stuck["last_error_origin"] == {"cluster": "kafka", "topic": source, "partition": 0, "offset": 0}
    time.sleep(2)  # a stuck consumer shows only by doing nothing: time for it to go on, were it to
    # Two attempts at the first message and nothing after it; nothing committed by anyone.
    assert [line.split(":")[:3] for line in lines(calls)] == [["0", "0", "1"], ["0", "0", "2"]]
    for name in ("gone", "cfg", "stuck"):
        assert done(kh.committed(kafka_bootstrap, f"{unique}-{name}", source, [0])) == 0

    # Fixed by an edit (a new generation): it starts again from the stuck message.
    edited = operator_client.post(f"/api/v1/workers/{unique}-stuck", {"config": {"path": str(calls)}},
                                  content_type="application/json")  # fmt: skip
    assert edited.status_code == 200, edited.content
    wait_until(
        lambda: kh.committed(kafka_bootstrap, f"{unique}-stuck", source, [0]) == {0: 3}, message="drained", timeout=30
    )
    assert [line.split(":")[-1] for line in lines(calls)[2:]] == ["a", "b", "c"]


def test_pause_stops_handler_calls_and_commits_while_lag_grows_then_resume_drains(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str, calls: Path
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in", partitions=2)
    group = f"{unique}-g"
    define(operator_client, name=unique, cluster="kafka", topic=source, group=group, start="earliest",
           handler="test.record", config={"path": str(calls)}, batch_size=10)  # fmt: skip
    kh.produce(kafka_bootstrap, source, [f"before-{i}" for i in range(20)])
    runconsumers()
    wait_until(lambda: len(lines(calls)) == 20, message="the first 20 handled", timeout=30)
    wait_until(lambda: done(kh.committed(kafka_bootstrap, group, source, [0, 1])) == 20, message="commits", timeout=30)

    assert operator_client.post(f"/api/v1/workers/{unique}/pause").status_code == 202
    wait_until(lambda: get(operator_client, unique)["state"] == "paused", message="paused", timeout=10)
    handled = len(lines(calls))
    committed = kh.committed(kafka_bootstrap, group, source, [0, 1])
    kh.produce(kafka_bootstrap, source, [f"during-{i}" for i in range(30)])
    time.sleep(3)  # a paused consumer shows only by doing nothing: no event follows what it must not take
    assert len(lines(calls)) == handled == 20
    assert kh.committed(kafka_bootstrap, group, source, [0, 1]) == committed
    paused = get(operator_client, unique)
    assert paused["lag"] == 30 and paused["state"] == "paused" and paused["instances"][0]["assignment"]

    assert operator_client.post(f"/api/v1/workers/{unique}/resume").status_code == 202
    wait_until(lambda: len(lines(calls)) >= 50, message="the 30 handled after resume", timeout=30)
    wait_until(lambda: done(kh.committed(kafka_bootstrap, group, source, [0, 1])) == 50, message="commits", timeout=30)
    values = [line.rsplit(":", 1)[-1] for line in lines(calls)]
    assert sorted(values) == sorted([f"before-{i}" for i in range(20)] + [f"during-{i}" for i in range(30)])
    assert wait_until(lambda: get(operator_client, unique)["lag"] == 0, message="lag 0", timeout=30)


def test_definition_changes_are_picked_up_by_notification_without_a_restart(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    first = kh.create_topic(kafka_bootstrap, f"{unique}-first")
    second = kh.create_topic(kafka_bootstrap, f"{unique}-second")
    # Polling every minute: only the Redis notification can explain a quick change.
    runner = runconsumers(STREAMDESK_WORKER_POLL_SECONDS="60")
    define(operator_client, name=unique, cluster="kafka", topic=source, group=f"{unique}-g", start="earliest",
           handler="forward", config={"cluster": "kafka", "topic": first})  # fmt: skip
    kh.produce(kafka_bootstrap, source, ["one"])
    assert [r.value for r in read_topic(kafka_bootstrap, first, [0], expect=1, timeout=30)] == [b"one"]

    edited = operator_client.post(f"/api/v1/workers/{unique}", {"config": {"cluster": "kafka", "topic": second}},
                                  content_type="application/json")  # fmt: skip
    assert edited.status_code == 200 and edited.json()["generation"] == 2
    kh.produce(kafka_bootstrap, source, ["two"])
    assert [r.value for r in read_topic(kafka_bootstrap, second, [0], expect=1, timeout=30)] == [b"two"]
    assert len(read_topic_to_end(kafka_bootstrap, first, [0])) == 1
    worker = wait_until(lambda: (w := get(operator_client, unique))["instances"] and
                        w["instances"][0]["generation"] == 2 and w,
                        message="generation 2 heartbeat", timeout=30)  # fmt: skip
    pid = worker["instances"][0]["pid"]

    stopped = operator_client.post(f"/api/v1/workers/{unique}", {"desired": "stopped"}, content_type="application/json")
    assert stopped.status_code == 200
    wait_until(lambda: get(operator_client, unique)["state"] == "stopped", message="stopped", timeout=15)
    operator_client.delete(f"/api/v1/workers/{unique}")
    assert runner.proc.poll() is None and runner.proc.pid == pid
    assert json.loads(json.dumps(get(operator_client, unique))).get("error")


def test_sigterm_finishes_the_message_in_hand_commits_what_is_done_and_exits(
    operator_client: Client, runconsumers: Any, kafka_bootstrap: str, unique: str, calls: Path
) -> None:
    source = kh.create_topic(kafka_bootstrap, f"{unique}-in")
    group = f"{unique}-g"
    define(operator_client, name=unique, cluster="kafka", topic=source, group=group, start="earliest",
           handler="test.record", config={"path": str(calls), "sleep": 0.2}, batch_size=50)  # fmt: skip
    kh.produce(kafka_bootstrap, source, [f"m{i}" for i in range(50)])
    runner = runconsumers()
    wait_until(lambda: len(lines(calls)) >= 3, message="a few handled", timeout=30)
    assert runner.stop(timeout=20) == 0
    handled = len(lines(calls))
    assert 3 <= handled < 50
    # Mid-batch: exactly what was handled is committed, nothing more.
    assert kh.committed(kafka_bootstrap, group, source, [0]) == {0: handled}
    assert "stopped" in runner.output().splitlines()[-1]
    instance = ConsumerInstance.objects.get(consumer__name=unique)
    assert instance.state == "stopped" and instance.processed == handled
    assert get(operator_client, unique)["state"] == "starting"  # meant to run, said goodbye: not lost

    runconsumers()
    wait_until(lambda: len(lines(calls)) == 50, message="the rest handled by the next process", timeout=60)
    assert [line.rsplit(":", 1)[-1] for line in lines(calls)] == [f"m{i}" for i in range(50)]
