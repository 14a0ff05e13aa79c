"""Sampling the real servers: a stopped consumer becomes STOP/ERR, a catching-up one stays OK, a rewind is seen,
a cluster that is down leaves a gap; the history and status APIs read what was sampled."""

from __future__ import annotations

import asyncio
import copy
from typing import Any
from urllib.parse import quote

import pytest
from django.test import override_settings

from streams.clusters import ClusterConfig
from streams.lag import evaluate, sampling
from streams.lag.models import LagSample, LagStatus, LagSweep
from streams.models import AuditEvent
from tests.kafka import helpers as kafka
from tests.lag.helpers import cluster, sweep, times
from tests.nats import helpers as nats

pytestmark = pytest.mark.django_db


def group_status_url(group: str) -> str:
    return f"/api/v1/clusters/kafka/groups/{quote(group, safe='')}/status"


def test_kafka_groups_stopped_catching_up_and_rewound(viewer_client, kafka_bootstrap, unique):
    topic = kafka.create_topic(kafka_bootstrap, unique)
    kafka.produce(kafka_bootstrap, topic, [b"x"] * 10)
    stopped, catching, rewound = f"{unique}-stopped", f"{unique}-catching", f"{unique}-rewound"
    t0, t1, t2 = times(3)

    kafka.commit(kafka_bootstrap, stopped, {(topic, 0): 2})
    kafka.commit(kafka_bootstrap, catching, {(topic, 0): 1})
    kafka.commit(kafka_bootstrap, rewound, {(topic, 0): 8})
    first = sweep("kafka", t0)
    assert first.ok and first.error == ""

    kafka.produce(kafka_bootstrap, topic, [b"y"] * 2)  # end offset 12
    kafka.commit(kafka_bootstrap, catching, {(topic, 0): 5})
    kafka.commit(kafka_bootstrap, rewound, {(topic, 0): 3})
    sweep("kafka", t1)
    kafka.commit(kafka_bootstrap, catching, {(topic, 0): 9})
    sweep("kafka", t2)

    found = evaluate.evaluate("kafka")
    assert found[("", stopped)].status == "ERR"
    assert [p.status for p in found[("", stopped)].group.partitions] == ["STOP"]
    assert found[("", catching)].status == "OK"
    assert found[("", catching)].total_lag == 3
    assert [p.status for p in found[("", rewound)].group.partitions] == ["REWIND"]

    # The stored statuses, the status API and the audit trail agree.
    stored = {row.consumer: row.status for row in LagStatus.objects.filter(cluster="kafka")}
    assert (stored[stopped], stored[catching], stored[rewound]) == ("ERR", "OK", "ERR")
    answer = viewer_client.get(group_status_url(stopped)).json()
    assert answer["group"] == stopped and answer["status"] == "ERR" and answer["total_lag"] == 10
    (partition,) = answer["partitions"]
    assert (partition["topic"], partition["partition"], partition["status"]) == (topic, 0, "STOP")
    assert partition["current_lag"] == 10 and 0 < partition["complete"] <= 1
    rewound_answer = viewer_client.get(group_status_url(rewound)).json()
    assert rewound_answer["status"] == "ERR" and rewound_answer["partitions"][0]["status"] == "REWIND"
    changes = AuditEvent.objects.filter(action="lag.status.change", cluster="kafka", target=stopped)
    assert [(e.params["from"], e.params["to"], e.username) for e in changes] == [("OK", "ERR", "system")]

    history = viewer_client.get(
        f"/api/v1/clusters/kafka/groups/{quote(catching, safe='')}/history",
        {"since": t0.isoformat(), "until": t2.isoformat()},
    ).json()
    assert [p["lag"] for p in history["points"]] == [9, 7, 3]
    assert history["status"] == "OK"


def test_a_group_seen_once_is_not_judged_yet(kafka_bootstrap, unique):
    topic = kafka.create_topic(kafka_bootstrap, unique)
    kafka.produce(kafka_bootstrap, topic, [b"x"] * 4)
    kafka.commit(kafka_bootstrap, unique, {(topic, 0): 1})
    (t0,) = times(1)
    sweep("kafka", t0)
    assert evaluate.evaluate("kafka")[("", unique)].status == "OK"


def test_jetstream_consumers_stopped_and_catching_up(viewer_client, nats_urls, unique):
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 5)
    nats.add_consumer(url, stream, "stopped")
    nats.add_consumer(url, stream, "catching")
    t0, t1, t2 = times(3)

    nats.fetch_and_ack(url, stream, "catching", 1, 1)
    sweep("nats", t0)
    nats.publish(url, [(f"{unique}.a", b"m", None)] * 2)
    nats.fetch_and_ack(url, stream, "catching", 3, 3)
    sweep("nats", t1)
    nats.fetch_and_ack(url, stream, "catching", 2, 2)
    sweep("nats", t2)

    base = f"/api/v1/clusters/nats/streams/{stream}/consumers"
    stopped = viewer_client.get(f"{base}/stopped/status").json()
    assert stopped["status"] == "ERR" and stopped["total_lag"] == 7
    assert [(p["topic"], p["status"]) for p in stopped["partitions"]] == [(stream, "STOP")]
    assert (stopped["stream"], stopped["consumer"]) == (stream, "stopped")
    catching = viewer_client.get(f"{base}/catching/status").json()
    assert catching["status"] == "OK" and catching["total_lag"] == 1
    history = viewer_client.get(f"{base}/catching/history", {"since": t0.isoformat()}).json()
    assert [p["lag"] for p in history["points"]] == [4, 3, 1]
    assert history["status"] == "OK"


def test_unknown_group_and_consumer_are_notfound(viewer_client, unique):
    answer = viewer_client.get(group_status_url(unique)).json()
    assert answer == {**answer, "group": unique, "status": "NOTFOUND", "partitions": [], "total_lag": 0}
    # Group ids may hold "/": the status and history routes come before the group page's catch-all.
    slashed = viewer_client.get(group_status_url(f"{unique}/status")).json()
    assert slashed["group"] == f"{unique}/status" and slashed["status"] == "NOTFOUND"
    consumer = viewer_client.get(f"/api/v1/clusters/nats/streams/S/consumers/{unique}/status").json()
    assert consumer["status"] == "NOTFOUND"
    history = viewer_client.get(f"/api/v1/clusters/kafka/groups/{quote(unique, safe='')}/history").json()
    assert history["points"] == [] and history["status"] == "NOTFOUND"
    assert viewer_client.get("/api/v1/clusters/nope/groups/g/status").status_code == 404


def test_a_cluster_that_is_down_records_a_gap_not_zeros(viewer_client, kafka_bootstrap, dead_port, unique):
    topic = kafka.create_topic(kafka_bootstrap, unique)
    kafka.produce(kafka_bootstrap, topic, [b"x"] * 6)
    kafka.commit(kafka_bootstrap, unique, {(topic, 0): 2})
    t0, t1, t2 = times(3)
    sweep("kafka", t0)
    with override_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{dead_port}"):
        down = sweep("kafka", t1, again_if_unanswered=False)
    sweep("kafka", t2)

    assert not down.ok and down.error and down.rows == 0
    failed = LagSweep.objects.get(cluster="kafka", at=t1)
    assert failed.error and not LagSample.objects.filter(sweep=failed).exists()
    assert (failed.sweeps_total, failed.errors_total) == (2, 1)
    history = viewer_client.get(
        f"/api/v1/clusters/kafka/groups/{unique}/history", {"since": t0.isoformat(), "until": t2.isoformat()}
    ).json()
    assert [p["lag"] for p in history["points"]] == [4, None, 4]


def test_history_rejects_a_backwards_range(viewer_client):
    response = viewer_client.get(
        "/api/v1/clusters/kafka/groups/g/history", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    assert response.status_code == 400 and response.json()["field"] == "since"
    bad = viewer_client.get("/api/v1/clusters/kafka/groups/g/history", {"range": "2y"})
    assert bad.status_code == 400 and bad.json()["field"] == "range"


def _judged(found: dict[evaluate.SubjectKey, evaluate.Evaluation]) -> dict[evaluate.SubjectKey, dict[str, Any]]:
    return {key: ev.as_api() for key, ev in found.items()}


def test_the_held_window_gives_what_the_database_gives_and_yields_to_another_worker(nats_urls, unique):
    url = nats_urls[0]
    stream = nats.create_own_stream(url, unique)
    nats.add_consumer(url, stream, "slow")
    config = cluster("nats")
    t0, t1, t2, t3, t4 = times(5)
    evaluate.forget()
    for at in (t0, t1, t2):
        nats.publish(url, [(f"{unique}.a", b"m", None)])
        (sweep_of, fresh) = sampling.store(sampling.Reading(config, at, *read(config)))
        held = evaluate.evaluate_sweep("nats", (sweep_of.pk, sweep_of.at), fresh)
        assert _judged(held) == _judged(evaluate.evaluate("nats"))  # from memory from the second sweep on
    assert ("", "slow") not in held and held[(stream, "slow")].group.partitions[0].current_lag == 3

    # Another Celery worker sweeps (t3) while this process holds the window up to t2: its next sweep (t4) must not
    # judge from what it holds, which lacks t3's samples.
    mine = copy.deepcopy(evaluate._held)
    nats.fetch_and_ack(url, stream, "slow", 1, 1)  # a commit only t3 saw
    sampling.sample([config], t3)
    evaluate._held.clear()
    evaluate._held.update(mine)
    nats.publish(url, [(f"{unique}.a", b"m", None)])
    sweep_of, fresh = sampling.store(sampling.Reading(config, t4, *read(config)))
    found = evaluate.evaluate_sweep("nats", (sweep_of.pk, sweep_of.at), fresh)
    assert _judged(found) == _judged(evaluate.evaluate("nats"))
    assert found[(stream, "slow")].group.partitions[0].current_lag == 3
    evaluate.forget()


def read(config: ClusterConfig) -> tuple[list[sampling.SampleRow], int, str]:
    return asyncio.run(sampling.read_nats(config))
