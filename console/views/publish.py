"""Publishing test messages: Kafka topics, NATS subjects (publish, request-reply, JetStream),
bulk jobs with their progress, and saved messages.

The same handler answers the API and the page's form; a page POST renders what the
broker answered in place (``console.web.endpoint(form=...)``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from django.urls import URLPattern, reverse

from console.apitypes import publish as api
from console.openapi import described
from console.params import choice_param, float_param, int_param, str_param
from console.web import Ctx, Result, action, endpoint, writes
from streams import payloads
from streams.errors import InvalidInput
from streams.kafka.names import validate_topic_name
from streams.kafka.types import ReadRange
from streams.nats.subjects import SUBJECT_MAX_LENGTH, validate_subject
from streams.payloads import Payload
from streams.publish import actions
from streams.publish.message import ENCODINGS, KEY_ENCODINGS, PLACEHOLDERS, Generator, Outgoing, encode, parse_headers
from streams.publish.models import MessageTemplate, Target
from streams.publish.nats import MAX_REQUEST_TIMEOUT, MODES, nats_headers

TEXT_LIMIT = 1024 * 1024


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
        "encoding": choice_param(data, "encoding", ENCODINGS, "text"),
        "headers": [[n, v.decode()] for n, v in parse_headers(data.get("headers"))],
        **extra,
    }


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


def _raw(payload: Payload) -> bytes | None:
    if payload.truncated:
        raise InvalidInput(
            f"That message is larger than {payloads.FULL_DISPLAY_LIMIT:,} bytes; publish it from a client."
        )
    return payload.raw


# -- Kafka ------------------------------------------------------------------------------


async def _stored_kafka(ctx: Ctx, topic: str, partition: int, offset: int) -> Outgoing:
    """A message already in the topic, whole, to send again."""
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
    return Outgoing(key=_raw(m.key), value=_raw(m.value), headers=headers)


@described(body=api.KafkaPublish, answers={201: api.KafkaDelivery, 202: api.JobStarted})
@writes(actions.KAFKA_PUBLISH)
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
        spec = _spec(body, partition=partition)
        generator = Generator.build(spec["key"], spec["value"], spec["encoding"], parse_headers(spec["headers"]))
        job = await actions.do_start_bulk(
            ctx.user, ctx.config, Target.KAFKA, topic, spec, count, rate, actions.sample_of(generator)
        )
        return Result(_job_started(job.pk), status=202, page={"job": job})
    message = _single(body)
    delivery = await actions.do_publish_kafka(ctx.user, ctx.config, topic, message, partition)
    data = delivery.as_api()
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
    templates = await _templates(ctx.slug, Target.KAFKA)
    data = {"topic": topic, "partitions": info.partition_ids, "templates": [t.as_api() for t in templates]}
    return Result(data, page={"prefill": prefill, **_form_choices()})


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
    stored = await ctx.nats.message(stream, seq, limit=payloads.FULL_DISPLAY_LIMIT)
    headers = tuple((name, _raw(value) or b"") for name, value in stored.headers)
    return stored.subject, Outgoing(key=None, value=_raw(stored.value), headers=headers)


@described(
    body=api.NatsPublish, answers={200: api.NatsOutcome, 201: api.NatsOutcome, 202: api.JobStarted}, errors=[504]
)
@writes(actions.NATS_PUBLISH)
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
    if count is not None:
        if mode == "request":
            raise InvalidInput("Bulk publishing publishes; request-reply sends one request at a time.", field="mode")
        spec = _spec(body, mode=mode, msg_id=msg_id)
        generator = Generator.build(spec["key"], spec["value"], spec["encoding"], parse_headers(spec["headers"]))
        job = await actions.do_start_bulk(
            ctx.user, ctx.config, Target.NATS, subject, spec, count, rate, actions.sample_of(generator)
        )
        return Result(_job_started(job.pk), status=202, page={"job": job})
    if from_seq is None:
        message = _single(body)
    outcome = await actions.do_publish_nats(
        ctx.user, ctx.config, subject, message, mode=mode, timeout=timeout, msg_id=msg_id
    )
    data = {**outcome.data, "mode": mode}
    message_text = _nats_message(subject, mode, data)
    return Result({**data, "message": message_text}, status=outcome.status, page={"reply": outcome.reply})


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
    templates = await _templates(ctx.slug, Target.NATS)
    data = {"subject": prefill.get("subject", ""), "templates": [t.as_api() for t in templates]}
    return Result(data, page={"prefill": prefill, **_form_choices()})


# -- prefill: from a saved message, a stored one, or the query ------------------------------


async def _prefill(ctx: Ctx, kind: str, topic: str | None) -> dict[str, Any]:
    query = ctx.query
    fields: dict[str, Any] = {k: query.get(k) for k in ("key", "value", "encoding", "partition", "subject", "mode")}
    template_id = int_param(query, "template", None, minimum=1)
    if template_id is not None:
        template = await MessageTemplate.objects.filter(pk=template_id, cluster=ctx.slug, kind=kind).afirst()
        if template is None:
            raise InvalidInput(f"No saved message {template_id} for this cluster.", field="template")
        fields.update(template.fields)
        fields["subject"] = template.target if kind == Target.NATS else None
        fields["template_name"] = template.name
    elif kind == Target.KAFKA and topic and query.get("from_offset"):
        partition = int_param(query, "from_partition", 0, minimum=0, maximum=MAX_PARTITION)
        offset = int_param(query, "from_offset", None, minimum=0)
        assert partition is not None and offset is not None
        fields.update(_editable(await _stored_kafka(ctx, topic, partition, offset)))
    elif kind == Target.NATS and query.get("from_seq"):
        seq = int_param(query, "from_seq", None, minimum=1)
        assert seq is not None
        subject, message = await _stored_nats(ctx, str_param(query, "from_stream", max_length=255), seq)
        fields.update(_editable(message), subject=subject, mode="jetstream")
    headers = fields.get("headers")
    if isinstance(headers, list):
        fields["headers"] = "\n".join(f"{n}: {v}" for n, v in headers)
    return {k: v for k, v in fields.items() if v is not None}


def _editable(message: Outgoing) -> dict[str, Any]:
    """A stored message as form fields: text where it is UTF-8, else base64."""

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
    return {
        "key": key,
        "key_encoding": "base64" if key_b64 else "text",
        "value": value,
        "encoding": "base64" if value_b64 else "text",
        "headers": headers,
    }


def _form_choices() -> dict[str, Any]:
    return {"encodings": ENCODINGS, "modes": MODES, "placeholders": PLACEHOLDERS.items()}


async def _templates(slug: str, kind: str) -> list[MessageTemplate]:
    return [t async for t in MessageTemplate.objects.select_related("created_by").filter(cluster=slug, kind=kind)]


# -- jobs -------------------------------------------------------------------------------


@described(query=api.JobsQuery, answers={200: api.JobList})
async def jobs_list(ctx: Ctx) -> Result:
    jobs = await actions.recent_jobs(int_param(ctx.query, "limit", 50, minimum=1, maximum=500) or 50)
    return Result({"items": [j.as_api() for j in jobs], "total": len(jobs)}, page={"jobs": jobs})


@described(answers={200: api.Job})
async def job_detail(ctx: Ctx) -> Result:
    await actions.expire_stale_jobs()
    job = await actions.get_job(ctx.args["job"])
    return Result(job.as_api(), page={"job": job})


@described(answers={202: api.JobCancelled}, errors=[409])
@writes(actions.JOB_CANCEL, stops=True)
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
    items = [t async for t in found]
    return Result({"items": [t.as_api() for t in items], "total": len(items)}, page={"templates": items})


@described(body=api.TemplateSave, answers={201: api.TemplateSaved})
@writes(actions.TEMPLATE_SAVE)
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
    fields = _spec(body, **extra)
    # Checked as a publish would be, so a saved message is one that can be sent.
    generator = Generator.build(fields["key"], fields["value"], fields["encoding"], parse_headers(fields["headers"]))
    if config.kind == Target.NATS:
        nats_headers(actions.sample_of(generator), fields.get("msg_id"))
    template = await actions.do_save_template(ctx.user, config, name, config.kind, target, fields)
    return Result({**template.as_api(), "message": f"Saved {name}."}, status=201)


@described(answers={200: api.TemplateDeleted})
@writes(actions.TEMPLATE_DELETE)
async def template_delete(ctx: Ctx) -> dict[str, Any]:
    await actions.do_delete_template(ctx.user, ctx.args["template"])
    return {"deleted": ctx.args["template"], "message": "Saved message deleted."}


C = "clusters/<slug:cluster>"

urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/topics/<str:topic>/publish",
        name="kafka-publish",
        kind="kafka",
        template="publish/kafka.html",
        form="publish/_outcome.html",
        page={"nav": "kafka"},
        get=kafka_form,
        post=kafka_publish,
    ),
    *endpoint(
        f"{C}/publish",
        name="nats-publish",
        kind="nats",
        template="publish/nats.html",
        form="publish/_outcome.html",
        page={"nav": "nats", "tab": "publish"},
        get=nats_form,
        post=nats_publish,
    ),
    *endpoint("jobs", name="jobs", template="publish/jobs.html", partial="publish/_jobs.html", get=jobs_list),
    *endpoint("jobs/<int:job>", name="job", template="publish/job.html", partial="publish/_job.html", get=job_detail),
    *endpoint("jobs/<int:job>/cancel", name="job-cancel", post=job_cancel),
    *action(
        "jobs/<int:job>/cancel",
        name="job-cancel",
        handler=job_cancel,
        redirect=lambda ctx, data: reverse("job", args=[ctx.args["job"]]),
    ),
    *endpoint(
        "templates",
        name="templates",
        template="publish/templates.html",
        form="publish/_saved.html",
        get=templates_list,
        post=template_save,
    ),
    *endpoint("templates/<int:template>", name="template", delete=template_delete),
    *action(
        "templates/<int:template>/delete",
        name="template-delete",
        handler=template_delete,
        redirect=lambda ctx, data: reverse("templates"),
    ),
]
