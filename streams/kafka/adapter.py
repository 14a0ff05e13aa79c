"""Kafka adapter on confluent-kafka: topics, watermarks, consumer groups, offsets and the
message browser, on top of the cluster's one AdminClient (``KafkaConnection``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic, OffsetSpec, ResourceType

from streams import adapters
from streams.errors import BrokerUnavailable, NotFound, NotSupported, StreamdeskError
from streams.kafka import browse, offsets_log
from streams.kafka.client import (
    UNAVAILABLE_CODES,
    error_of,
    gather_futures,
)
from streams.kafka.connection import KafkaConnection
from streams.kafka.convert import configs_from, group_from_description, listing_from, metadata_from
from streams.kafka.offset_reader import IN_FLIGHT
from streams.kafka.types import (
    BrowseResult,
    ClusterMetadata,
    ConfigItem,
    GroupDescription,
    GroupListing,
    ReadRange,
    TopicInfo,
    TopicPartitionKey,
    Watermark,
)
from streams.payloads import DISPLAY_LIMIT

T = TypeVar("T")

logger = logging.getLogger("streams.kafka")

# OffsetFetch is one group per request; the offsets reader keeps this many at the broker at once
# (streams.kafka.offset_reader.IN_FLIGHT) and a read hands it groups in batches, a window of them waiting.
GROUP_FETCH_PARALLELISM = IN_FLIGHT
GROUP_FETCH_BATCH = 64
GROUP_FETCH_WINDOW = 256
# A lag sweep's read of ``__consumer_offsets`` (all of it, the first time); past this the sweep asks
# OffsetFetch and the next one reads on from there.
OFFSETS_LOG_READ_SECONDS = 20.0
# After the log was refused (no ACL, say), how long sweeps ask OffsetFetch before trying it again.
OFFSETS_LOG_RETRY_SECONDS = 300.0


class KafkaAdapter(KafkaConnection):
    """Topics, watermarks, consumer groups, offsets and the message browser."""

    _log_refused_until = float("-inf")

    # -- topics --------------------------------------------------------------------------

    async def metadata(self, *, fresh: bool = False) -> ClusterMetadata:
        """Every topic with its partitions, leaders and replicas (one Metadata request)."""
        self._notice_client_errors()
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
        self._notice_client_errors()
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
        lows, low_failures = gather_futures(early, deadline)
        highs, high_failures = gather_futures(late, deadline)
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
        self._notice_client_errors()

        async def load() -> tuple[ConfigItem, ...]:
            def run() -> tuple[ConfigItem, ...]:
                futures = self.admin.describe_configs(
                    [ConfigResource(ResourceType.TOPIC, topic)], request_timeout=self.timeout
                )
                results, failures = gather_futures(futures, time.monotonic() + self.timeout)
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
            results, failures = gather_futures(futures, time.monotonic() + self.timeout)
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
        self._notice_client_errors()
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
        """A group that exists, from DescribeGroups where its answer decides, else the listing.

        Kafka describes an unknown group as DEAD; some brokers (tansu) describe any
        id as EMPTY, so an empty group is looked up in the listing, re-read once
        before saying 404.
        """
        try:
            desc = (await self.describe_groups([group])).get(group)
        except NotSupported:
            desc = None
        if desc is not None and desc.state == "DEAD":
            raise NotFound(f"No consumer group named {group!r} on {self.config.name}.")
        if desc is not None and desc.state not in ("EMPTY", "UNKNOWN"):
            return GroupListing(group=group, state=desc.state, simple=desc.simple)
        for fresh in (False, True):
            for listing in await self.groups(fresh=fresh):
                if listing.group == group:
                    return listing
        raise NotFound(f"No consumer group named {group!r} on {self.config.name}.")

    async def describe_groups(self, groups: Sequence[str], *, fresh: bool = False) -> dict[str, GroupDescription]:
        """State, members and assignments of ``groups``, in one DescribeGroups round."""
        self._notice_client_errors()
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
            results, failures = gather_futures(futures, time.monotonic() + self.timeout)
            for exc in failures.values():
                err = error_of(exc)
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
        self._notice_client_errors()
        if fresh:
            return (await self._committed(groups, fresh=True))[0]

        async def load() -> dict[str, dict[TopicPartitionKey, int]]:
            return (await self._committed(groups, fresh=False))[0]

        return dict(await self._sweep("offsets", groups, load))

    async def committed_some(self, groups: Sequence[str]) -> tuple[dict[str, dict[TopicPartitionKey, int]], list[str]]:
        """Committed offsets of the groups that answered, and the groups that did not.

        For views that are still right with some groups missing (a topic's readers): one
        group's slow coordinator or refused read must not blank the whole table.
        """
        self._notice_client_errors()
        found, failed = await self._committed(groups, fresh=False, partial=True)
        return found, sorted(failed)

    async def _committed(
        self, groups: Sequence[str], *, fresh: bool, partial: bool = False
    ) -> tuple[dict[str, dict[TopicPartitionKey, int]], dict[str, BaseException]]:
        found: dict[str, dict[TopicPartitionKey, int]] = {}
        failed: dict[str, BaseException] = {}
        missing = []
        for group in dict.fromkeys(groups):
            hit = None if fresh else self.cache.get(("offsets", group))
            if hit is None:
                missing.append(group)
            else:
                found[group] = hit
        if missing:
            # A silent broker is caught by the wait for each answer (``drain``); this budget only bounds the
            # whole batch, so it grows with it: a sweep of 50,000 groups takes far longer than one deadline.
            budget = self.timeout * 3 + len(missing) * 0.005
            read, failed = await self.call(
                self._fetch_committed, missing, partial, what="committed offsets", timeout=budget
            )
            found.update(read)
        return found, failed

    def _fetch_committed(
        self, groups: Sequence[str], partial: bool
    ) -> tuple[dict[str, dict[TopicPartitionKey, int]], dict[str, BaseException]]:
        """One OffsetFetch per group, GROUP_FETCH_BATCH groups handed to the offsets reader at a time and at most
        GROUP_FETCH_WINDOW waiting (the reader keeps GROUP_FETCH_PARALLELISM of them at the broker); a group whose
        answer timed out or whose coordinator was unavailable is asked once more (a loaded broker drops some of
        the concurrent requests)."""
        reader = self.offsets_client
        ttl = self.ttl
        out: dict[str, dict[TopicPartitionKey, int]] = {}
        failed: dict[str, BaseException] = {}
        retry: list[str] = []
        # Answers in the order they come, whatever the number waiting: no wait() over every pending future.
        answered: SimpleQueue[tuple[str, Future[Any]]] = SimpleQueue()

        def take(group: str, future: Future[Any], *, last_try: bool) -> None:
            try:
                answer = future.result()
            except KafkaException as exc:
                err = error_of(exc)
                if err is not None and err.code() == KafkaError.GROUP_ID_NOT_FOUND:
                    offsets: dict[TopicPartitionKey, int] = {}
                elif err is not None and err.code() in UNAVAILABLE_CODES and not last_try:
                    retry.append(group)
                    return
                else:
                    failed[group] = exc
                    return
            else:
                offsets = {
                    (tp.topic, tp.partition): tp.offset
                    for tp in answer.topic_partitions or ()
                    if tp.error is None and tp.offset >= 0
                }
            out[group] = offsets
            self.cache.put(("offsets", group), offsets, ttl)

        def ask(batch: Sequence[str], *, last_try: bool) -> None:
            waiting = 0
            for start in range(0, len(batch), GROUP_FETCH_BATCH):
                while waiting > GROUP_FETCH_WINDOW - GROUP_FETCH_BATCH:
                    take(*next_answer(), last_try=last_try)
                    waiting -= 1
                names = batch[start : start + GROUP_FETCH_BATCH]
                futures = reader.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(g) for g in names], request_timeout=self.timeout
                )
                for group in names:
                    futures[group].add_done_callback(delivered(group))
                waiting += len(names)
            for _ in range(waiting):
                take(*next_answer(), last_try=last_try)

        def delivered(group: str) -> Any:
            return lambda future: answered.put((group, future))

        def next_answer() -> tuple[str, Future[Any]]:
            # A silent broker is caught here: every answer comes within a deadline of the one before.
            try:
                return answered.get(timeout=self.timeout + 0.2)
            except Empty:
                raise TimeoutError("committed offsets") from None

        ask(groups, last_try=False)
        if retry:
            again, retry[:] = list(retry), []
            ask(again, last_try=True)
        if failed and not partial:
            raise next(iter(failed.values()))
        return out, failed

    async def committed_for_sweep(
        self, groups: Sequence[str], md: ClusterMetadata
    ) -> dict[str, dict[TopicPartitionKey, int]]:
        """Committed offsets of ``groups`` for a lag sweep: read from ``__consumer_offsets`` where this
        client may (``streams.kafka.offsets_log``), else asked of OffsetFetch, group by group."""
        found = await self._committed_from_log(groups, md)
        if found is not None:
            return found
        return await self.committed(groups, fresh=True)

    async def _committed_from_log(
        self, groups: Sequence[str], md: ClusterMetadata
    ) -> dict[str, dict[TopicPartitionKey, int]] | None:
        info = md.topics.get(offsets_log.TOPIC)
        if info is None or not info.partitions or time.monotonic() < self._log_refused_until:
            return None
        log = self.offsets_log
        try:
            ends = await self.call(self._stable_ends, info, what="the ends of __consumer_offsets")
        except BrokerUnavailable:
            raise
        except StreamdeskError as exc:
            self._log_refused(exc)
            return None
        budget = max(self.timeout * 2, OFFSETS_LOG_READ_SECONDS)
        try:
            found = await self.call(
                log.catch_up, ends, groups, time.monotonic() + budget, what="__consumer_offsets", timeout=budget + 1
            )
        except offsets_log.Unreadable as exc:
            self._log_refused(exc)
            return None
        if found is None:
            logger.info(
                "%s: __consumer_offsets not read to its end within %.0f s; asking OffsetFetch", self.config.slug, budget
            )
        return found

    def _log_refused(self, exc: Exception) -> None:
        logger.warning(
            "%s: cannot read __consumer_offsets (%s); lag sweeps ask OffsetFetch for %.0f s", self.config.slug, exc,
            OFFSETS_LOG_RETRY_SECONDS,
        )  # fmt: skip
        self._log_refused_until = time.monotonic() + OFFSETS_LOG_RETRY_SECONDS

    def _stable_ends(self, info: TopicInfo) -> dict[int, int]:
        """The last stable offset of each partition: where a ``read_committed`` read of it ends."""
        futures = self.admin.list_offsets(
            {TopicPartition(info.name, p): OffsetSpec.latest() for p in info.partition_ids},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=self.timeout,
        )
        results, failures = gather_futures(futures, time.monotonic() + self.timeout)
        if failures:
            raise next(iter(failures.values()))
        return {tp.partition: max(answer.offset, 0) for tp, answer in results.items()}

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
        isolation: str = browse.DEFAULT_ISOLATION,
        view: browse.View | None = None,
    ) -> BrowseResult:
        """Read ``ranges`` of ``topic`` with a throwaway consumer that never commits.

        Reading stops at each range's end, at the end of the partition, or when
        the deadline passes; what arrived by then is answered, marked incomplete.
        """
        if not ranges:
            return BrowseResult()
        budget = self.timeout * 0.8
        return await self.call(
            browse.read,
            self.config,
            topic,
            list(ranges),
            limit,
            newest,
            needle,
            display_limit,
            budget,
            isolation,
            view,
            what=f"read {topic}",
            timeout=self.timeout + 1,
        )


adapters.provide("kafka", KafkaAdapter)
