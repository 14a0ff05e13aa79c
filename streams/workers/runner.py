"""The supervisor behind ``manage.py runconsumers``: one process, many managed consumers.

- **Loops**: one thread per managed consumer (``KafkaLoop`` or ``NatsLoop``), each with its
  own broker client. Many processes running the same consumer share its work through the
  broker (Kafka group membership, one JetStream durable pulled by all).
- **Reconcile**: the main thread reads every definition when woken by a Redis notification
  (``streams.workers.notify``) and every ``STREAMDESK_WORKER_POLL_SECONDS`` otherwise, then
  starts, stops, pauses and resumes loops to match. A new ``generation`` (an edit, a restart)
  stops the old loop and starts a new one with new clients.
- **Heartbeats**: every ``STREAMDESK_WORKER_HEARTBEAT_SECONDS`` the main thread writes one
  ``ConsumerInstance`` row per loop (state, assignment, counters, rate, handler latency,
  last error) and adds the counters' growth to the consumer's totals. Loops never touch
  the database.
- **Shutdown**: ``request_stop()`` (SIGTERM/SIGINT) makes every loop finish the message in
  hand and commit (Kafka) or ack (JetStream) what is done, a Kafka loop then leaving its group;
  ``shutdown()`` waits at most the grace for them, writes their last heartbeat (``stopped``) and
  returns.
"""

from __future__ import annotations

import collections
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections
from django.db.models import F
from django.utils import timezone

from streams import adapters
from streams.clusters import ClusterConfig, ClusterConfigError
from streams.workers.kafka_loop import KafkaLoop
from streams.workers.loop import ConsumerLoop, ErrorNote, Spec
from streams.workers.models import ConsumerInstance, ManagedConsumer
from streams.workers.nats_loop import NatsLoop
from streams.workers.notify import CHANNEL

logger = logging.getLogger("streams.workers")

RATE_SAMPLES = 60


@dataclass
class Seen:
    """What the last heartbeat of a loop reported, to send only the growth since."""

    at: float
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0
    calls: int = 0
    error: ErrorNote | None = None


class Runner:
    def __init__(
        self,
        *,
        resolve: Callable[[str], ClusterConfig] | None = None,
        loop_types: Mapping[str, type[ConsumerLoop]] | None = None,
    ) -> None:
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.instance_id = f"{self.host}-{self.pid}-{secrets.token_hex(2)}"
        # Loops never touch the database: they resolve clusters from the list the last reconcile read.
        self.clusters: list[ClusterConfig] = []
        self.resolve = resolve or self.find_cluster
        self.loop_types = loop_types or {
            ManagedConsumer.SourceKind.TOPIC: KafkaLoop,
            ManagedConsumer.SourceKind.STREAM: NatsLoop,
        }
        self.loops: dict[int, ConsumerLoop] = {}
        self.retired: list[ConsumerLoop] = []
        self.seen: dict[int, Seen] = {}  # keyed by id(loop)
        self.rates: dict[int, collections.deque[float]] = {}
        self.wake = threading.Event()
        self.stop_requested = threading.Event()
        self.listener: threading.Thread | None = None
        # A loop waits for its previous generation to stop: reconcile again in a moment.
        self.soon = False

    # -- the main loop ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stop_requested.set()
        self.wake.set()

    def run(self) -> None:
        """Reconcile and heartbeat until asked to stop (then ``shutdown()``)."""
        self.listen()
        next_reconcile = next_beat = 0.0
        while not self.stop_requested.is_set():
            now = time.monotonic()
            # A database that restarted, or a connection past its age, is replaced between steps.
            close_old_connections()
            if self.wake.is_set() or now >= next_reconcile:
                self.wake.clear()
                self.reconcile()
                next_reconcile = time.monotonic() + (0.1 if self.soon else settings.WORKER_POLL_SECONDS)
            if now >= next_beat:
                self.heartbeat()
                next_beat = time.monotonic() + settings.WORKER_HEARTBEAT_SECONDS
            self.wake.wait(max(0.0, min(next_reconcile, next_beat) - time.monotonic()))

    def reconcile(self) -> None:
        """Start, stop, pause and resume loops so that they match the definitions."""
        try:
            rows = {row.pk: row for row in ManagedConsumer.objects.all()}
            self.clusters = adapters.clusters(fresh=True)
        except (DatabaseError, ClusterConfigError) as exc:
            logger.warning("cannot read the managed consumers (keeping the loops as they are): %s", exc)
            return
        self.soon = False
        for pk, loop in list(self.loops.items()):
            row = rows.get(pk)
            if row is None or row.desired == ManagedConsumer.Desired.STOPPED or row.generation != loop.spec.generation:
                self._retire(pk)
        for pk, row in rows.items():
            if row.desired == ManagedConsumer.Desired.STOPPED:
                continue
            running = self.loops.get(pk)
            if running is None:
                if any(old.spec.id == pk and old.is_alive() for old in self.retired):
                    # Its previous generation is still leaving its Kafka group: joining now would make
                    # the group wait for a member that is on its way out. Look again shortly.
                    self.soon = True
                    continue
                self._start(row)
            else:
                running.set_paused(row.desired == ManagedConsumer.Desired.PAUSED)

    def find_cluster(self, slug: str) -> ClusterConfig:
        return adapters.find(slug, self.clusters)

    def _start(self, row: ManagedConsumer) -> None:
        spec = Spec.from_row(row)
        loop = self.loop_types[spec.source_kind](spec, self.resolve, self.instance_id)
        self.loops[row.pk] = loop
        self.seen[id(loop)] = Seen(at=time.monotonic())
        self.rates[id(loop)] = collections.deque(maxlen=RATE_SAMPLES)
        logger.info("starting managed consumer %s (generation %d)", spec.name, spec.generation)
        loop.start()

    def _retire(self, pk: int) -> None:
        loop = self.loops.pop(pk)
        logger.info("stopping managed consumer %s (generation %d)", loop.spec.name, loop.spec.generation)
        loop.request_stop()
        self.retired.append(loop)

    # -- heartbeats -----------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """One row per loop: state, assignment, counters; the consumers' totals grow by what was done."""
        try:
            done = [loop for loop in self.retired if not loop.is_alive()]
            for loop in done:
                self.retired.remove(loop)
            # A retired loop whose consumer runs a newer loop here adds its counts but not its row.
            for loop in [*done, *self.retired, *self.loops.values()]:
                newest = self.loops.get(loop.spec.id)
                self._beat(loop, write_row=newest is None or newest is loop)
            for loop in done:
                self.seen.pop(id(loop), None)
                self.rates.pop(id(loop), None)
        except DatabaseError as exc:
            logger.warning("heartbeat failed: %s", exc)

    def _beat(self, loop: ConsumerLoop, *, write_row: bool) -> None:
        now_m = time.monotonic()
        seen = self.seen.setdefault(id(loop), Seen(at=now_m))
        stats = loop.stats
        processed, failed, dead = stats.processed, stats.failed, stats.dead_lettered
        seconds, calls = stats.handler_seconds, stats.handler_calls
        elapsed = max(now_m - seen.at, 1e-3)
        grown = processed - seen.processed
        rate = grown / elapsed
        latency = (seconds - seen.seconds) / (calls - seen.calls) * 1000 if calls > seen.calls else None
        rates = self.rates.setdefault(id(loop), collections.deque(maxlen=RATE_SAMPLES))
        rates.append(round(rate, 1))
        error = loop.error
        updates: dict[str, object] = {}
        if grown or failed != seen.failed or dead != seen.dead_lettered:
            updates.update(
                processed=F("processed") + grown,
                failed=F("failed") + (failed - seen.failed),
                dead_lettered=F("dead_lettered") + (dead - seen.dead_lettered),
            )
        if error is not None and error is not seen.error:
            updates.update(last_error=error.message[:4000], last_error_at=error.at, last_error_origin=error.origin)
        if updates:
            ManagedConsumer.objects.filter(pk=loop.spec.id).update(**updates)
        seen.at, seen.processed, seen.failed, seen.dead_lettered = now_m, processed, failed, dead
        seen.seconds, seen.calls, seen.error = seconds, calls, error
        if write_row:
            self._write_instance(loop, rate, latency, list(rates))

    def _write_instance(self, loop: ConsumerLoop, rate: float, latency: float | None, rates: list[float]) -> None:
        now = timezone.now()
        fields: dict[str, object] = {
            "host": self.host,
            "pid": self.pid,
            "started_at": loop.started_at,
            "heartbeat_at": now,
            "state": loop.state,
            "assignment": loop.assignment,
            "processed": loop.stats.processed,
            "failed": loop.stats.failed,
            "dead_lettered": loop.stats.dead_lettered,
            "rate": round(rate, 2),
            "rates": rates,
            "latency_ms": None if latency is None else round(latency, 3),
            "last_error": loop.error.message[:4000] if loop.error else "",
            "last_error_origin": loop.error.origin if loop.error else None,
            "generation": loop.spec.generation,
        }
        updated = ConsumerInstance.objects.filter(consumer_id=loop.spec.id, instance_id=self.instance_id).update(
            **fields
        )
        if updated or not ManagedConsumer.objects.filter(pk=loop.spec.id).exists():
            return  # written, or the consumer was deleted meanwhile
        try:
            ConsumerInstance.objects.create(consumer_id=loop.spec.id, instance_id=self.instance_id, **fields)
        except IntegrityError:
            pass  # the consumer was deleted meanwhile

    # -- notifications ----------------------------------------------------------------------------------

    def listen(self) -> None:
        """A thread that wakes the main loop on every notification (when Redis is configured)."""
        if not settings.REDIS_URL or self.listener is not None:
            return
        self.listener = threading.Thread(target=self._listen, name="runner-notifications", daemon=True)
        self.listener.start()

    def _listen(self) -> None:
        import redis

        while not self.stop_requested.is_set():
            try:
                client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                # Whatever was said while not listening: look now.
                self.wake.set()
                while not self.stop_requested.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self.wake.set()
                pubsub.close()
                client.close()
            except (redis.RedisError, OSError) as exc:
                logger.debug("runner notifications: %s", exc)
                self.stop_requested.wait(2.0)

    # -- shutdown -------------------------------------------------------------------------------------------

    def shutdown(self, grace: float | None = None) -> bool:
        """Stop every loop within ``grace`` seconds; their last heartbeats say so. True when all stopped."""
        grace = settings.WORKER_GRACE_SECONDS if grace is None else grace
        self.stop_requested.set()
        for pk in list(self.loops):
            self._retire(pk)
        deadline = time.monotonic() + grace
        for loop in self.retired:
            loop.join(max(0.0, deadline - time.monotonic()))
        stuck = [loop.spec.name for loop in self.retired if loop.is_alive()]
        self.heartbeat()
        if stuck:
            logger.warning("managed consumers still busy after %.0f s, left behind: %s", grace, ", ".join(stuck))
        return not stuck

    def snapshot(self) -> dict[str, str]:
        """Loop states by consumer name (for logs and tests)."""
        return {loop.spec.name: loop.state for loop in self.loops.values()}
