"""One AdminClient per Kafka cluster per process, its thread pool, and the answer cache.

librdkafka calls block, so each one runs on a bounded thread pool with a deadline; a
broker that does not answer becomes ``BrokerUnavailable`` instead of a hung request.
librdkafka reconnects on its own with backoff. Answers are cached briefly and dropped
at once when the client reports the brokers gone or a call fails.

librdkafka aborts the process when a client is destroyed on one of its own threads. An
admin call's answer runs Python code on the client's background thread, and the garbage
collector may run there; a client that was only reachable through a reference cycle would
then be destroyed on that thread. So the clients hold their connection only weakly, a
closed connection never makes new ones, and every client a connection lets go of is
destroyed on ``streams.kafka.reaper``'s thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings

from streams.clusters import ClusterConfig
from streams.errors import BrokerUnavailable
from streams.health import ClusterHealth, measure
from streams.kafka import reaper
from streams.kafka.client import UNAVAILABLE_CODES, client_config, translate, translate_write
from streams.kafka.offset_reader import OffsetReader
from streams.kafka.offsets_log import OffsetsLog
from streams.ttlcache import TTLCache

T = TypeVar("T")

RETIRE_INTERVAL_SECONDS = 10.0
# A failed login (SASL, TLS) reaches only the client's error callback; the call itself just
# sees "transport failure". Such a refusal explains the calls that fail within this long.
REFUSAL_MEMORY_SECONDS = 60.0
REFUSAL_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})


def _error_callback(connection: KafkaConnection) -> Callable[[KafkaError], None]:
    """The clients' ``error_cb``, holding ``connection`` weakly so that no cycle keeps a client alive."""
    ref = weakref.ref(connection)

    def on_error(error: KafkaError) -> None:
        target = ref()
        if target is not None:
            target._on_client_error(error)

    return on_error


class KafkaConnection:
    """The AdminClient, its thread pool, deadlines and typed errors, and the answer cache."""

    kind = "kafka"

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.timeout = settings.BROKER_TIMEOUT_SECONDS
        self._executor = ThreadPoolExecutor(
            max_workers=settings.BROKER_EXECUTOR_THREADS, thread_name_prefix=f"kafka-{config.slug}"
        )
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._offsets: OffsetReader | None = None
        self._offsets_log: OffsetsLog | None = None
        self._retired_at = float("-inf")
        self._retired: list[tuple[float, AdminClient]] = []
        self._lock = threading.Lock()
        # Room for a per-group entry of every group of a large cluster, so one sweep fits.
        self.cache = TTLCache(max_entries=50_000)
        # Moves on with every write; see ``_sweep``.
        self._epoch = 0
        self._refused: tuple[float, str] | None = None
        self._closed = False

    def _ensure_open(self) -> None:
        if self._closed:
            raise BrokerUnavailable(f"Kafka client of {self.config.slug} was restarting; try again")

    @property
    def admin(self) -> AdminClient:
        with self._lock:
            self._ensure_open()
            if self._admin is None:
                self._admin = AdminClient(client_config(self.config) | {"error_cb": _error_callback(self)})
            return self._admin

    @property
    def offsets_client(self) -> OffsetReader:
        """Where committed offsets are asked (``streams.kafka.offset_reader``: a child process)."""
        with self._lock:
            self._ensure_open()
            if self._offsets is None:
                self._offsets = OffsetReader(client_config(self.config))
            return self._offsets

    @property
    def offsets_log(self) -> OffsetsLog:
        """Every group's commits as ``__consumer_offsets`` has them, for lag sweeps (``streams.kafka.offsets_log``)."""
        with self._lock:
            self._ensure_open()
            if self._offsets_log is None:
                self._offsets_log = OffsetsLog(client_config(self.config))
            return self._offsets_log

    @property
    def producer(self) -> Producer:
        """The cluster's producer for single publishes: nothing lingers, nothing is retried past the deadline."""
        with self._lock:
            self._ensure_open()
            if self._producer is None:
                deadline_ms = int(self.timeout * 1000)
                self._producer = Producer(
                    client_config(self.config)
                    | {
                        "client.id": "streamdesk-publisher",
                        "linger.ms": 0,
                        # librdkafka gives up on a message when the caller does, so a publish
                        # reported as failed is never delivered later.
                        "message.timeout.ms": deadline_ms,
                        "message.max.bytes": settings.PUBLISH_MAX_BYTES + 64 * 1024,
                        "error_cb": _error_callback(self),
                    }
                )
            return self._producer

    def _on_client_error(self, error: KafkaError) -> None:
        """librdkafka lost the brokers: cached answers describe a cluster that may be gone."""
        if error.code() in REFUSAL_CODES:
            self._refused = (time.monotonic(), error.str())
        if error.code() in UNAVAILABLE_CODES or error.code() in REFUSAL_CODES:
            self.invalidate()

    def _refusal(self, what: str) -> BrokerUnavailable | None:
        """A login (SASL or TLS) failed lately: say that rather than "did not answer"."""
        self._notice_client_errors()
        refused = self._refused
        if refused is None or time.monotonic() - refused[0] > REFUSAL_MEMORY_SECONDS:
            return None
        reason = refused[1]
        return BrokerUnavailable(f"Could not log in to Kafka ({what}): {reason}; check the credentials and TLS files")

    def _notice_client_errors(self) -> None:
        """Serve the client's queued error events (cheap, never blocks) before a cached answer is trusted."""
        admin = self._admin
        if admin is not None:
            admin.poll(0)

    async def call(self, fn: Callable[..., T], *args: Any, what: str, timeout: float | None = None) -> T:
        """Run a blocking client call on the pool; failures come back as typed errors."""
        deadline = timeout or self.timeout
        loop = asyncio.get_running_loop()
        try:
            answer = await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), deadline + 0.5)
        except (KafkaException, TimeoutError) as exc:
            error = translate(exc, what)
            if isinstance(error, BrokerUnavailable):
                error = self._refusal(what) or error
                self.invalidate()
                self._retire_admin()
            raise error from exc
        except RuntimeError as exc:  # executor shut down while the config changed
            raise BrokerUnavailable(f"Kafka client was restarting ({what}); try again") from exc
        self._refused = None
        return answer

    def _retire_admin(self) -> None:
        """Start the next call on a new client after one timed out.

        A broker that stalls and comes back can leave librdkafka's connection to it
        answering nothing (seen with the group coordinator), while a new connection
        works at once. At most one new client per ``RETIRE_INTERVAL_SECONDS``, so a
        broker that is simply down does not churn clients. The old client lives on
        past every deadline of the calls that may still be using it.
        """
        now = time.monotonic()
        with self._lock:
            old = self._admin
            if old is None or now - self._retired_at < RETIRE_INTERVAL_SECONDS:
                return
            self._admin = None
            self._retired_at = now
            done: list[object] = [client for until, client in self._retired if until <= now]
            self._retired = [(until, c) for until, c in self._retired if until > now]
            self._retired.append((now + self.timeout * 10, old))
        del old
        reaper.destroy(done)

    # -- caching -------------------------------------------------------------------------

    @property
    def ttl(self) -> float:
        return float(settings.BROKER_CACHE_SECONDS)

    def invalidate(self, *prefix: Hashable) -> None:
        """Forget cached answers (all of them, or those under ``prefix``) after a write."""
        self._epoch += 1
        self.cache.invalidate(tuple(prefix) if prefix else None)

    async def _sweep(self, kind: str, names: Iterable[Any], load: Callable[[], Awaitable[T]]) -> T:
        """Concurrent identical sweeps (the same ``names``, in any order) share one ``load``.

        The Lag page refreshes every few seconds in every open tab: without this, each
        refresh that misses the per-item entries repeats the whole sweep. Nothing is
        kept under the sweep's key (the per-item entries are the cache), and a write
        moves the epoch on, so a sweep asked after a write never joins one begun before it.
        """
        key = ("sweep", kind, self._epoch, tuple(sorted(set(names))))
        return await self.cache.get_or_load(key, 0, load)

    @staticmethod
    def _writing(
        run: Callable[[], None], what: str, field_names: Mapping[str, str] | None = None
    ) -> Callable[[], None]:
        """``run`` with the broker's refusals of the request mapped to 400/409 naming the field."""

        def guarded() -> None:
            try:
                run()
            except KafkaException as exc:
                raise translate_write(exc, what, field_names) from exc

        return guarded

    async def ping(self) -> ClusterHealth:
        async def roundtrip() -> str:
            metadata = await self.call(lambda: self.admin.list_topics(timeout=self.timeout), what="metadata")
            return f"{len(metadata.brokers)} broker(s)"

        return await measure(self.config, roundtrip)

    def _hand_over(self) -> list[object]:
        """Take the clients out; the connection makes no new ones after this."""
        self._closed = True
        clients: list[object] = [c for c in (self._admin, self._producer) if c is not None]
        clients += [client for _, client in self._retired]
        self._admin = None
        self._producer = None
        self._retired = []
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None
        if self._offsets_log is not None:
            clients += self._offsets_log.hand_over()
            self._offsets_log = None
        return clients

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            clients = self._hand_over()
        reaper.destroy(clients)

    def __del__(self) -> None:
        # Reached without close() (a connection built for one use, or freed by the garbage
        # collector on whichever thread it runs). No lock: the collector may run on a thread
        # that holds it.
        if not getattr(self, "_closed", True):
            reaper.destroy(self._hand_over())
