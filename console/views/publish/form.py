"""The publish forms' prefill (from a saved message, a stored one, or the query), choices and saved messages offered."""

from __future__ import annotations

import base64
import json
from typing import Any

from asgiref.sync import sync_to_async

from console.access import audit_unmasked, read_mask
from console.params import int_param, str_param
from console.views.publish.common import MAX_PARTITION, published_resource
from console.views.publish.stored import stored_kafka_decoded, stored_nats_decoded
from console.web import Ctx
from streams import jsontext, masking
from streams.errors import InvalidInput
from streams.payloads import Payload
from streams.policies import PUBLISH
from streams.publish import schemas as schema_parts
from streams.publish.message import ENCODINGS, KEY_ENCODINGS, PLACEHOLDERS, Outgoing, parse_headers
from streams.publish.models import MessageTemplate, Target
from streams.publish.nats import MODES
from streams.schemas.decode import DecodeResult, decode_payload
from streams.schemas.encode import SCHEMA_ENCODINGS
from streams.schemas.registry import registry_for


async def form_prefill(ctx: Ctx, kind: str, topic: str | None) -> dict[str, Any]:
    query = ctx.query
    fields: dict[str, Any] = {k: query.get(k) for k in ("key", "value", "encoding", "partition", "subject", "mode")}
    template_id = int_param(query, "template", None, minimum=1)
    if template_id is not None:
        template = await MessageTemplate.objects.filter(pk=template_id, cluster=ctx.slug, kind=kind).afirst()
        if template is None:
            raise InvalidInput(f"No saved message {template_id} for this cluster.", field="template")
        ctx.need(PUBLISH, published_resource(template.kind), template.target)
        fields.update(template.fields)
        fields["subject"] = template.target if kind == Target.NATS else None
        fields["template_name"] = template.name
    elif kind == Target.KAFKA and topic and query.get("from_offset"):
        partition = int_param(query, "from_partition", 0, minimum=0, maximum=MAX_PARTITION)
        offset = int_param(query, "from_offset", None, minimum=0)
        assert partition is not None and offset is not None
        message, (key_decoded, value_decoded) = await stored_kafka_decoded(ctx, topic, partition, offset)
        shown, masked = await _as_seen(ctx, message, topic, "topics", topic, [("topics", topic)])
        # A masked message is shown as masked text: its decoded form would give the hidden data away.
        fields.update(_editable(shown) if masked else _editable(message, key_decoded, value_decoded))
        fields.update(masked=masked or None)
    elif kind == Target.NATS and query.get("from_seq"):
        seq = int_param(query, "from_seq", None, minimum=1)
        assert seq is not None
        stream = str_param(query, "from_stream", max_length=255)
        subject, message, value_decoded = await stored_nats_decoded(ctx, stream, seq)
        resources = [("streams", stream), ("subjects", subject)]
        shown, masked = await _as_seen(ctx, message, subject, "streams", stream, resources)
        fields.update(_editable(shown) if masked else _editable(message, None, value_decoded))
        fields.update(subject=subject, mode="jetstream", masked=masked or None)
    headers = fields.get("headers")
    if isinstance(headers, list):
        fields["headers"] = "\n".join(f"{n}: {v}" for n, v in headers)
    return {k: v for k, v in fields.items() if v is not None}


async def _as_seen(
    ctx: Ctx, message: Outgoing, name: str, kind: str, resource: str, resources: list[tuple[str, str]]
) -> tuple[Outgoing, bool]:
    """A stored message as the form may show it to this user: masked where rules cover it and the
    user may not unmask (the form then says so), as read (and audited) otherwise."""
    mask = await read_mask(ctx.user, ctx.slug, kind, resource)
    rules = mask.covering(*resources)
    await audit_unmasked(ctx.user, mask, kind, resource, "publish form")
    if not rules:
        return message, False

    def run() -> tuple[Outgoing, bool]:
        def part(which: str, raw: bytes | None) -> Payload:
            return masking.mask_payload(decode_payload(ctx.config, name, which, Payload.of(raw, None)), rules)

        key, value = part("key", message.key), part("value", message.value)
        headers = [(n, masking.mask_header(n, Payload.of(v, None), rules)) for n, v in message.headers]
        changed = key.masked or value.masked or any(p.masked for _, p in headers)
        shown = Outgoing(key=key.raw, value=value.raw, headers=tuple((n, p.raw or b"") for n, p in headers))
        return shown, changed

    return await sync_to_async(run, thread_sensitive=False)()


def prefill_api(prefill: dict[str, Any]) -> dict[str, Any]:
    """The form's prefill as a publish request body (headers as pairs), so that an API client can send it as is."""
    body = {k: v for k, v in prefill.items() if k != "template_name"}
    headers = body.get("headers")
    if isinstance(headers, str):
        body["headers"] = [[n, v.decode()] for n, v in parse_headers(headers)]
    return body


def _schema_fields(part: str, result: DecodeResult | None) -> dict[str, Any] | None:
    """A part a schema decoded, as the publish fields that write the same bytes again: its JSON and schema id."""
    if result is None or result.decoded is None or result.decoded.schema_id is None:
        return None
    decoded = result.decoded
    prefix = "key_" if part == "key" else ""
    text = json.dumps(decoded.data, ensure_ascii=False) if part == "key" else jsontext.dumps_pretty(decoded.data)
    if text is None:
        return None
    fields: dict[str, Any] = {
        part: text,
        f"{prefix}encoding": decoded.format,
        f"{prefix}schema": {"id": decoded.schema_id},
    }
    if decoded.format == "protobuf" and decoded.type:
        fields[f"{prefix}type"] = decoded.type
    return fields


def _editable(
    message: Outgoing, key_decoded: DecodeResult | None = None, value_decoded: DecodeResult | None = None
) -> dict[str, Any]:
    """A stored message as form fields: the decoded JSON and its schema where one decodes, else text or base64."""

    def text(data: bytes | None) -> tuple[str | None, bool]:
        if data is None:
            return None, False
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            return base64.b64encode(data).decode(), True

    key, key_b64 = text(message.key)
    value, value_b64 = text(message.value)
    headers = []
    for name, raw in message.headers:
        try:
            headers.append([name, raw.decode("utf-8")])
        except UnicodeDecodeError:
            continue
    fields = {
        "key": key,
        "key_encoding": "base64" if key_b64 else "text",
        "value": value,
        "encoding": "base64" if value_b64 else "text",
        "headers": headers,
    }
    fields.update(_schema_fields("key", key_decoded) or {})
    fields.update(_schema_fields("value", value_decoded) or {})
    return fields


async def form_choices(ctx: Ctx) -> dict[str, Any]:
    subjects, subjects_problem = await sync_to_async(schema_parts.subject_names, thread_sensitive=False)(ctx.config)
    return {
        "encodings": ENCODINGS,
        "key_encodings": KEY_ENCODINGS,
        "schema_encodings": tuple(SCHEMA_ENCODINGS),
        "has_registry": registry_for(ctx.config) is not None,
        "subjects": subjects,
        "subjects_problem": subjects_problem,
        "modes": MODES,
        "placeholders": PLACEHOLDERS.items(),
    }


async def form_templates(ctx: Ctx, kind: str) -> list[MessageTemplate]:
    found = MessageTemplate.objects.select_related("created_by").filter(cluster=ctx.slug, kind=kind)
    return [t async for t in found if ctx.may(PUBLISH, published_resource(kind), t.target)]
