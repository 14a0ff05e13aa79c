"""The Kafka message browser: by partition, offset, time or end, with a filter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.urls import reverse

from console.access import audit_unmasked, read_mask
from console.apitypes import kafka as api
from console.openapi import described
from console.params import bool_param, choice_param, datetime_param, int_param, str_param
from console.web import Ctx, Result
from streams import masking, payloads
from streams.clusters import ClusterConfig
from streams.errors import InvalidInput, NotFound
from streams.kafka.browse import (
    DEFAULT_ISOLATION,
    DEFAULT_LIMIT,
    FROM_CHOICES,
    ISOLATION_CHOICES,
    MAX_LIMIT,
    read_ranges,
)
from streams.kafka.types import KafkaMessage, ReadRange, TopicPartitionKey, Watermark
from streams.payloads import Payload, headers_api
from streams.schemas.decode import decode_payload


def message_api(m: KafkaMessage) -> dict[str, Any]:
    return {
        "partition": m.partition,
        "offset": m.offset,
        "timestamp": m.timestamp.isoformat() if m.timestamp else None,
        "timestamp_ms": m.timestamp_ms,
        "timestamp_type": m.timestamp_type,
        "key": m.key.as_api(),
        "key_size": m.key.size,
        "headers": headers_api(list(m.headers)),
        "value": m.value.as_api(),
        "size": m.value.size,
        "truncated": m.truncated,
    }


def decode_messages(cluster: ClusterConfig, topic: str, messages: list[KafkaMessage]) -> list[KafkaMessage]:
    """Each message with its key and value decoded by schema (blocking: the registry may be asked once)."""
    return [
        replace(
            m,
            key=decode_payload(cluster, topic, "key", m.key),
            value=decode_payload(cluster, topic, "value", m.value),
        )
        for m in messages
    ]


def masked_view(
    cluster: ClusterConfig, topic: str, rules: tuple[masking.Rule, ...]
) -> Callable[[bytes | None, bytes | None], tuple[bytes | None, bytes | None]]:
    """What the browser's filter searches in for someone who sees ``topic`` masked: the key and
    value as they are shown to them (decoded, then masked), so a masked value cannot be probed."""

    def part(name: str, raw: bytes | None) -> bytes | None:
        if raw is None:
            return None
        shown = masking.mask_payload(decode_payload(cluster, topic, name, Payload.of(raw, None)), rules)
        return masking.seen_bytes(shown, raw)

    return lambda key, value: (part("key", key), part("value", value))


@described(query=api.MessagesQuery, answers={200: api.Messages})
async def topic_messages(ctx: Ctx) -> Result:
    name = ctx.args["topic"]
    query = ctx.query
    partition = int_param(query, "partition", None, minimum=0)
    limit = int_param(query, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = int_param(query, "offset", None, minimum=0)
    when = datetime_param(query, "timestamp")
    mode = choice_param(query, "from", FROM_CHOICES)
    needle_text = str_param(query, "q", max_length=200)
    full = bool_param(query, "full")
    isolation = choice_param(query, "isolation", ISOLATION_CHOICES, DEFAULT_ISOLATION)
    assert limit is not None and isolation is not None
    if offset is not None and when is not None:
        raise InvalidInput("Give offset or timestamp, not both.", field="timestamp")
    if mode is None:
        mode = "offset" if offset is not None else "timestamp" if when is not None else "end"
    if mode == "offset" and offset is None:
        raise InvalidInput("offset is required when reading from an offset.", field="offset")
    if mode == "timestamp" and when is None:
        raise InvalidInput("timestamp is required when reading from a time.", field="timestamp")
    if full and (partition is None or offset is None):
        raise InvalidInput("Showing a whole message needs its partition and offset.", field="partition")

    adapter = ctx.kafka
    info = await adapter.topic(name)
    if partition is not None and partition not in info.partition_ids:
        raise InvalidInput(f"Topic {name} has no partition {partition}.", field="partition")
    partitions = [partition] if partition is not None else info.partition_ids
    # Fresh: a reader who just produced expects to see the record.
    marks: dict[TopicPartitionKey, Watermark] = await adapter.watermarks([info], fresh=True)
    by_partition = {p: marks[(name, p)] for p in partitions if (name, p) in marks}
    needle = needle_text.encode("utf-8") if needle_text else None
    mask = await read_mask(ctx.user, ctx.slug, "topics", name)
    rules = mask.covering(("topics", name))
    view = masked_view(ctx.config, name, rules) if rules and needle is not None else None

    if full:
        assert partition is not None and offset is not None
        mark = by_partition.get(partition)
        if mark is None or not mark.low <= offset < mark.high:
            raise NotFound(f"No message at offset {offset} of partition {partition}.")
        ranges = [ReadRange(partition=partition, start=offset, end=offset + 1, keep=1)]
        result = await adapter.browse(
            name, ranges, limit=1, newest=False, display_limit=payloads.FULL_DISPLAY_LIMIT, isolation=isolation
        )
        if not result.messages and result.complete:
            # A transaction marker, an aborted record under read_committed, or a record compacted away.
            raise NotFound(f"No message at offset {offset} of partition {partition}.")
    else:
        by_time = None
        if mode == "timestamp":
            assert when is not None
            by_time = await adapter.offsets_for_time(name, partitions, int(when.timestamp() * 1000))
        ranges = read_ranges(
            mode, partitions, by_partition, limit, offset=offset, by_time=by_time, filtered=needle is not None
        )
        result = await adapter.browse(
            name, ranges, limit=limit, newest=mode == "end", needle=needle, isolation=isolation, view=view
        )

    def shown(messages: list[KafkaMessage]) -> list[KafkaMessage]:
        return [masking.mask_message(m, rules) for m in decode_messages(ctx.config, name, messages)]

    result.messages = await sync_to_async(shown, thread_sensitive=False)(result.messages)
    await audit_unmasked(ctx.user, mask, "topics", name, "full message" if full else "browse")
    data: dict[str, Any] = {
        "topic": name,
        "partition": partition,
        "from": mode,
        "offset": offset,
        "timestamp": when.isoformat() if when else None,
        "limit": limit,
        "q": needle_text,
        "full": full,
        "isolation": isolation,
        "messages": [message_api(m) for m in result.messages],
        "scanned": result.scanned,
        "complete": result.complete,
        "watermarks": [{"partition": p, "low": m.low, "high": m.high} for p, m in sorted(by_partition.items())],
        "partitions": info.partition_ids,
    }
    base = reverse("kafka-messages", args=[ctx.slug, name])
    extra = {} if isolation == DEFAULT_ISOLATION else {"isolation": isolation}
    rows = [
        {"m": m, "full_url": f"{base}?{urlencode({'partition': m.partition, 'offset': m.offset, 'full': 1, **extra})}"}
        for m in result.messages
    ]
    export_query = _export_query(mode, partition, offset, when, limit, needle_text)
    return Result(data, page={"rows": rows, "export_query": export_query})


def _export_query(mode: str, partition: int | None, offset: int | None, when: Any, limit: int, text: str) -> str:
    """The export of what the browser reads from here: the same partition, start and filter, to the end
    (from the end: the last ``limit`` of each partition)."""
    start = {
        "beginning": "beginning",
        "end": f"last:{limit}",
        "offset": f"offset:{offset}",
        "timestamp": f"time:{when.isoformat() if when else ''}",
    }[mode]
    pairs = [("from", start), ("until", "now")]
    if partition is not None:
        pairs.append(("partitions", str(partition)))
    if text:
        pairs.append(("text", text))
    return urlencode(pairs)
