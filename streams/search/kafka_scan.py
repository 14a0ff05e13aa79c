"""A Kafka search in a Celery task: one consumer assigned every chosen partition (librdkafka
fetches them in parallel, in large fetches), no group, never committing."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from django.conf import settings
from django.utils import timezone

from streams.kafka.client import client_config
from streams.kafka.convert import message_from
from streams.masking import Rule, mask_headers, mask_payload
from streams.payloads import DISPLAY_LIMIT
from streams.schemas.decode import decode_payload
from streams.search.filters import Matcher, Record, masked_record, raw_needle, schema_reader
from streams.search.models import Search, SearchResult

PROGRESS_SECONDS = 0.5
BATCH = 10_000
# Consecutive empty polls (of POLL_SECONDS) before a partition that stopped answering counts as an outage.
POLL_SECONDS = 1.0
IDLE_POLLS = 10
# Polls in a row without a message that waited this long in all, while a range is not done: the
# broker is taken to be down.
STALL_SECONDS = POLL_SECONDS * IDLE_POLLS
# A metadata request for every topic: not too often on a cluster of thousands.
EXISTS_CHECK_SECONDS = 5.0
EXISTS_TIMEOUT_SECONDS = 2.0


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


# Errors that say the connection to a broker is down, not that the read is wrong: librdkafka
# reconnects by itself, so they only end a read when no message arrives for STALL_SECONDS of polling.
TRANSIENT = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
        KafkaError._MSG_TIMED_OUT,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)
GONE = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION})


class ReadGuard:
    """What a range read watches besides its messages: partition errors, a broker that stopped
    answering, a topic deleted underneath it. ``Stopped`` carries the reason, for the user."""

    def __init__(self, consumer: Consumer, topic: str, total: int) -> None:
        self.consumer = consumer
        self.topic = topic
        self.total = total
        self.idle = 0.0
        self.last_error: str | None = None
        self.next_exists_check = time.monotonic() + EXISTS_CHECK_SECONDS
        # Per partition, the next offset to read: what was scanned, for the reason of a stop.
        self.reached: dict[int, int] = {}

    def scanned_note(self, scanned: int) -> str:
        parts = ", ".join(f"partition {p} up to offset {o - 1:,}" for p, o in sorted(self.reached.items()))
        return f"{scanned:,} of {self.total:,} messages were scanned" + (f" ({parts})" if parts else "")

    def error(self, err: Any, scanned: int) -> bool:
        """A message that carries an error: True when it ends its partition (EOF), else raise or note it."""
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return True
        if code in GONE:
            raise Stopped(f"Topic {self.topic} no longer exists; {self.scanned_note(scanned)}.")
        if code in TRANSIENT or (err.retriable() and not err.fatal()):
            self.last_error = err.str()
            return False
        raise Stopped(f"Kafka: {err.str()}; {self.scanned_note(scanned)}.")

    def polled(self, got_message: bool, scanned: int, waited: float) -> None:
        """After each poll (``waited``: the seconds it took): fail once the polls in a row without a message
        have waited STALL_SECONDS while the range is not done. Counted inside the polls, not between: an
        export waits on its client between them."""
        self.idle = 0.0 if got_message else self.idle + waited
        if self.idle >= STALL_SECONDS:
            why = f" (last error: {self.last_error})" if self.last_error else ""
            raise Stopped(f"The broker stopped answering for {STALL_SECONDS:g} s{why}; {self.scanned_note(scanned)}.")
        self.check_exists(scanned)

    def check_exists(self, scanned: int) -> None:
        """At most every EXISTS_CHECK_SECONDS: fail when the topic is gone."""
        if time.monotonic() < self.next_exists_check:
            return
        # Fetched records stay in the client's queue after a delete: ask the cluster. Never by
        # naming the topic, which some brokers take as a request to create it.
        try:
            topics = self.consumer.list_topics(timeout=EXISTS_TIMEOUT_SECONDS).topics
        except KafkaException as exc:
            # Unreachable: the stall rule decides; meanwhile the queued messages are read without
            # waiting on the cluster at every check.
            self.last_error = str(exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else exc)
            self.next_exists_check = time.monotonic() + STALL_SECONDS
            return
        finally:
            self.next_exists_check = max(self.next_exists_check, time.monotonic() + EXISTS_CHECK_SECONDS)
        if self.topic not in topics:
            raise Stopped(f"Topic {self.topic} was deleted during the read; {self.scanned_note(scanned)}.")


def run(
    search: Search, config: Any, match: Matcher, limit: int, max_scan: int | None, rules: Sequence[Rule] = ()
) -> None:
    """Scan the search's fixed range to its end (or ``max_scan``), keeping the first ``limit`` matches;
    the search's row tells progress as it goes and how it ended. ``rules``: the masking rules its user
    may not see through (the search then matches and keeps the masked messages)."""
    ranges = {int(p): (int(s), int(e)) for p, (s, e) in search.ranges.items() if int(e) > int(s)}
    consumer = Consumer(scan_config(client_config(config)))
    topic = search.target
    decoder = schema_reader(config, topic)
    params = search.params or {}
    # Where no schema decodes and the filter is a plain substring (or none), the scan reads the
    # client's bytes directly, without building a Record for every message.
    # Masked messages are matched on their masked view, never on their bytes.
    needle = None if rules else raw_needle(params.get("text"), params.get("jq"), decoder)
    guard = ReadGuard(consumer, topic, search.total)
    kept = scanned = matched = 0
    started = time.monotonic()
    next_tick = 0.0
    pending: list[SearchResult] = []
    cancelled = False
    budget = max_scan if max_scan is not None else sum(e - s for s, e in ranges.values())

    def tick(force: bool = False) -> bool:
        nonlocal next_tick, pending
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
        if force:
            return False
        guard.check_exists(scanned)  # also inside a long batch (a slow jq expression)
        if rss_bytes() > settings.SEARCH_MEMORY_LIMIT_MB * 1024 * 1024:
            raise Stopped(
                f"Stopped at the memory limit of {settings.SEARCH_MEMORY_LIMIT_MB} MB "
                f"(STREAMDESK_SEARCH_MEMORY_LIMIT_MB); {guard.scanned_note(scanned)}."
            )
        return bool(Search.objects.filter(pk=search.pk).values_list("cancel_requested", flat=True).first())

    def keep(msg: Any) -> None:
        nonlocal kept, matched
        matched += 1
        if kept < limit:
            pending.append(SearchResult(search=search, index=kept, message=_message(msg, config, topic, rules=rules)))
            kept += 1

    reached = guard.reached
    try:
        if ranges:
            consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in ranges.items()])
        while ranges and scanned < budget:
            # Any: the client's stubs make partition and offset optional; a message without error has both.
            polled_at = time.monotonic()
            batch: list[Any] = consumer.consume(BATCH, POLL_SECONDS)
            waited = time.monotonic() - polled_at
            got = False
            for msg in batch:
                if msg.error() is not None:
                    if guard.error(msg.error(), scanned):
                        ranges.pop(msg.partition() or 0, None)
                    continue
                got = True
                p = msg.partition()
                span = ranges.get(p)
                if span is None:
                    continue
                offset = msg.offset()
                if offset >= span[1]:
                    ranges.pop(p, None)
                    continue
                scanned += 1
                reached[p] = offset + 1
                if needle is not None:
                    # Inline: this is the scan's cost per message where no schema or jq is involved.
                    if not needle:
                        keep(msg)
                    elif (
                        ((value := msg.value()) is not None and needle in value)
                        or ((key := msg.key()) is not None and needle in key)
                        or _in_headers(msg, needle)
                    ):
                        keep(msg)
                else:
                    headers = cast(list[tuple[str, bytes | None]], msg.headers() or [])
                    _kind, stamp = cast(tuple[int, int], msg.timestamp())
                    record = Record(
                        msg.key(), msg.value(), headers, p, offset, timestamp=str(stamp), schema_data=decoder
                    )
                    if match(masked_record(record, config, topic, rules)):
                        keep(msg)
                    # Inside the batch: a slow jq expression makes a batch last long.
                    if time.monotonic() >= next_tick and tick():
                        cancelled = True
                        break
                if offset + 1 >= span[1]:
                    ranges.pop(p, None)
                if scanned >= budget:
                    break
            guard.polled(got, scanned, waited)
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


def _in_headers(msg: Any, needle: bytes) -> bool:
    headers = msg.headers()
    return bool(headers) and any(v is not None and needle in v for _, v in headers)


def _raw_match(msg: Any, needle: bytes) -> bool:
    value = msg.value()
    if value is not None and needle in value:
        return True
    key = msg.key()
    if key is not None and needle in key:
        return True
    headers = msg.headers()
    return bool(headers) and any(v is not None and needle in v for _, v in headers)


def _message(
    msg: Any, config: Any, topic: str, limit: int | None = DISPLAY_LIMIT, rules: Sequence[Rule] = ()
) -> dict[str, Any]:
    """A message in the API's shape, masked by ``rules``; a kept search result is cut at the display limit
    (``limit=None``: whole)."""
    from streams.payloads import headers_api

    m = message_from(msg, limit)
    key = decode_payload(config, topic, "key", m.key)
    value = decode_payload(config, topic, "value", m.value)
    headers = list(m.headers)
    if rules:
        key, value, headers = mask_payload(key, rules), mask_payload(value, rules), mask_headers(headers, rules)
    return {
        "partition": m.partition,
        "offset": m.offset,
        "timestamp": m.timestamp.isoformat() if m.timestamp else None,
        "key": key.as_api(),
        "headers": headers_api(headers),
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
