"""Publishing to a NATS subject (core publish, request-reply, JetStream), one message or a bulk job; and its form."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from console.access import audit_unmasked, read_mask
from console.apitypes import publish as api
from console.openapi import described
from console.params import choice_param, float_param, int_param, str_param
from console.views.publish.common import bulk_params, job_spec, job_started, no_schema_in_bulk, outgoing_message
from console.views.publish.form import form_choices, form_prefill, form_templates, prefill_api
from console.views.publish.stored import stored_nats
from console.web import Ctx, Result, writes
from streams import masking
from streams.errors import InvalidInput
from streams.nats.subjects import SUBJECT_MAX_LENGTH, validate_subject
from streams.policies import PUBLISH, SUBJECTS
from streams.publish import actions
from streams.publish.message import Generator, parse_headers
from streams.publish.models import Target
from streams.publish.nats import MAX_REQUEST_TIMEOUT, MODES


def _subject(data: Mapping[str, Any]) -> str:
    subject = str_param(data, "subject", max_length=SUBJECT_MAX_LENGTH).strip()
    if not subject:
        raise InvalidInput("subject is required.", field="subject")
    problem = validate_subject(subject, wildcards=False)
    if problem:
        raise InvalidInput(f"subject is not a subject to publish to: {problem}.", field="subject")
    return subject


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
    count, rate = bulk_params(body)
    from_seq = int_param(body, "from_seq", None, minimum=1)
    if from_seq is not None:
        stream = str_param(body, "from_stream", max_length=255)
        subject, message = await stored_nats(ctx, stream, from_seq)
        subject = _subject(body) if body.get("subject") else subject
    else:
        subject = _subject(body)
    # The subject may be the stored message's, which the endpoint's check could not know.
    ctx.need(PUBLISH, SUBJECTS, subject)
    if count is not None:
        if mode == "request":
            raise InvalidInput("Bulk publishing publishes; request-reply sends one request at a time.", field="mode")
        no_schema_in_bulk(body)
        spec = job_spec(body, mode=mode, msg_id=msg_id)
        generator = Generator.build(spec["key"], spec["value"], spec["encoding"], parse_headers(spec["headers"]))
        job = await actions.do_start_bulk(
            ctx.user, ctx.config, Target.NATS, subject, spec, count, rate, actions.sample_of(generator)
        )
        return Result(job_started(job.pk), status=202, page={"job": job})
    schema_ids: dict[str, Any] = {}
    if from_seq is None:
        message, schema_ids = await outgoing_message(ctx, subject, body, keyed=False)
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
    prefill = await form_prefill(ctx, Target.NATS, None)
    templates = await form_templates(ctx, Target.NATS)
    data = {
        "subject": prefill.get("subject", ""),
        "templates": [t.as_api() for t in templates],
        "prefill": prefill_api(prefill),
    }
    return Result(data, page={"prefill": prefill, **await form_choices(ctx)})
