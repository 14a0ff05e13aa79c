"""A Kafka search in a Celery task: one consumer assigned every chosen partition (librdkafka
fetches them in parallel, in large fetches), no group, never committing."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, TopicPartition
from django.conf import settings
from django.utils import timezone

from streams.kafka.client import client_config
from streams.kafka.convert import message_from
from streams.masking import Rule, mask_headers, mask_payload
from streams.schemas.decode import decode_payload
from streams.search.filters import Matcher, Record, masked_record, schema_reader
from streams.search.models import Search, SearchResult

PROGRESS_SECONDS = 0.5
BATCH = 10_000
# Consecutive empty polls (of POLL_SECONDS) before a partition that stopped answering counts as an outage.
POLL_SECONDS = 1.0
IDLE_POLLS = 10
EXISTS_CHECK_SECONDS = 2.0


def rss_bytes() -> int:
    """The Celery worker process's resident memory (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def scan_config(cluster_conf: dict[str, Any]) -> dict[str, Any]:
    return {
        **cluster_conf,
        "group.id": "streamdesk-search-unused",  # librdkafka needs one; assign() never joins it
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 10_485_760,
        "queued.max.messages.kbytes": 65_536,
    }


class Stopped(Exception):
    pass


def run(
    search: Search, config: Any, match: Matcher, limit: int, max_scan: int | None, rules: Sequence[Rule] = ()
) -> None:
    """``rules``: the masking rules its user may not see through (the search then matches and keeps
    the masked messages)."""
    ranges = {int(p): (int(s), int(e)) for p, (s, e) in search.ranges.items() if int(e) > int(s)}
    consumer = Consumer(scan_config(client_config(config)))
    topic = search.target
    decoder = schema_reader(config, topic)
    kept = 0
    scanned = 0
    matched = 0
    started = time.monotonic()
    next_tick = 0.0
    next_exists_check = time.monotonic() + EXISTS_CHECK_SECONDS
    pending: list[SearchResult] = []
    idle = 0
    cancelled = False

    def tick(force: bool = False) -> bool:
        nonlocal next_tick, pending, next_exists_check
        now = time.monotonic()
        if not force and now < next_tick:
            return False
        next_tick = now + PROGRESS_SECONDS
        if pending:
            SearchResult.objects.bulk_create(pending)
            pending = []
        rate = scanned / max(now - started, 1e-6)
        Search.objects.filter(pk=search.pk).update(
            scanned=scanned, matched=matched, rate=rate, updated_at=timezone.now()
        )
        if now >= next_exists_check:
            next_exists_check = now + EXISTS_CHECK_SECONDS
            # Fetched records stay in the client's queue after a delete: ask the cluster. Never by
            # naming the topic, which some brokers take as a request to create it.
            if search.target not in consumer.list_topics(timeout=5).topics:
                raise Stopped(
                    f"Topic {search.target} was deleted during the search; {scanned:,} messages were scanned."
                )
        if rss_bytes() > settings.SEARCH_MEMORY_LIMIT_MB * 1024 * 1024:
            raise Stopped(
                f"Stopped at the memory limit of {settings.SEARCH_MEMORY_LIMIT_MB} MB "
                f"(STREAMDESK_SEARCH_MEMORY_LIMIT_MB); {scanned:,} messages were scanned."
            )
        return bool(Search.objects.filter(pk=search.pk).values_list("cancel_requested", flat=True).first())

    try:
        if ranges:
            consumer.assign([TopicPartition(search.target, p, s) for p, (s, _) in ranges.items()])
        while ranges:
            if max_scan is not None and scanned >= max_scan:
                break
            batch = consumer.consume(BATCH, POLL_SECONDS)
            if not batch:
                idle += 1
                if idle >= IDLE_POLLS:
                    raise Stopped(f"The broker stopped answering; {scanned:,} messages were scanned.")
            else:
                idle = 0
            for msg in batch:
                err = msg.error()
                p = msg.partition() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ranges.pop(p, None)
                        continue
                    if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                        raise Stopped(f"Topic {search.target} no longer exists; {scanned:,} messages were scanned.")
                    if err.fatal() or not err.retriable():
                        raise Stopped(f"{err.str()}; {scanned:,} messages were scanned.")
                    continue
                if p not in ranges:
                    continue
                end = ranges[p][1]
                offset = msg.offset() or 0
                if offset >= end:
                    ranges.pop(p, None)
                    continue
                scanned += 1
                headers = cast(list[tuple[str, bytes | None]], msg.headers() or [])
                _kind, stamp = cast(tuple[int, int], msg.timestamp())
                record = Record(msg.key(), msg.value(), headers, p, offset, timestamp=str(stamp), schema_data=decoder)
                if match(masked_record(record, config, topic, rules)):
                    matched += 1
                    if kept < limit:
                        shown = _message(msg, config, topic, rules)
                        pending.append(SearchResult(search=search, index=kept, message=shown))
                        kept += 1
                if offset + 1 >= end:
                    ranges.pop(p, None)
                # Inside the batch: a slow jq expression makes a batch last long.
                if time.monotonic() >= next_tick and tick():
                    cancelled = True
                    break
            if cancelled or tick():
                tick(force=True)
                _finish(search, Search.State.CANCELLED)
                return
        tick(force=True)
        _finish(search, Search.State.DONE)
    except Stopped as exc:
        tick(force=True)
        _finish(search, Search.State.FAILED, str(exc))
    finally:
        consumer.close()


def _message(msg: Any, config: Any, topic: str, rules: Sequence[Rule] = ()) -> dict[str, Any]:
    """A kept match in the API's message shape, masked by ``rules``."""
    from streams.payloads import headers_api

    m = message_from(msg, None)
    key = mask_payload(decode_payload(config, topic, "key", m.key), rules)
    value = mask_payload(decode_payload(config, topic, "value", m.value), rules)
    return {
        "partition": m.partition,
        "offset": m.offset,
        "timestamp": m.timestamp.isoformat() if m.timestamp else None,
        "key": key.as_api(),
        "headers": headers_api(mask_headers(m.headers, rules)),
        "value": value.as_api(),
        "truncated": m.truncated,
    }


def _finish(search: Search, state: str, error: str = "") -> None:
    Search.objects.filter(pk=search.pk).update(state=state, error=error, finished_at=timezone.now())


def resolve_ranges(
    config: Any, topic: str, partitions: list[int] | None, start: Any, until: Any
) -> dict[str, list[int]]:
    """[start, end) per partition, fixed now: ``start`` / ``until`` as the API gives them."""
    consumer = Consumer(scan_config(client_config(config)))
    try:
        md = consumer.list_topics(topic, timeout=5)
        info = md.topics.get(topic)
        if info is None or info.error is not None:
            from streams.errors import NotFound

            raise NotFound(f"Topic {topic} does not exist.")
        chosen = sorted(info.partitions) if partitions is None else partitions
        out: dict[str, list[int]] = {}
        for p in chosen:
            if p not in info.partitions:
                from streams.errors import InvalidInput

                raise InvalidInput(f"Topic {topic} has no partition {p}.", field="partitions")
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
            s = _position(consumer, topic, p, start, low, high, is_end=False)
            e = _position(consumer, topic, p, until, low, high, is_end=True)
            out[str(p)] = [max(s, low), min(max(e, low), high)]
        return out
    finally:
        consumer.close()


def _position(consumer: Consumer, topic: str, p: int, where: Any, low: int, high: int, *, is_end: bool) -> int:
    if where is None or where == "now":
        return high
    if where == "beginning":
        return low
    if isinstance(where, dict):
        if "offset" in where:
            return int(where["offset"])
        if "last" in where:
            return max(low, high - int(where["last"]))
        if "time" in where:
            found = consumer.offsets_for_times([TopicPartition(topic, p, int(where["time"]))], timeout=5)[0]
            return high if found.offset < 0 else found.offset
    return high
