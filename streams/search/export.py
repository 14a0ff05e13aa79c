"""A topic range written out as JSON Lines or CSV, a few polls read per chunk written."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from asgiref.sync import sync_to_async
from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.errors import InvalidInput
from streams.kafka.client import client_config
from streams.masking import Rule
from streams.payloads import DISPLAY_LIMIT
from streams.search import actions, kafka_scan, plain_json
from streams.search.filters import Matcher, Record, masked_record, schema_reader

KAFKA_EXPORT = "kafka.topic.export"
FORMATS = ("jsonl", "csv")
# Messages per poll; a chunk written to the client is polls of these up to CHUNK_CHARS of lines (or
# MAX_POLLS polls where a filter keeps few), so that each hand-over to Daphne carries half a MiB, not 500 lines.
# With the client's own prefetch kept small, what one export holds.
BATCH = 500
CHUNK_CHARS = 512 * 1024
MAX_POLLS = 8
CSV_COLUMNS = ["partition", "offset", "timestamp", "key", "value", "headers"]


def _where(text: str | None, name: str) -> Any:
    """``from=beginning|now|offset:N|last:N|time:ISO`` as the search body spells it."""
    if text is None or text == "":
        return None
    if text in ("beginning", "now"):
        return text
    key, sep, rest = text.partition(":")
    if sep and key in ("offset", "last", "seq"):
        if not rest.isdigit():
            raise InvalidInput(f"{name}={key}: needs a whole number.", field=name)
        return {key: int(rest)}
    if sep and key == "time":
        return {"time": rest}
    raise InvalidInput(f"{name} must be beginning, now, offset:N, last:N or time:ISO.", field=name)


def parse_query(query: Any) -> dict[str, Any]:
    fmt = query.get("format") or "jsonl"
    if fmt not in FORMATS:
        raise InvalidInput("format must be jsonl or csv.", field="format")
    partitions: list[int] | None = None
    raw = query.get("partitions")
    if raw:
        try:
            partitions = [int(p) for p in raw.split(",") if p.strip()]
        except ValueError:
            raise InvalidInput("partitions must be numbers separated by commas.", field="partitions") from None
    body = {
        "from": _where(query.get("from"), "from") or "beginning",
        "until": _where(query.get("until"), "until"),
        "partitions": partitions,
        "text": query.get("text") or None,
        "jq": query.get("jq") or None,
    }
    params = actions.parse_params(body)
    return {"format": fmt, **{k: params[k] for k in ("from", "until", "partitions", "text", "jq")}}


def export_config(cluster_conf: dict[str, Any]) -> dict[str, Any]:
    """A search's consumer with a small prefetch queue: what an export holds however slowly it is read."""
    return {
        **kafka_scan.scan_config(cluster_conf),
        "fetch.max.bytes": 4 * 1024 * 1024,
        "max.partition.fetch.bytes": 1024 * 1024,
        "queued.max.messages.kbytes": 4096,
        # A queue this small is full after each fetch; librdkafka then holds the partition's next fetch back
        # for this long (1 s by default), and the export would wait on it rather than on its client.
        "fetch.queue.backoff.ms": 5,
    }


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


@lru_cache(maxsize=4096)
def _iso(stamp: int) -> str:
    """A timestamp in milliseconds as a JSON string of ISO-8601 UTC (null where out of range); neighbouring
    messages often share one."""
    try:
        return plain_json.quote(datetime.fromtimestamp(stamp / 1000, tz=UTC).isoformat())
    except (OverflowError, OSError, ValueError):
        return "null"


def plain_line(msg: Any) -> str | None:
    """The JSON line of ``line`` for a message no schema decodes, written as text (the export's cost per
    message); None where a header is past the display limit (the general path cuts it)."""
    headers = msg.headers()
    pairs = "[]"
    if headers:
        parts = []
        for name, raw in headers:
            if raw is not None and len(raw) > DISPLAY_LIMIT:
                return None
            parts.append(f"[{plain_json.quote(str(name)[:256])}, {plain_json.payload(raw)}]")
        pairs = f"[{', '.join(parts)}]"
    kind, stamp = msg.timestamp()
    when = _iso(stamp) if kind and stamp is not None and stamp >= 0 else "null"
    return (
        f'{{"partition": {msg.partition()}, "offset": {msg.offset()}, "timestamp": {when}, '
        f'"key": {plain_json.undecoded(msg.key())}, "headers": {pairs}, '
        f'"value": {plain_json.undecoded(msg.value())}, "truncated": false}}\n'
    )


def line(msg: Any, record: Record, config: Any, topic: str, fmt: str, rules: Sequence[Rule] = ()) -> str:
    """JSON Lines: the message as search results and the API give it; CSV: its text, data as JSON.
    Masked by ``rules`` (``record`` is the masked view already)."""
    if fmt == "jsonl":
        if record.schema_data is None and not rules and (fast := plain_line(msg)) is not None:
            return fast
        return json.dumps(kafka_scan._message(msg, config, topic, None, rules), ensure_ascii=False, default=str) + "\n"

    def part(name: str, raw: bytes | None) -> Any:
        data = record.schema_data(name, raw) if record.schema_data is not None else None
        return data if data is not None else _text(raw)

    headers = {name: _text(v) for name, v in record.headers}
    key, value = part("key", record.key), part("value", record.value)
    out = io.StringIO()
    as_cell = [v if isinstance(v, str) or v is None else json.dumps(v, default=str) for v in (key, value)]
    csv.writer(out).writerow(
        [record.partition, record.offset, record.timestamp, *as_cell, json.dumps(headers, ensure_ascii=False)]
    )
    return out.getvalue()


def error_line(fmt: str, reason: str, exported: int) -> bytes:
    """The last line of an export cut short, so that a truncated download is never taken for a whole one:
    JSON Lines ``{"error": ..., "exported": N}``; CSV a row with ``error`` in the partition column and the
    reason in the value column."""
    if fmt == "jsonl":
        return (json.dumps({"error": reason, "exported": exported}, ensure_ascii=False) + "\n").encode()
    out = io.StringIO()
    csv.writer(out).writerow(["error", "", "", "", f"{reason} ({exported:,} messages written before)", ""])
    return out.getvalue().encode()


class _Reader:
    """The blocking half of an export, run in a thread: a few polls, their lines, the guard's checks."""

    def __init__(
        self,
        config: Any,
        topic: str,
        left: dict[int, tuple[int, int]],
        match: Matcher,
        fmt: str,
        needle: bytes | None,
        rules: Sequence[Rule] = (),
    ) -> None:
        self.config, self.topic, self.left, self.match, self.fmt = config, topic, left, match, fmt
        self.rules = rules
        self.decoder = schema_reader(config, topic)
        # As in a search (filters.raw_needle): no schema, no jq and nothing masked, the filter looks at the
        # client's bytes and JSON Lines are written without building a Record for every message.
        self.needle = needle if fmt == "jsonl" and self.decoder is None and not rules else None
        self.consumer = Consumer(export_config(client_config(config)))
        self.guard = kafka_scan.ReadGuard(self.consumer, topic, sum(e - s for s, e in left.values()))
        self.scanned = 0
        self.exported = 0
        self.failure: Exception | None = None
        # A chunk read ahead may still be running when the export ends: the consumer is closed after it.
        self.busy = threading.Lock()
        self.consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in left.items()])

    def chunk(self) -> bytes:
        """Lines of one poll after another, until about CHUNK_CHARS of them or the range's end."""
        with self.busy:
            return self._chunk()

    def _chunk(self) -> bytes:
        if self.failure is not None:
            raise self.failure
        lines: list[str] = []
        size = 0
        for _ in range(MAX_POLLS):
            start = len(lines)
            try:
                polled = self._poll(lines)
            except (kafka_scan.Stopped, KafkaException) as exc:
                if not lines:
                    raise
                # The lines read before it are written first; the next chunk tells the failure.
                self.failure = exc
                break
            size += sum(map(len, lines[start:]))
            if not self.left or polled < BATCH or size >= CHUNK_CHARS:
                break
        self.exported += len(lines)
        return "".join(lines).encode()

    def _poll(self, lines: list[str]) -> int:
        """One poll's matching lines added to ``lines``; the number of messages it gave."""
        left, guard, needle = self.left, self.guard, self.needle
        got = False
        # Any: the client's stubs make partition and offset optional; a message without error has both.
        polled_at = time.monotonic()
        batch: list[Any] = self.consumer.consume(BATCH, kafka_scan.POLL_SECONDS)
        waited = time.monotonic() - polled_at
        for msg in batch:
            err = msg.error()
            if err is not None:
                if guard.error(err, self.scanned):
                    left.pop(msg.partition() or 0, None)
                continue
            got = True
            p = msg.partition()
            span = left.get(p)
            if span is None:
                continue
            offset = msg.offset()
            if offset >= span[1]:
                left.pop(p, None)
                continue
            self.scanned += 1
            guard.reached[p] = offset + 1
            fast = None
            if needle is not None:
                if not needle or kafka_scan._raw_match(msg, needle):
                    fast = plain_line(msg)
                    if fast is not None:
                        lines.append(fast)
                else:
                    fast = ""
            if fast is None:
                headers = cast(list[tuple[str, bytes | None]], msg.headers() or [])
                _kind, stamp = cast(tuple[int, int], msg.timestamp())
                record = Record(
                    msg.key(), msg.value(), headers, p, offset, timestamp=str(stamp), schema_data=self.decoder
                )
                record = masked_record(record, self.config, self.topic, self.rules)
                if self.match(record):
                    lines.append(line(msg, record, self.config, self.topic, self.fmt, self.rules))
            if offset + 1 >= span[1]:
                left.pop(p, None)
        if left:
            guard.polled(got, self.scanned, waited)
        return len(batch)

    def close(self) -> None:
        with self.busy:
            self.consumer.close()


async def stream(
    config: Any,
    topic: str,
    ranges: dict[str, list[int]],
    match: Matcher,
    fmt: str,
    rules: Sequence[Rule] = (),
    *,
    needle: bytes | None = None,
) -> AsyncIterator[bytes]:
    """The chosen range, matching messages only. The next chunk is read while this one is written, and no
    further: one chunk ahead of the client at most, however slowly it reads.
    ``rules``: the masking rules its reader may not see through (filters then see the masked view).
    ``needle`` (``filters.raw_needle`` of the same filter) lets the reader test the bytes itself.
    A read that fails part-way (the topic deleted, the broker gone) ends with ``error_line``."""
    left = {int(p): (int(s), int(e)) for p, (s, e) in ranges.items() if int(e) > int(s)}
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerow(CSV_COLUMNS)
        yield out.getvalue().encode()
    if not left:
        return
    reader: _Reader | None = None
    ahead: asyncio.Future[bytes] | None = None
    try:
        reader = await sync_to_async(_Reader, thread_sensitive=False)(config, topic, left, match, fmt, needle, rules)
        read = sync_to_async(reader.chunk, thread_sensitive=False)
        ahead = asyncio.ensure_future(read())
        while ahead is not None:
            data = await ahead
            # The reader's thread is done with ``left`` once its chunk is in.
            ahead = asyncio.ensure_future(read()) if left or reader.failure is not None else None
            if data:
                yield data
    except kafka_scan.Stopped as exc:
        yield error_line(fmt, f"Export cut short: {exc}", reader.exported if reader else 0)
    except KafkaException as exc:
        yield error_line(fmt, f"Export cut short: Kafka: {exc}", reader.exported if reader else 0)
    finally:
        if ahead is not None and ahead.done() and not ahead.cancelled():
            ahead.exception()  # a chunk read ahead for a client that has gone: its failure is not news
        elif ahead is not None:
            ahead.cancel()
        if reader is not None:
            await sync_to_async(reader.close, thread_sensitive=False)()
