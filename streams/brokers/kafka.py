"""Kafka adapter on confluent-kafka.

librdkafka calls block, so each one runs on the adapter's bounded thread pool
with a deadline; a broker that does not answer becomes ``BrokerUnavailable``
instead of a hung request. One AdminClient per cluster per process is reused;
librdkafka reconnects on its own with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, TypeVar

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)
from django.conf import settings

from streams.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    ClusterHealth,
    Conflict,
    InvalidInput,
    NotFound,
    NotSupported,
    StreamdeskError,
)
from streams.brokers.kafka_types import (
    BrowseResult,
    ClusterMetadata,
    ConfigItem,
    GroupDescription,
    GroupListing,
    KafkaMessage,
    MemberInfo,
    PartitionInfo,
    ReadRange,
    TopicInfo,
    TopicPartitionKey,
    Watermark,
    is_internal_topic,
)
from streams.clusters import ClusterConfig
from streams.kafka_browse import matches, merge
from streams.payloads import DISPLAY_LIMIT, Payload, header_pairs
from streams.ttlcache import TTLCache

T = TypeVar("T")

logger = logging.getLogger("streams.brokers.kafka")
librdkafka_logger = logging.getLogger("streams.brokers.librdkafka")

_UNAVAILABLE_CODES = {
    KafkaError._DESTROY,
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}
_NOT_FOUND_CODES = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError.GROUP_ID_NOT_FOUND,
}
# OffsetFetch is one group per request; this many go out at once.
GROUP_FETCH_PARALLELISM = 32
BROWSER_GROUP = "streamdesk-browser"
_BROWSE_FATAL_CODES = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError._AUTHENTICATION,
}
_NOT_SUPPORTED_CODES = {
    KafkaError.UNSUPPORTED_VERSION,
    KafkaError.INVALID_REQUEST,
    KafkaError._UNSUPPORTED_FEATURE,
    KafkaError._NOT_IMPLEMENTED,
}


def client_config(config: ClusterConfig) -> dict[str, Any]:
    """librdkafka settings for a cluster, auth included."""
    conf: dict[str, Any] = {
        "bootstrap.servers": ",".join(config.servers),
        "client.id": "streamdesk",
        "socket.timeout.ms": int(settings.BROKER_TIMEOUT_SECONDS * 1000),
        "socket.connection.setup.timeout.ms": int(settings.BROKER_TIMEOUT_SECONDS * 1000),
        "reconnect.backoff.ms": 200,
        "reconnect.backoff.max.ms": 5000,
        "logger": librdkafka_logger,
    }
    if config.security_protocol:
        conf["security.protocol"] = config.security_protocol
    if config.sasl_mechanism:
        conf["sasl.mechanism"] = config.sasl_mechanism
        conf["sasl.username"] = config.username
        conf["sasl.password"] = config.password
    if config.tls_ca_file:
        conf["ssl.ca.location"] = config.tls_ca_file
    if config.tls_cert_file:
        conf["ssl.certificate.location"] = config.tls_cert_file
    if config.tls_key_file:
        conf["ssl.key.location"] = config.tls_key_file
    return conf


def translate(exc: BaseException, what: str) -> Exception:
    """Map a confluent-kafka failure to one typed error."""
    if isinstance(exc, KafkaException):
        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError):
            code = err.code()
            reason = err.str()
            if code in _UNAVAILABLE_CODES:
                return BrokerUnavailable(f"Kafka did not answer ({what}): {reason}")
            if code in _NOT_FOUND_CODES:
                return NotFound(f"{what}: {reason}")
            if code in _NOT_SUPPORTED_CODES:
                return NotSupported(f"{what} is not supported by this broker ({reason})")
            return BrokerError(f"{what} failed: {reason}")
    if isinstance(exc, TimeoutError):
        return BrokerUnavailable(f"Kafka did not answer within {settings.BROKER_TIMEOUT_SECONDS:g} s ({what})")
    return BrokerError(f"{what} failed: {exc}")


# Errors a write can meet that say something about the request rather than the broker.
_WRITE_ERRORS: dict[int, tuple[type[StreamdeskError], str | None]] = {
    KafkaError.TOPIC_ALREADY_EXISTS: (Conflict, "name"),
    KafkaError.TOPIC_EXCEPTION: (InvalidInput, "name"),
    KafkaError.INVALID_PARTITIONS: (InvalidInput, "partitions"),
    KafkaError.INVALID_REPLICATION_FACTOR: (InvalidInput, "replication_factor"),
    KafkaError.INVALID_REPLICA_ASSIGNMENT: (InvalidInput, "replication_factor"),
    KafkaError.INVALID_CONFIG: (InvalidInput, "configs"),
    KafkaError.POLICY_VIOLATION: (InvalidInput, None),
    KafkaError.NON_EMPTY_GROUP: (Conflict, None),
    KafkaError.UNKNOWN_MEMBER_ID: (Conflict, None),
    KafkaError.ILLEGAL_GENERATION: (Conflict, None),
    KafkaError.REBALANCE_IN_PROGRESS: (Conflict, None),
    KafkaError.FENCED_INSTANCE_ID: (Conflict, None),
    KafkaError.OFFSET_METADATA_TOO_LARGE: (InvalidInput, None),
}


def translate_write(exc: BaseException, what: str, field_names: Mapping[str, str] | None = None) -> Exception:
    """Like ``translate``, but a refusal caused by the request becomes 400/409 naming the field."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if isinstance(err, KafkaError) and err.code() in _WRITE_ERRORS:
        kind, field = _WRITE_ERRORS[err.code()]
        if field is not None and field_names:
            field = field_names.get(field, field)
        if kind is Conflict and err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
            return Conflict(f"{what}: the group has active members ({err.str()}); stop its consumers first.")
        return kind(f"{what}: {err.str()}", field=field)
    return translate(exc, what)


def _error_of(exc: BaseException) -> KafkaError | None:
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return err if isinstance(err, KafkaError) else None


def _state_name(state: Any) -> str:
    name = getattr(state, "name", None) or str(state or "UNKNOWN")
    return str(name).upper()


def metadata_from(md: Any) -> ClusterMetadata:
    """confluent-kafka ClusterMetadata -> neutral, sorted by partition."""
    topics: dict[str, TopicInfo] = {}
    for name, topic in md.topics.items():
        parts = tuple(
            PartitionInfo(
                partition=p.id,
                leader=p.leader,
                replicas=tuple(p.replicas),
                isr=tuple(p.isrs),
                error=p.error.str() if p.error else None,
            )
            for p in sorted(topic.partitions.values(), key=lambda p: p.id)
        )
        error = topic.error.str() if topic.error else None
        topics[name] = TopicInfo(name=name, partitions=parts, internal=is_internal_topic(name), error=error)
    brokers = {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}
    controller = md.controller_id if md.controller_id is not None and md.controller_id >= 0 else None
    return ClusterMetadata(topics=topics, brokers=brokers, controller=controller, cluster_id=md.cluster_id)


def listing_from(listing: Any) -> GroupListing:
    return GroupListing(
        group=listing.group_id,
        state=_state_name(getattr(listing, "state", None)),
        simple=bool(getattr(listing, "is_simple_consumer_group", False)),
    )


def group_from_description(desc: Any) -> GroupDescription:
    members = []
    for member in desc.members or ():
        assignment = getattr(member, "assignment", None)
        tps = getattr(assignment, "topic_partitions", None) or ()
        members.append(
            MemberInfo(
                member_id=member.member_id or "",
                client_id=member.client_id or "",
                host=member.host or "",
                instance_id=getattr(member, "group_instance_id", None),
                assignment=tuple(sorted((tp.topic, tp.partition) for tp in tps)),
            )
        )
    coordinator = getattr(desc, "coordinator", None)
    return GroupDescription(
        group=desc.group_id,
        state=_state_name(desc.state),
        members=tuple(sorted(members, key=lambda m: (m.client_id, m.member_id))),
        assignor=getattr(desc, "partition_assignor", "") or "",
        coordinator=getattr(coordinator, "id", None),
        simple=bool(getattr(desc, "is_simple_consumer_group", False)),
    )


def configs_from(entries: Mapping[str, Any]) -> tuple[ConfigItem, ...]:
    """DescribeConfigs entries; sensitive values are never passed on."""
    items = []
    for name, entry in sorted(entries.items()):
        sensitive = bool(getattr(entry, "is_sensitive", False))
        source = getattr(entry, "source", None)
        items.append(
            ConfigItem(
                name=name,
                value=None if sensitive else entry.value,
                source=_state_name(source).removesuffix("_CONFIG").lower() if source is not None else "unknown",
                default=bool(getattr(entry, "is_default", False)),
                sensitive=sensitive,
                read_only=bool(getattr(entry, "is_read_only", False)),
            )
        )
    return tuple(items)


_TIMESTAMP_TYPES = {0: "none", 1: "create", 2: "log_append"}


def message_from(msg: Any, limit: int | None) -> KafkaMessage:
    kind, stamp = msg.timestamp()
    return KafkaMessage(
        partition=msg.partition(),
        offset=msg.offset(),
        timestamp_ms=stamp if kind and stamp is not None and stamp >= 0 else None,
        timestamp_type=_TIMESTAMP_TYPES.get(kind, "none"),
        key=Payload.of(msg.key(), limit),
        value=Payload.of(msg.value(), limit),
        headers=tuple(header_pairs(msg.headers(), limit or DISPLAY_LIMIT)),
    )


def _gather(futures: Mapping[Any, Future[Any]], deadline: float) -> tuple[dict[Any, Any], dict[Any, BaseException]]:
    """Results and failures of admin futures, keyed like the input, within one deadline."""
    results: dict[Any, Any] = {}
    failures: dict[Any, BaseException] = {}
    # Wait for all of them at once: one silent partition (a topic deleted a moment
    # ago has no leader) must not use up the time the others' answers need.
    wait(list(futures.values()), timeout=max(0.0, deadline - time.monotonic()))
    for key, future in futures.items():
        if not future.done():
            failures[key] = TimeoutError(f"no answer for {key}")
            continue
        try:
            results[key] = future.result(timeout=0)
        except KafkaException as exc:
            failures[key] = exc
    return results, failures


RETIRE_INTERVAL_SECONDS = 10.0


def _release(client: AdminClient) -> None:
    """Holds the last reference to a retired client, so it is destroyed on a pool thread."""


class KafkaAdapter:
    kind = "kafka"

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.timeout = settings.BROKER_TIMEOUT_SECONDS
        self._executor = ThreadPoolExecutor(
            max_workers=settings.BROKER_EXECUTOR_THREADS, thread_name_prefix=f"kafka-{config.slug}"
        )
        self._admin: AdminClient | None = None
        self._retired_at = float("-inf")
        self._retired: list[tuple[float, AdminClient]] = []
        self._lock = threading.Lock()
        # Room for a per-group entry of every group of a large cluster, so one sweep fits.
        self.cache = TTLCache(max_entries=50_000)
        # Moves on with every write; see ``_sweep``.
        self._epoch = 0

    @property
    def admin(self) -> AdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = AdminClient(client_config(self.config))
            return self._admin

    async def call(self, fn: Callable[..., T], *args: Any, what: str, timeout: float | None = None) -> T:
        """Run a blocking client call on the pool; failures come back as typed errors."""
        deadline = timeout or self.timeout
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), deadline + 0.5)
        except (KafkaException, TimeoutError) as exc:
            error = translate(exc, what)
            if isinstance(error, BrokerUnavailable):
                self._retire_admin()
            raise error from exc
        except RuntimeError as exc:  # executor shut down while the config changed
            raise BrokerUnavailable(f"Kafka client was restarting ({what}); try again") from exc

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
            done = [client for until, client in self._retired if until <= now]
            self._retired = [(until, c) for until, c in self._retired if until > now]
            self._retired.append((now + self.timeout * 10, old))
        del old
        for client in done:
            try:
                # Destroying a client waits for its threads: do it on the pool, not the loop.
                self._executor.submit(_release, client)
            except RuntimeError:  # the pool is shut down: the adapter is closing anyway
                break
        done.clear()

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

    # -- topics --------------------------------------------------------------------------

    async def metadata(self, *, fresh: bool = False) -> ClusterMetadata:
        """Every topic with its partitions, leaders and replicas (one Metadata request)."""
        if fresh:
            self.cache.invalidate(("metadata",))

        async def load() -> ClusterMetadata:
            md = await self.call(lambda: self.admin.list_topics(timeout=self.timeout), what="metadata")
            return metadata_from(md)

        return await self.cache.get_or_load(("metadata",), self.ttl, load)

    async def topic(self, name: str) -> TopicInfo:
        """One topic from the metadata; a miss re-reads it once before saying 404."""
        info = (await self.metadata()).topics.get(name)
        if info is None:
            info = (await self.metadata(fresh=True)).topics.get(name)
        if info is None:
            raise NotFound(f"No topic named {name!r} on {self.config.name}.")
        return info

    async def watermarks(
        self, topics: Iterable[TopicInfo], *, fresh: bool = False
    ) -> dict[TopicPartitionKey, Watermark]:
        """Low and high offsets of every partition of ``topics``.

        Cached per topic; the misses are asked in one ListOffsets for the earliest
        and one for the latest offsets, whatever the number of partitions.
        """
        topics = list(topics)
        if fresh:
            return await self._watermarks(topics, fresh=True)
        names = [(info.name, tuple(info.partition_ids)) for info in topics]
        return dict(await self._sweep("wm", names, lambda: self._watermarks(topics, fresh=False)))

    async def _watermarks(self, topics: list[TopicInfo], *, fresh: bool) -> dict[TopicPartitionKey, Watermark]:
        found: dict[TopicPartitionKey, Watermark] = {}
        missing: list[TopicInfo] = []
        for info in topics:
            hit = None if fresh else self.cache.get(("wm", info.name))
            if hit is None:
                missing.append(info)
            else:
                found.update(hit)
        keys = [(info.name, p) for info in missing for p in info.partition_ids]
        fetched: dict[TopicPartitionKey, Watermark] = {}
        if keys:
            fetched = await self.call(self._fetch_watermarks, keys, what="watermarks")
            found.update(fetched)
        for info in missing:
            per_topic = {
                (info.name, p): fetched[(info.name, p)] for p in info.partition_ids if (info.name, p) in fetched
            }
            if len(per_topic) == len(info.partitions):
                self.cache.put(("wm", info.name), per_topic, self.ttl)
        return found

    def _fetch_watermarks(self, keys: Sequence[TopicPartitionKey]) -> dict[TopicPartitionKey, Watermark]:
        deadline = time.monotonic() + self.timeout
        admin = self.admin
        # Both requests leave before either answer is awaited.
        early = admin.list_offsets(
            {TopicPartition(t, p): OffsetSpec.earliest() for t, p in keys}, request_timeout=self.timeout
        )
        late = admin.list_offsets(
            {TopicPartition(t, p): OffsetSpec.latest() for t, p in keys}, request_timeout=self.timeout
        )
        lows, low_failures = _gather(early, deadline)
        highs, high_failures = _gather(late, deadline)
        failures = list(low_failures.values()) + list(high_failures.values())
        low_by = {(tp.topic, tp.partition): info.offset for tp, info in lows.items()}
        high_by = {(tp.topic, tp.partition): info.offset for tp, info in highs.items()}
        marks = {
            key: Watermark(low=max(low_by[key], 0), high=max(high_by[key], 0))
            for key in keys
            if key in low_by and key in high_by
        }
        if not marks and failures:
            raise failures[0]
        return marks

    async def topic_configs(self, topic: str) -> tuple[ConfigItem, ...]:
        """A topic's configs; an empty answer means the broker does not describe them."""

        async def load() -> tuple[ConfigItem, ...]:
            def run() -> tuple[ConfigItem, ...]:
                futures = self.admin.describe_configs(
                    [ConfigResource(ResourceType.TOPIC, topic)], request_timeout=self.timeout
                )
                results, failures = _gather(futures, time.monotonic() + self.timeout)
                if failures:
                    raise next(iter(failures.values()))
                entries = next(iter(results.values()), None) or {}
                return configs_from(entries)

            return await self.call(run, what=f"configs of {topic}")

        return await self.cache.get_or_load(("configs", topic), self.ttl, load)

    async def create_topic(
        self, name: str, partitions: int, replication_factor: int, configs: Mapping[str, str]
    ) -> None:
        def run() -> None:
            new = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=dict(configs))
            futures = self.admin.create_topics([new], operation_timeout=self.timeout, request_timeout=self.timeout)
            futures[name].result(timeout=self.timeout + 0.2)

        try:
            await self.call(self._writing(run, f"create topic {name}"), what=f"create topic {name}")
        finally:
            self.invalidate()

    async def delete_topic(self, name: str) -> None:
        def run() -> None:
            futures = self.admin.delete_topics([name], operation_timeout=self.timeout, request_timeout=self.timeout)
            futures[name].result(timeout=self.timeout + 0.2)

        try:
            await self.call(self._writing(run, f"delete topic {name}"), what=f"delete topic {name}")
        finally:
            self.invalidate()

    async def add_partitions(self, topic: str, total: int) -> None:
        """Grow ``topic`` to ``total`` partitions (CreatePartitions)."""

        def run() -> None:
            futures = self.admin.create_partitions(
                [NewPartitions(topic, total)], operation_timeout=self.timeout, request_timeout=self.timeout
            )
            futures[topic].result(timeout=self.timeout + 0.2)

        try:
            what = f"add partitions to {topic}"
            await self.call(self._writing(run, what, {"partitions": "count"}), what=what)
        finally:
            self.invalidate()

    async def offsets_for_time(self, topic: str, partitions: Sequence[int], when_ms: int) -> dict[int, int | None]:
        """The first offset at or after ``when_ms`` in each partition (None: no such record)."""
        if not partitions:
            return {}

        def run() -> dict[int, int | None]:
            futures = self.admin.list_offsets(
                {TopicPartition(topic, p): OffsetSpec.for_timestamp(when_ms) for p in partitions},
                request_timeout=self.timeout,
            )
            results, failures = _gather(futures, time.monotonic() + self.timeout)
            if failures:
                raise next(iter(failures.values()))
            # A found record comes with its timestamp; -1 for either means there is none.
            return {
                tp.partition: (info.offset if info.offset >= 0 and info.timestamp >= 0 else None)
                for tp, info in results.items()
            }

        return await self.call(run, what=f"offsets by time in {topic}")

    # -- consumer groups -----------------------------------------------------------------

    async def groups(self, *, fresh: bool = False) -> list[GroupListing]:
        """Every consumer group the cluster knows (one ListGroups per broker)."""
        if fresh:
            self.cache.invalidate(("groups",))

        async def load() -> list[GroupListing]:
            def run() -> list[GroupListing]:
                result = self.admin.list_consumer_groups(request_timeout=self.timeout).result(self.timeout + 0.2)
                if result.errors and not result.valid:
                    raise KafkaException(result.errors[0])
                if result.errors:
                    logger.warning("%s: some brokers did not list their groups: %s", self.config.slug, result.errors)
                return sorted((listing_from(g) for g in result.valid), key=lambda g: g.group)

            return await self.call(run, what="consumer groups")

        return await self.cache.get_or_load(("groups",), self.ttl, load)

    async def group(self, group: str) -> GroupListing:
        """A listed group; a miss re-lists once before saying 404."""
        for fresh in (False, True):
            for listing in await self.groups(fresh=fresh):
                if listing.group == group:
                    return listing
        raise NotFound(f"No consumer group named {group!r} on {self.config.name}.")

    async def describe_groups(self, groups: Sequence[str], *, fresh: bool = False) -> dict[str, GroupDescription]:
        """State, members and assignments of ``groups``, in one DescribeGroups round."""
        if fresh:
            return await self._describe_groups(groups, fresh=True)
        return dict(await self._sweep("describe", groups, lambda: self._describe_groups(groups, fresh=False)))

    async def _describe_groups(self, groups: Sequence[str], *, fresh: bool) -> dict[str, GroupDescription]:
        found: dict[str, GroupDescription] = {}
        missing = []
        for group in dict.fromkeys(groups):
            hit = None if fresh else self.cache.get(("describe", group))
            if hit is None:
                missing.append(group)
            else:
                found[group] = hit
        if not missing:
            return found

        def run() -> dict[str, GroupDescription]:
            futures = self.admin.describe_consumer_groups(missing, request_timeout=self.timeout)
            results, failures = _gather(futures, time.monotonic() + self.timeout)
            for exc in failures.values():
                err = _error_of(exc)
                if err is None or err.code() != KafkaError.GROUP_ID_NOT_FOUND:
                    raise exc
            return {group: group_from_description(desc) for group, desc in results.items()}

        described = await self.call(run, what="describe consumer groups")
        for group, desc in described.items():
            self.cache.put(("describe", group), desc, self.ttl)
        found.update(described)
        return found

    async def committed(self, groups: Sequence[str], *, fresh: bool = False) -> dict[str, dict[TopicPartitionKey, int]]:
        """Committed offsets of each group (only partitions with a commit).

        The protocol asks one group per OffsetFetch, so the misses go out
        concurrently, at most ``GROUP_FETCH_PARALLELISM`` in flight; each answer is
        cached as it arrives, so an interrupted sweep is not repeated from scratch.
        """
        if fresh:
            return await self._committed(groups, fresh=True)
        return dict(await self._sweep("offsets", groups, lambda: self._committed(groups, fresh=False)))

    async def _committed(self, groups: Sequence[str], *, fresh: bool) -> dict[str, dict[TopicPartitionKey, int]]:
        found: dict[str, dict[TopicPartitionKey, int]] = {}
        missing = []
        for group in dict.fromkeys(groups):
            hit = None if fresh else self.cache.get(("offsets", group))
            if hit is None:
                missing.append(group)
            else:
                found[group] = hit
        if missing:
            budget = min(self.timeout * 2 + len(missing) * 0.005, self.timeout * 5)
            found.update(await self.call(self._fetch_committed, missing, what="committed offsets", timeout=budget))
        return found

    def _fetch_committed(self, groups: Sequence[str]) -> dict[str, dict[TopicPartitionKey, int]]:
        admin = self.admin
        ttl = self.ttl
        out: dict[str, dict[TopicPartitionKey, int]] = {}
        pending: dict[Future[Any], str] = {}

        def drain(until: int) -> None:
            while len(pending) > until:
                done, _ = wait(list(pending), timeout=self.timeout + 0.2, return_when=FIRST_COMPLETED)
                if not done:
                    raise TimeoutError("committed offsets")
                for future in done:
                    group = pending.pop(future)
                    try:
                        answer = future.result()
                    except KafkaException as exc:
                        err = _error_of(exc)
                        if err is None or err.code() != KafkaError.GROUP_ID_NOT_FOUND:
                            raise
                        offsets: dict[TopicPartitionKey, int] = {}
                    else:
                        offsets = {
                            (tp.topic, tp.partition): tp.offset
                            for tp in answer.topic_partitions or ()
                            if tp.error is None and tp.offset >= 0
                        }
                    out[group] = offsets
                    self.cache.put(("offsets", group), offsets, ttl)

        for group in groups:
            drain(GROUP_FETCH_PARALLELISM - 1)
            request = [ConsumerGroupTopicPartitions(group)]
            pending[admin.list_consumer_group_offsets(request, request_timeout=self.timeout)[group]] = group
        drain(0)
        return out

    async def alter_group_offsets(self, group: str, offsets: Mapping[TopicPartitionKey, int]) -> None:
        """Commit ``offsets`` for an inactive group (OffsetCommit from outside the group)."""
        if not offsets:
            return

        def run() -> None:
            tps = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
            futures = self.admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group, tps)], request_timeout=self.timeout
            )
            answer = futures[group].result(timeout=self.timeout + 0.2)
            for tp in answer.topic_partitions or ():
                if tp.error is not None:
                    raise KafkaException(tp.error)

        try:
            await self.call(self._writing(run, f"reset offsets of {group}"), what=f"reset offsets of {group}")
        finally:
            self.invalidate("offsets", group)
            self.invalidate("describe", group)

    async def delete_group(self, group: str) -> None:
        def run() -> None:
            futures = self.admin.delete_consumer_groups([group], request_timeout=self.timeout)
            futures[group].result(timeout=self.timeout + 0.2)

        try:
            await self.call(self._writing(run, f"delete group {group}"), what=f"delete group {group}")
        finally:
            self.invalidate("groups")
            self.invalidate("offsets", group)
            self.invalidate("describe", group)

    # -- messages ------------------------------------------------------------------------

    async def browse(
        self,
        topic: str,
        ranges: Sequence[ReadRange],
        *,
        limit: int,
        newest: bool,
        needle: bytes | None = None,
        display_limit: int | None = DISPLAY_LIMIT,
    ) -> BrowseResult:
        """Read ``ranges`` of ``topic`` with a throwaway consumer that never commits.

        Reading stops at each range's end, at the end of the partition, or when
        the deadline passes; what arrived by then is answered, marked incomplete.
        """
        if not ranges:
            return BrowseResult()
        budget = self.timeout * 0.8
        return await self.call(
            self._browse,
            topic,
            list(ranges),
            limit,
            newest,
            needle,
            display_limit,
            budget,
            what=f"read {topic}",
            timeout=self.timeout + 1,
        )

    def _browse(
        self,
        topic: str,
        ranges: list[ReadRange],
        limit: int,
        newest: bool,
        needle: bytes | None,
        display_limit: int | None,
        budget: float,
    ) -> BrowseResult:
        deadline = time.monotonic() + budget
        result = BrowseResult()
        conf = client_config(self.config) | {
            "client.id": "streamdesk-browser",
            # librdkafka wants a group; it is never joined (assign, not subscribe) nor committed to.
            "group.id": BROWSER_GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            # The broker answers an empty fetch at once, so the end of a partition shows quickly.
            "fetch.wait.max.ms": 10,
        }
        consumer = Consumer(conf)
        try:
            consumer.assign([TopicPartition(topic, r.partition, r.start) for r in ranges])
            reading = {r.partition: r for r in ranges}
            kept: dict[int, deque[KafkaMessage]] = {
                r.partition: deque(maxlen=r.keep if newest else None) for r in ranges
            }

            def finish(partition: int) -> None:
                if reading.pop(partition, None) is not None:
                    consumer.pause([TopicPartition(topic, partition)])

            while reading:
                left = deadline - time.monotonic()
                if left <= 0:
                    result.complete = False
                    break
                # consume() waits for a full batch or the timeout: keep the timeout short.
                for msg in consumer.consume(num_messages=500, timeout=min(left, 0.05)):
                    partition = msg.partition()
                    offset = msg.offset()
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF and partition is not None:
                            finish(partition)
                        elif err.fatal() or err.code() in _BROWSE_FATAL_CODES:
                            raise KafkaException(err)
                        continue
                    window = reading.get(partition) if partition is not None else None
                    if window is None or partition is None or offset is None:
                        continue
                    if offset >= window.end:
                        finish(partition)
                        continue
                    result.scanned += 1
                    if matches(msg.key(), msg.value(), needle):
                        kept[partition].append(message_from(msg, display_limit))
                        if not newest and len(kept[partition]) >= window.keep:
                            finish(partition)
                            continue
                    if offset + 1 >= window.end:
                        finish(partition)
        finally:
            consumer.close()
        result.messages = merge((m for q in kept.values() for m in q), limit, newest)
        return result

    async def ping(self) -> ClusterHealth:
        started = time.monotonic()
        error: str | None = None
        version: str | None = None
        try:
            metadata = await self.call(lambda: self.admin.list_topics(timeout=self.timeout), what="metadata")
            version = f"{len(metadata.brokers)} broker(s)"
        except Exception as exc:  # noqa: BLE001 - ping reports, never raises
            error = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        rtt = (time.monotonic() - started) * 1000
        return ClusterHealth(
            slug=self.config.slug,
            kind=self.kind,
            name=self.config.name,
            reachable=error is None,
            error=error,
            rtt_ms=None if error else rtt,
            version=version,
            checked_at=datetime.now(UTC),
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._admin = None
        self._retired.clear()
