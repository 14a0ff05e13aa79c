"""Publishing test messages: Kafka topics, NATS subjects (publish, request-reply, JetStream),
bulk jobs with their progress, and saved messages.

The same handler answers the API and the page's form; a page POST renders what the
broker answered in place (``console.web.endpoint(form=...)``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.urls import URLPattern, reverse

from console.access import audit_unmasked, read_mask
from console.apitypes import publish as api
from console.openapi import described
from console.params import choice_param, float_param, int_param, str_param
from console.resources import JOB, SCHEMA_LIST, SUBJECT_PUBLISH, TEMPLATE, TOPIC_PUBLISH
from console.web import Ctx, Result, action, endpoint, writes
from streams import jsontext, masking, payloads
from streams.clusters import ClusterConfig
from streams.errors import InvalidInput
from streams.kafka.names import validate_topic_name
from streams.kafka.types import ReadRange
from streams.nats.subjects import SUBJECT_MAX_LENGTH, validate_subject
from streams.payloads import Payload
from streams.policies import MESSAGES, PUBLISH, STREAMS, SUBJECTS, TOPICS, VIEW
from streams.publish import actions
from streams.publish import schemas as schema_parts
from streams.publish.message import ENCODINGS, KEY_ENCODINGS, PLACEHOLDERS, Generator, Outgoing, encode, parse_headers
from streams.publish.models import MessageTemplate, Target
from streams.publish.nats import MAX_REQUEST_TIMEOUT, MODES, nats_headers
from streams.schemas.decode import DecodeResult, decode_payload
from streams.schemas.encode import SCHEMA_ENCODINGS
from streams.schemas.registry import registry_for

TEXT_LIMIT = 1024 * 1024
# A key or value may also be written with a registry schema, in the Confluent wire format.
VALUE_ENCODINGS = (*ENCODINGS, *SCHEMA_ENCODINGS)
KEY_ALL_ENCODINGS = (*KEY_ENCODINGS, *SCHEMA_ENCODINGS)


def _text(data: Mapping[str, Any], name: str) -> str | None:
    """A key or value: absent or null is None; a form's empty field is an empty string."""
    raw = data.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidInput(f"{name} must be a string or null.", field=name)
    if len(raw) > TEXT_LIMIT * 2:
        raise InvalidInput(f"{name} is too large to publish from here.", field=name)
    return raw


def _bulk(data: Mapping[str, Any]) -> tuple[int | None, float | None]:
    count = int_param(data, "count", None, minimum=1, maximum=actions.MAX_BULK)
    rate = float_param(data, "rate", minimum=0.1, maximum=10_000_000)
    if rate is not None and count is None:
        raise InvalidInput("rate applies to bulk publishing: give count too.", field="rate")
    return count, rate


def _spec(data: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A message's fields as a job or a saved message keeps them."""
    return {
        "key": _text(data, "key"),
        "value": _text(data, "value"),
        # Bulk jobs refuse schema encodings before this; saved messages keep them (with ``_schema_spec``).
        "encoding": choice_param(data, "encoding", VALUE_ENCODINGS, "text"),
        "headers": [[n, v.decode()] for n, v in parse_headers(data.get("headers"))],
        **extra,
    }


def _schema_spec(data: Mapping[str, Any], *, keyed: bool) -> dict[str, Any]:
    """A saved message's schema encodings: the encoding and schema of each part that has one."""
    encoding = choice_param(data, "encoding", VALUE_ENCODINGS, "text")
    key_encoding = choice_param(data, "key_encoding", KEY_ALL_ENCODINGS if keyed else KEY_ENCODINGS, "text")
    fields: dict[str, Any] = {"encoding": encoding, "key_encoding": key_encoding}
    for part, chosen in ((schema_parts.VALUE, encoding), (schema_parts.KEY, key_encoding)):
        if schema_parts.uses_schema(chosen):
            ref = part.ref(data)
            if not ref.get("subject") and ref.get("id") is None:
                raise InvalidInput(
                    f"The {part.name} as {chosen} needs {part.schema}: a subject or an id.", field=part.schema
                )
            fields[part.schema] = {k: v for k, v in ref.items() if k != "type"}
            if ref.get("type"):
                fields[part.type] = ref["type"]
    return fields


def _no_schema_in_bulk(data: Mapping[str, Any]) -> None:
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
        key=encode(_text(data, "key"), key_encoding, "key"),
        value=encode(_text(data, "value"), encoding, "value"),
        headers=parse_headers(data.get("headers")),
    )


async def _message(ctx: Ctx, name: str, data: Mapping[str, Any], *, keyed: bool) -> tuple[Outgoing, dict[str, Any]]:
    """One message from the request, each part in its own encoding; the schema ids used, for the answer."""
    encoding = choice_param(data, "encoding", VALUE_ENCODINGS, "text")
    key_encoding = choice_param(data, "key_encoding", KEY_ALL_ENCODINGS if keyed else KEY_ENCODINGS, "text")
    assert encoding is not None and key_encoding is not None
    if not (schema_parts.uses_schema(encoding) or schema_parts.uses_schema(key_encoding)):
        return _single(data), {}
    cluster = ctx.config
    headers = parse_headers(data.get("headers"))
    key_text, value_text = _text(data, "key"), _text(data, "value")

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


def _raw(payload: Payload) -> bytes | None:
    if payload.truncated:
        raise InvalidInput(
            f"That message is larger than {payloads.FULL_DISPLAY_LIMIT:,} bytes; publish it from a client."
        )
    return payload.raw


# -- Kafka ------------------------------------------------------------------------------


async def _stored_kafka(ctx: Ctx, topic: str, partition: int, offset: int) -> Outgoing:
    """A message already in the topic, whole, to send again."""
    message, _decoded = await _stored_kafka_decoded(ctx, topic, partition, offset, decode=False)
    return message


async def _stored_kafka_decoded(
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


@described(body=api.KafkaPublish, answers={201: api.KafkaDelivery, 202: api.JobStarted})
@writes(actions.KAFKA_PUBLISH, needs="publish")
async def kafka_publish(ctx: Ctx) -> Result:
    topic = validate_topic_name(ctx.args["topic"], field="topic")
    body = ctx.body()
    partition = int_param(body, "partition", None, minimum=0, maximum=MAX_PARTITION)
    count, rate = _bulk(body)
    source = int_param(body, "from_offset", None, minimum=0)
    if source is not None:
        from_partition = int_param(body, "from_partition", 0, minimum=0, maximum=MAX_PARTITION)
        assert from_partition is not None
        message = await _stored_kafka(ctx, topic, from_partition, source)
        delivery = await actions.do_publish_kafka(ctx.user, ctx.config, topic, message, partition)
        return Result({**delivery.as_api(), "message": _delivered(delivery.as_api())}, status=201)
    if count is not None:
        _no_schema_in_bulk(body)
        spec = _spec(body, partition=partition)
        generator = Generator.build(spec["key"], spec["value"], spec["encoding"], parse_headers(spec["headers"]))
        job = await actions.do_start_bulk(
            ctx.user, ctx.config, Target.KAFKA, topic, spec, count, rate, actions.sample_of(generator)
        )
        return Result(_job_started(job.pk), status=202, page={"job": job})
    message, schema_ids = await _message(ctx, topic, body, keyed=True)
    delivery = await actions.do_publish_kafka(ctx.user, ctx.config, topic, message, partition, schemas=schema_ids)
    data = {**delivery.as_api(), **schema_ids}
    return Result({**data, "message": _delivered(data)}, status=201)


def _delivered(data: dict[str, Any]) -> str:
    return f"Delivered to {data['topic']} partition {data['partition']} at offset {data['offset']}."


def _job_started(job_id: int) -> dict[str, Any]:
    return {"job": job_id, "url": reverse("api-job", args=[job_id]), "message": f"Job {job_id} queued."}


@described(query=api.KafkaFormQuery, answers={200: api.KafkaForm})
async def kafka_form(ctx: Ctx) -> Result:
    """The publish form of a topic, filled from a saved message or a stored one when asked."""
    topic = ctx.args["topic"]
    info = await ctx.kafka.topic(topic)
    prefill = await _prefill(ctx, Target.KAFKA, topic)
    templates = await _templates(ctx, Target.KAFKA)
    data = {
        "topic": topic,
        "partitions": info.partition_ids,
        "templates": [t.as_api() for t in templates],
        "prefill": _prefill_api(prefill),
    }
    return Result(data, page={"prefill": prefill, **await _form_choices(ctx)})


# -- NATS -------------------------------------------------------------------------------


def _subject(data: Mapping[str, Any]) -> str:
    subject = str_param(data, "subject", max_length=SUBJECT_MAX_LENGTH).strip()
    if not subject:
        raise InvalidInput("subject is required.", field="subject")
    problem = validate_subject(subject, wildcards=False)
    if problem:
        raise InvalidInput(f"subject is not a subject to publish to: {problem}.", field="subject")
    return subject


async def _stored_nats(ctx: Ctx, stream: str, seq: int) -> tuple[str, Outgoing]:
    subject, message, _decoded = await _stored_nats_decoded(ctx, stream, seq, decode=False)
    return subject, message


async def _stored_nats_decoded(
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


@described(
    body=api.NatsPublish, answers={200: api.NatsOutcome, 201: api.NatsOutcome, 202: api.JobStarted}, errors=[504]
)
@writes(actions.NATS_PUBLISH, needs="publish")
async def nats_publish(ctx: Ctx) -> Result:
    body = ctx.body()
    mode = choice_param(body, "mode", MODES, "publish")
    assert mode is not None
    timeout = float_param(body, "timeout", minimum=0.01, maximum=MAX_REQUEST_TIMEOUT) or ctx.nats.timeout
    msg_id = str_param(body, "msg_id", max_length=256).strip() or None
    if msg_id and mode != "jetstream":
        raise InvalidInput("msg_id (Nats-Msg-Id) applies to JetStream publishing.", field="msg_id")
    count, rate = _bulk(body)
    from_seq = int_param(body, "from_seq", None, minimum=1)
    if from_seq is not None:
        stream = str_param(body, "from_stream", max_length=255)
        subject, message = await _stored_nats(ctx, stream, from_seq)
        subject = _subject(body) if body.get("subject") else subject
    else:
        subject = _subject(body)
    # The subject may be the stored message's, which the endpoint's check could not know.
    ctx.need(PUBLISH, SUBJECTS, subject)
    if count is not None:
        if mode == "request":
            raise InvalidInput("Bulk publishing publishes; request-reply sends one request at a time.", field="mode")
        _no_schema_in_bulk(body)
        spec = _spec(body, mode=mode, msg_id=msg_id)
        generator = Generator.build(spec["key"], spec["value"], spec["encoding"], parse_headers(spec["headers"]))
        job = await actions.do_start_bulk(
            ctx.user, ctx.config, Target.NATS, subject, spec, count, rate, actions.sample_of(generator)
        )
        return Result(_job_started(job.pk), status=202, page={"job": job})
    schema_ids: dict[str, Any] = {}
    if from_seq is None:
        message, schema_ids = await _message(ctx, subject, body, keyed=False)
        schema_ids.pop("key_schema_id", None)
    outcome = await masked_reply(
        ctx,
        subject,
        await actions.do_publish_nats(
            ctx.user, ctx.config, subject, message, mode=mode, timeout=timeout, msg_id=msg_id, schemas=schema_ids
        ),
    )
    data = {**outcome.data, "mode": mode, **schema_ids}
    message_text = _nats_message(subject, mode, data)
    return Result({**data, "message": message_text}, status=outcome.status, page={"reply": outcome.reply})


async def masked_reply(ctx: Ctx, subject: str, outcome: actions.NatsOutcome) -> actions.NatsOutcome:
    """A request's reply as its sender may see it: masked by the rules covering the request's subject
    for someone without unmask there (the reply carries what the subject's service answers)."""
    reply = outcome.reply
    if reply is None:
        return outcome
    mask = await read_mask(ctx.user, ctx.slug, "subjects", subject)
    rules = mask.covering(("subjects", subject))
    await audit_unmasked(ctx.user, mask, "subjects", subject, "reply")
    if not rules:
        return outcome
    shown = dataclasses.replace(
        reply, value=masking.mask_payload(reply.value, rules), headers=masking.mask_headers(reply.headers, rules)
    )
    return dataclasses.replace(outcome, data=shown.as_api(), reply=shown)


def _nats_message(subject: str, mode: str, data: dict[str, Any]) -> str:
    if mode == "request":
        return f"Reply to {subject} in {data['elapsed_ms']} ms."
    if mode == "jetstream":
        again = " (a duplicate: the stream already had this Nats-Msg-Id)" if data["duplicate"] else ""
        return f"Stored in stream {data['stream']} at sequence {data['seq']}{again}."
    return f"Published to {subject}."


@described(query=api.NatsFormQuery, answers={200: api.NatsForm})
async def nats_form(ctx: Ctx) -> Result:
    prefill = await _prefill(ctx, Target.NATS, None)
    templates = await _templates(ctx, Target.NATS)
    data = {
        "subject": prefill.get("subject", ""),
        "templates": [t.as_api() for t in templates],
        "prefill": _prefill_api(prefill),
    }
    return Result(data, page={"prefill": prefill, **await _form_choices(ctx)})


# -- prefill: from a saved message, a stored one, or the query ------------------------------


async def _prefill(ctx: Ctx, kind: str, topic: str | None) -> dict[str, Any]:
    query = ctx.query
    fields: dict[str, Any] = {k: query.get(k) for k in ("key", "value", "encoding", "partition", "subject", "mode")}
    template_id = int_param(query, "template", None, minimum=1)
    if template_id is not None:
        template = await MessageTemplate.objects.filter(pk=template_id, cluster=ctx.slug, kind=kind).afirst()
        if template is None:
            raise InvalidInput(f"No saved message {template_id} for this cluster.", field="template")
        ctx.need(PUBLISH, _published(template.kind), template.target)
        fields.update(template.fields)
        fields["subject"] = template.target if kind == Target.NATS else None
        fields["template_name"] = template.name
    elif kind == Target.KAFKA and topic and query.get("from_offset"):
        partition = int_param(query, "from_partition", 0, minimum=0, maximum=MAX_PARTITION)
        offset = int_param(query, "from_offset", None, minimum=0)
        assert partition is not None and offset is not None
        message, (key_decoded, value_decoded) = await _stored_kafka_decoded(ctx, topic, partition, offset)
        shown, masked = await _as_seen(ctx, message, topic, "topics", topic, [("topics", topic)])
        # A masked message is shown as masked text: its decoded form would give the hidden data away.
        fields.update(_editable(shown) if masked else _editable(message, key_decoded, value_decoded))
        fields.update(masked=masked or None)
    elif kind == Target.NATS and query.get("from_seq"):
        seq = int_param(query, "from_seq", None, minimum=1)
        assert seq is not None
        stream = str_param(query, "from_stream", max_length=255)
        subject, message, value_decoded = await _stored_nats_decoded(ctx, stream, seq)
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


def _prefill_api(prefill: dict[str, Any]) -> dict[str, Any]:
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


async def _form_choices(ctx: Ctx) -> dict[str, Any]:
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


# -- the form's schema panel -----------------------------------------------------------------


@described(query=api.SchemaPanelQuery, answers={200: api.SchemaPanel})
async def schema_panel(ctx: Ctx) -> Result:
    """The schema a publish form names for a part, and an example value from it (the page swaps it in with htmx)."""
    query = ctx.query
    part = schema_parts.KEY if query.get("part") == "key" else schema_parts.VALUE
    encoding = query.get(part.encoding) or query.get("encoding") or "text"
    if not schema_parts.uses_schema(encoding):
        return Result({"schema": None, "part": part.name}, page={"panel": None, "part": part.name})
    fields = {name: query.get(name) for name in query}
    if part is schema_parts.KEY:
        # The API twin takes the value's plain names for either part.
        for plain in ("schema_subject", "schema_version", "schema_id"):
            fields.setdefault(f"key_{plain}", fields.get(plain))
        fields.setdefault("key_type", fields.get("type"))
    for plain, flat in (("subject", "schema_subject"), ("version", "schema_version"), ("id", "schema_id")):
        if query.get(plain):
            fields[f"{part.prefix}{flat}"] = query.get(plain)
    ref = part.ref(fields)
    if not ref.get("subject") and ref.get("id") is None:
        message = "Choose a subject (and version) or a schema id."
        return Result(
            {"schema": None, "part": part.name, "message": message},
            page={"panel": None, "part": part.name, "hint": message},
        )
    panel = await sync_to_async(schema_parts.schema_panel, thread_sensitive=False)(ctx.config, part, encoding, ref)
    return Result({"schema": panel, "part": part.name}, page={"panel": panel, "part": part.name})


async def _templates(ctx: Ctx, kind: str) -> list[MessageTemplate]:
    found = MessageTemplate.objects.select_related("created_by").filter(cluster=ctx.slug, kind=kind)
    return [t async for t in found if ctx.may(PUBLISH, _published(kind), t.target)]


# -- jobs -------------------------------------------------------------------------------


def _published(kind: str) -> str:
    return TOPICS if kind == Target.KAFKA else SUBJECTS


@described(query=api.JobsQuery, answers={200: api.JobList})
async def jobs_list(ctx: Ctx) -> Result:
    jobs = await actions.recent_jobs(int_param(ctx.query, "limit", 50, minimum=1, maximum=500) or 50)
    jobs = [j for j in jobs if ctx.may(VIEW, _published(j.kind), j.target, j.cluster)]
    return Result({"items": [j.as_api() for j in jobs], "total": len(jobs)}, page={"jobs": jobs})


@described(answers={200: api.Job})
async def job_detail(ctx: Ctx) -> Result:
    await actions.expire_stale_jobs()
    job = await actions.get_job(ctx.args["job"])
    return Result(job.as_api(), page={"job": job})


@described(answers={202: api.JobCancelled}, errors=[409])
@writes(actions.JOB_CANCEL, needs="publish", stops=True)
async def job_cancel(ctx: Ctx) -> Result:
    job = await actions.do_cancel_job(ctx.user, ctx.args["job"])
    return Result({**job.as_api(), "message": f"Job {job.pk} is being cancelled."}, status=202)


# -- saved messages ------------------------------------------------------------------------


@described(query=api.TemplatesQuery, answers={200: api.TemplateList})
async def templates_list(ctx: Ctx) -> Result:
    cluster = str_param(ctx.query, "cluster", max_length=50).strip()
    found = MessageTemplate.objects.select_related("created_by")
    if cluster:
        found = found.filter(cluster=cluster)
    items = [t async for t in found if ctx.may(VIEW, _published(t.kind), t.target, t.cluster)]
    return Result({"items": [t.as_api() for t in items], "total": len(items)}, page={"templates": items})


@described(body=api.TemplateSave, answers={201: api.TemplateSaved})
@writes(actions.TEMPLATE_SAVE, needs="publish")
async def template_save(ctx: Ctx) -> Result:
    from streams import registry

    body = ctx.body()
    name = str_param(body, "name", max_length=100).strip()
    if not name:
        raise InvalidInput("name is required.", field="name")
    config = await registry.aget_config(str_param(body, "cluster", max_length=50))
    # The NATS page's form names it "subject".
    target = (
        str_param(body, "target", max_length=SUBJECT_MAX_LENGTH).strip()
        or str_param(body, "subject", max_length=SUBJECT_MAX_LENGTH).strip()
    )
    if config.kind == Target.KAFKA:
        validate_topic_name(target, field="target")
        extra: dict[str, Any] = {"partition": int_param(body, "partition", None, minimum=0)}
    else:
        if problem := validate_subject(target, wildcards=False):
            raise InvalidInput(f"target is not a subject to publish to: {problem}.", field="target")
        extra = {
            "mode": choice_param(body, "mode", MODES, "publish"),
            "msg_id": str_param(body, "msg_id", max_length=256).strip() or None,
        }
    fields = {**_spec(body, **extra), **_schema_spec(body, keyed=config.kind == Target.KAFKA)}
    # Checked as a publish would be, so a saved message is one that can be sent.
    plain = fields["encoding"] if not schema_parts.uses_schema(fields["encoding"]) else "text"
    generator = Generator.build(fields["key"], fields["value"], plain, parse_headers(fields["headers"]))
    if config.kind == Target.NATS:
        nats_headers(actions.sample_of(generator), fields.get("msg_id"))
    template = await actions.do_save_template(ctx.user, config, name, config.kind, target, fields)
    return Result({**template.as_api(), "message": f"Saved {name}."}, status=201)


@described(answers={200: api.TemplateDeleted})
@writes(actions.TEMPLATE_DELETE, needs="publish")
async def template_delete(ctx: Ctx) -> dict[str, Any]:
    await actions.do_delete_template(ctx.user, ctx.args["template"])
    return {"deleted": ctx.args["template"], "message": "Saved message deleted."}


C = "clusters/<slug:cluster>"

urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/topics/<str:topic>/publish",
        name="kafka-publish",
        resource=TOPIC_PUBLISH,
        kind="kafka",
        template="publish/kafka.html",
        form="publish/_outcome.html",
        page={"nav": "kafka"},
        get=kafka_form,
        post=kafka_publish,
    ),
    *endpoint(
        f"{C}/publish/schema",
        name="publish-schema",
        resource=SCHEMA_LIST,
        template="publish/_schema.html",
        get=schema_panel,
    ),
    *endpoint(
        f"{C}/publish",
        name="nats-publish",
        resource=SUBJECT_PUBLISH,
        kind="nats",
        template="publish/nats.html",
        form="publish/_outcome.html",
        page={"nav": "nats", "tab": "publish"},
        get=nats_form,
        post=nats_publish,
    ),
    *endpoint(
        "jobs", name="jobs", resource=JOB, template="publish/jobs.html", partial="publish/_jobs.html", get=jobs_list
    ),
    *endpoint(
        "jobs/<int:job>",
        name="job",
        resource=JOB,
        template="publish/job.html",
        partial="publish/_job.html",
        get=job_detail,
    ),
    *endpoint("jobs/<int:job>/cancel", name="job-cancel", resource=JOB, post=job_cancel),
    *action(
        "jobs/<int:job>/cancel",
        name="job-cancel",
        resource=JOB,
        handler=job_cancel,
        redirect=lambda ctx, data: reverse("job", args=[ctx.args["job"]]),
    ),
    *endpoint(
        "templates",
        name="templates",
        resource=TEMPLATE,
        template="publish/templates.html",
        form="publish/_saved.html",
        get=templates_list,
        post=template_save,
    ),
    *endpoint("templates/<int:template>", name="template", resource=TEMPLATE, delete=template_delete),
    *action(
        "templates/<int:template>/delete",
        name="template-delete",
        resource=TEMPLATE,
        handler=template_delete,
        redirect=lambda ctx, data: reverse("templates"),
    ),
]
