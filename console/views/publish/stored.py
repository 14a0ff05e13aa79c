"""A message already stored (a Kafka offset, a stream sequence), read whole to send again."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from console.web import Ctx
from streams import payloads
from streams.clusters import ClusterConfig
from streams.errors import InvalidInput
from streams.kafka.types import ReadRange
from streams.payloads import Payload
from streams.policies import MESSAGES, STREAMS, TOPICS
from streams.publish.message import Outgoing
from streams.schemas.decode import DecodeResult, decode_payload


def _raw(payload: Payload) -> bytes | None:
    if payload.truncated:
        raise InvalidInput(
            f"That message is larger than {payloads.FULL_DISPLAY_LIMIT:,} bytes; publish it from a client."
        )
    return payload.raw


async def stored_kafka(ctx: Ctx, topic: str, partition: int, offset: int) -> Outgoing:
    """A message already in the topic, whole, to send again."""
    message, _decoded = await stored_kafka_decoded(ctx, topic, partition, offset, decode=False)
    return message


async def stored_kafka_decoded(
    ctx: Ctx, topic: str, partition: int, offset: int, *, decode: bool = True
) -> tuple[Outgoing, tuple[DecodeResult | None, DecodeResult | None]]:
    """A stored message and, when asked, its key and value as a schema decodes them."""
    ctx.need(MESSAGES, TOPICS, topic)
    result = await ctx.kafka.browse(
        topic,
        [ReadRange(partition=partition, start=offset, end=offset + 1, keep=1)],
        limit=1,
        newest=False,
        display_limit=payloads.FULL_DISPLAY_LIMIT,
    )
    if not result.messages:
        raise InvalidInput(f"No message at offset {offset} of partition {partition}.", field="from_offset")
    m = result.messages[0]
    headers = tuple((name, _raw(value) or b"") for name, value in m.headers)
    message = Outgoing(key=_raw(m.key), value=_raw(m.value), headers=headers)
    if not decode:
        return message, (None, None)
    return message, await _decoded_parts(ctx.config, topic, m.key, m.value)


async def _decoded_parts(
    cluster: ClusterConfig, name: str, key: Payload | None, value: Payload
) -> tuple[DecodeResult | None, DecodeResult | None]:
    def run() -> tuple[DecodeResult | None, DecodeResult | None]:
        found_key = decode_payload(cluster, name, "key", key).decoding if key is not None else None
        return found_key, decode_payload(cluster, name, "value", value).decoding

    return await sync_to_async(run, thread_sensitive=False)()


async def stored_nats(ctx: Ctx, stream: str, seq: int) -> tuple[str, Outgoing]:
    subject, message, _decoded = await stored_nats_decoded(ctx, stream, seq, decode=False)
    return subject, message


async def stored_nats_decoded(
    ctx: Ctx, stream: str, seq: int, *, decode: bool = True
) -> tuple[str, Outgoing, DecodeResult | None]:
    ctx.need(MESSAGES, STREAMS, stream)
    stored = await ctx.nats.message(stream, seq, limit=payloads.FULL_DISPLAY_LIMIT)
    headers = tuple((name, _raw(value) or b"") for name, value in stored.headers)
    message = Outgoing(key=None, value=_raw(stored.value), headers=headers)
    if not decode:
        return stored.subject, message, None
    _key, value = await _decoded_parts(ctx.config, stored.subject, None, stored.value)
    return stored.subject, message, value
