"""What the publish handlers share: a message, a bulk job's spec and the resource a publish needs, from the request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.urls import reverse

from console.params import choice_param, float_param, int_param
from console.web import Ctx
from streams.errors import InvalidInput
from streams.policies import SUBJECTS, TOPICS
from streams.publish import actions
from streams.publish import schemas as schema_parts
from streams.publish.message import ENCODINGS, KEY_ENCODINGS, Outgoing, encode, parse_headers
from streams.publish.models import Target
from streams.schemas.encode import SCHEMA_ENCODINGS

TEXT_LIMIT = 1024 * 1024


# A key or value may also be written with a registry schema, in the Confluent wire format.
VALUE_ENCODINGS = (*ENCODINGS, *SCHEMA_ENCODINGS)


KEY_ALL_ENCODINGS = (*KEY_ENCODINGS, *SCHEMA_ENCODINGS)


def text_part(data: Mapping[str, Any], name: str) -> str | None:
    """A key or value: absent or null is None; a form's empty field is an empty string."""
    raw = data.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidInput(f"{name} must be a string or null.", field=name)
    if len(raw) > TEXT_LIMIT * 2:
        raise InvalidInput(f"{name} is too large to publish from here.", field=name)
    return raw


def bulk_params(data: Mapping[str, Any]) -> tuple[int | None, float | None]:
    count = int_param(data, "count", None, minimum=1, maximum=actions.MAX_BULK)
    rate = float_param(data, "rate", minimum=0.1, maximum=10_000_000)
    if rate is not None and count is None:
        raise InvalidInput("rate applies to bulk publishing: give count too.", field="rate")
    return count, rate


def job_spec(data: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A message's fields as a job or a saved message keeps them."""
    return {
        "key": text_part(data, "key"),
        "value": text_part(data, "value"),
        # Bulk jobs refuse schema encodings before this; saved messages keep them (with ``_schema_spec``).
        "encoding": choice_param(data, "encoding", VALUE_ENCODINGS, "text"),
        "headers": [[n, v.decode()] for n, v in parse_headers(data.get("headers"))],
        **extra,
    }


def no_schema_in_bulk(data: Mapping[str, Any]) -> None:
    for field in ("encoding", "key_encoding"):
        if schema_parts.uses_schema(data.get(field)):
            raise InvalidInput(
                "Bulk publishing sends text, JSON or base64; a schema encoding publishes one message at a time.",
                field=field,
            )


# Kafka partitions are 32-bit; no topic has anywhere near this many.
MAX_PARTITION = 1_000_000


def _single(data: Mapping[str, Any]) -> Outgoing:
    encoding = choice_param(data, "encoding", ENCODINGS, "text")
    key_encoding = choice_param(data, "key_encoding", KEY_ENCODINGS, "text")
    assert encoding is not None and key_encoding is not None
    return Outgoing(
        key=encode(text_part(data, "key"), key_encoding, "key"),
        value=encode(text_part(data, "value"), encoding, "value"),
        headers=parse_headers(data.get("headers")),
    )


async def outgoing_message(
    ctx: Ctx, name: str, data: Mapping[str, Any], *, keyed: bool
) -> tuple[Outgoing, dict[str, Any]]:
    """One message from the request, each part in its own encoding; the schema ids used, for the answer."""
    encoding = choice_param(data, "encoding", VALUE_ENCODINGS, "text")
    key_encoding = choice_param(data, "key_encoding", KEY_ALL_ENCODINGS if keyed else KEY_ENCODINGS, "text")
    assert encoding is not None and key_encoding is not None
    if not (schema_parts.uses_schema(encoding) or schema_parts.uses_schema(key_encoding)):
        return _single(data), {}
    cluster = ctx.config
    headers = parse_headers(data.get("headers"))
    key_text, value_text = text_part(data, "key"), text_part(data, "value")

    def build() -> tuple[Outgoing, dict[str, Any]]:
        ids: dict[str, Any] = {"schema_id": None, "key_schema_id": None}
        parts: dict[str, bytes | None] = {}
        for part, chosen, text in (
            (schema_parts.KEY, key_encoding, key_text),
            (schema_parts.VALUE, encoding, value_text),
        ):
            if text is None or not schema_parts.uses_schema(chosen):
                parts[part.name] = encode(text, chosen, part.name)
                continue
            encoded = schema_parts.encode_part(cluster, name, part, chosen, text, data)
            parts[part.name] = encoded.data
            ids["key_schema_id" if part is schema_parts.KEY else "schema_id"] = encoded.schema_id
        return Outgoing(key=parts["key"], value=parts["value"], headers=headers), ids

    return await sync_to_async(build, thread_sensitive=False)()


def job_started(job_id: int) -> dict[str, Any]:
    return {"job": job_id, "url": reverse("api-job", args=[job_id]), "message": f"Job {job_id} queued."}


def published_resource(kind: str) -> str:
    return TOPICS if kind == Target.KAFKA else SUBJECTS
