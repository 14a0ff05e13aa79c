"""The runner's steps, one at a time, on the database, with stand-in loops instead of brokers:
reconcile starts, pauses, restarts and stops loops; heartbeats write instances and add counts."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from streams.workers.loop import ConsumerLoop, ErrorNote, State
from streams.workers.models import ConsumerInstance, ManagedConsumer
from streams.workers.runner import Runner
from streams.workers.tasks import mark_lost
from tests.polling import wait_until

pytestmark = pytest.mark.django_db


class StandIn(ConsumerLoop):
    """Runs no client: it says it is running (or paused) until told to stop; ``linger`` delays the stop."""

    linger = threading.Event()

    def run(self) -> None:
        while not self.stopping:
            self.state = State.PAUSED if self.want_paused else State.RUNNING
            time.sleep(0.01)
        self.linger.wait(5)
        self.state = State.STOPPED


def runner() -> Runner:
    StandIn.linger.set()
    return Runner(loop_types={"topic": StandIn, "stream": StandIn})


def consumer(name: str, **fields: Any) -> ManagedConsumer:
    defaults = {"cluster": "kafka", "source_kind": "topic", "source": "t", "group": name, "handler": "discard"}
    return ManagedConsumer.objects.create(name=name, **{**defaults, **fields})


def settle(r: Runner) -> None:
    """Every loop told to stop has stopped, and every other one is in the state it was told."""

    def settled() -> bool:
        for loop in [*r.loops.values(), *r.retired]:
            if loop.stopping:
                if loop.is_alive():
                    return False
            elif loop.state != (State.PAUSED if loop.want_paused else State.RUNNING):
                return False
        return True

    wait_until(settled, timeout=5, interval=0.01, message="the loops settled")


def test_reconcile_follows_the_definitions() -> None:
    r = runner()
    try:
        a = consumer("a")
        consumer("b", desired="paused")
        consumer("c", desired="stopped")
        r.reconcile()
        assert set(r.snapshot()) == {"a", "b"}
        settle(r)
        assert r.snapshot() == {"a": "running", "b": "paused"}

        ManagedConsumer.objects.filter(name="a").update(desired="paused")
        ManagedConsumer.objects.filter(name="b").update(desired="running")
        r.reconcile()
        settle(r)
        assert r.snapshot() == {"a": "paused", "b": "running"}

        first = r.loops[a.pk]
        ManagedConsumer.objects.filter(name="a").update(generation=2)
        r.reconcile()
        assert first.stopping
        settle(r)
        r.reconcile()
        assert r.loops[a.pk] is not first and r.loops[a.pk].spec.generation == 2

        ManagedConsumer.objects.filter(name="b").delete()
        ManagedConsumer.objects.filter(name="c").update(desired="running")
        r.reconcile()
        assert set(r.snapshot()) == {"a", "c"}
    finally:
        r.shutdown(grace=5)


def test_a_new_generation_waits_for_the_old_one_to_leave() -> None:
    r = runner()
    try:
        a = consumer("a")
        r.reconcile()
        StandIn.linger.clear()
        ManagedConsumer.objects.filter(pk=a.pk).update(generation=2)
        r.reconcile()
        assert a.pk not in r.loops and r.soon  # the old loop is still on its way out
        StandIn.linger.set()
        settle(r)
        r.reconcile()
        assert r.loops[a.pk].spec.generation == 2 and not r.soon
    finally:
        StandIn.linger.set()
        r.shutdown(grace=5)


def test_heartbeats_write_instances_and_add_counts_to_the_totals() -> None:
    r = runner()
    try:
        a = consumer("a")
        r.reconcile()
        settle(r)
        loop = r.loops[a.pk]
        loop.stats.processed, loop.stats.failed, loop.stats.dead_lettered = 10, 2, 1
        loop.stats.handler_seconds, loop.stats.handler_calls = 0.024, 12
        loop.assignment = [["t", 0], ["t", 1]]
        loop.error = ErrorNote("ValueError: no", {"cluster": "kafka", "topic": "t", "partition": 1, "offset": 7})
        r.heartbeat()
        instance = ConsumerInstance.objects.get(consumer=a)
        assert (instance.state, instance.processed, instance.failed, instance.dead_lettered) == ("running", 10, 2, 1)
        assert instance.assignment == [["t", 0], ["t", 1]] and instance.latency_ms == 2.0
        assert instance.instance_id == r.instance_id and instance.generation == 1
        a.refresh_from_db()
        assert (a.processed, a.failed, a.dead_lettered) == (10, 2, 1)
        assert a.last_error == "ValueError: no" and (a.last_error_origin or {}).get("offset") == 7

        loop.stats.processed = 15
        r.heartbeat()
        a.refresh_from_db()
        assert a.processed == 15  # only the growth is added
        assert ConsumerInstance.objects.get(consumer=a).rates[-1] > 0
    finally:
        r.shutdown(grace=5)
    instance = ConsumerInstance.objects.get(consumer=a)
    assert instance.state == "stopped"


def test_beat_marks_silent_instances_lost_and_forgets_long_gone_ones(settings: Any) -> None:
    a = consumer("a")
    now = timezone.now()
    common = {"consumer": a, "host": "h", "pid": 1, "started_at": now}
    ConsumerInstance.objects.create(instance_id="fresh", heartbeat_at=now, state="running", **common)
    ConsumerInstance.objects.create(
        instance_id="silent", heartbeat_at=now - timedelta(seconds=60), state="running", **common
    )
    ConsumerInstance.objects.create(
        instance_id="ancient", heartbeat_at=now - timedelta(hours=2), state="stopped", **common
    )
    settings.WORKER_LOST_AFTER_SECONDS = 15
    assert mark_lost(now=now) == (1, 1)
    states = dict(ConsumerInstance.objects.values_list("instance_id", "state"))
    assert states == {"fresh": "running", "silent": "lost"}
