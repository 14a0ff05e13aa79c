"""A topic range written out as JSON Lines or CSV, one batch read per chunk written."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from asgiref.sync import sync_to_async
from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.errors import InvalidInput
from streams.kafka.client import client_config
from streams.masking import Rule
from streams.search import actions, kafka_scan
from streams.search.filters import Matcher, Record, masked_record, schema_reader

KAFKA_EXPORT = "kafka.topic.export"
FORMATS = ("jsonl", "csv")
# Messages read per chunk; with the client's own prefetch kept small, what one export holds.
BATCH = 500
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
    return {
        **kafka_scan.scan_config(cluster_conf),
        "fetch.max.bytes": 4 * 1024 * 1024,
        "max.partition.fetch.bytes": 1024 * 1024,
        "queued.max.messages.kbytes": 4096,
    }


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def line(msg: Any, record: Record, config: Any, topic: str, fmt: str, rules: Sequence[Rule] = ()) -> str:
    """JSON Lines: the message as search results and the API give it; CSV: its text, data as JSON.
    Masked by ``rules`` (``record`` is the masked view already)."""
    if fmt == "jsonl":
        return json.dumps(kafka_scan._message(msg, config, topic, rules), ensure_ascii=False, default=str) + "\n"

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


async def stream(
    config: Any, topic: str, ranges: dict[str, list[int]], match: Matcher, fmt: str, rules: Sequence[Rule] = ()
) -> AsyncIterator[bytes]:
    """The chosen range, matching messages only; the next batch is read only when this one is taken.
    ``rules``: the masking rules its reader may not see through (filters then see the masked view)."""
    left = {int(p): (int(s), int(e)) for p, (s, e) in ranges.items() if int(e) > int(s)}
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerow(CSV_COLUMNS)
        yield out.getvalue().encode()
    if not left:
        return

    decoder = schema_reader(config, topic)
    consumer = await sync_to_async(Consumer, thread_sensitive=False)(export_config(client_config(config)))
    idle = 0
    try:
        consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in left.items()])
        while left:
            batch = await sync_to_async(consumer.consume, thread_sensitive=False)(BATCH, 1.0)
            idle = 0 if batch else idle + 1
            if idle >= kafka_scan.IDLE_POLLS:
                return
            chunk: list[str] = []
            for msg in batch:
                err = msg.error()
                p = msg.partition() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        left.pop(p, None)
                    elif err.fatal() or not err.retriable():
                        return
                    continue
                if p not in left:
                    continue
                offset, end = msg.offset() or 0, left[p][1]
                if offset >= end:
                    left.pop(p, None)
                    continue
                headers = cast(list[tuple[str, bytes | None]], msg.headers() or [])
                _kind, stamp = cast(tuple[int, int], msg.timestamp())
                record = Record(msg.key(), msg.value(), headers, p, offset, timestamp=str(stamp), schema_data=decoder)
                record = masked_record(record, config, topic, rules)
                if match(record):
                    chunk.append(line(msg, record, config, topic, fmt, rules))
                if offset + 1 >= end:
                    left.pop(p, None)
            if chunk:
                yield "".join(chunk).encode()
    finally:
        await sync_to_async(consumer.close, thread_sensitive=False)()
