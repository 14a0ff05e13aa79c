"""Saved messages: listed, saved (checked as a publish would be), deleted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.apitypes import publish as api
from console.openapi import described
from console.params import choice_param, int_param, str_param
from console.views.publish.common import KEY_ALL_ENCODINGS, VALUE_ENCODINGS, job_spec, published_resource
from console.web import Ctx, Result, writes
from streams.errors import InvalidInput
from streams.kafka.names import validate_topic_name
from streams.nats.subjects import SUBJECT_MAX_LENGTH, validate_subject
from streams.policies import VIEW
from streams.publish import actions
from streams.publish import schemas as schema_parts
from streams.publish.message import KEY_ENCODINGS, Generator, parse_headers
from streams.publish.models import MessageTemplate, Target
from streams.publish.nats import MODES, nats_headers


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


@described(query=api.TemplatesQuery, answers={200: api.TemplateList})
async def templates_list(ctx: Ctx) -> Result:
    cluster = str_param(ctx.query, "cluster", max_length=50).strip()
    found = MessageTemplate.objects.select_related("created_by")
    if cluster:
        found = found.filter(cluster=cluster)
    items = [t async for t in found if ctx.may(VIEW, published_resource(t.kind), t.target, t.cluster)]
    return Result({"items": [t.as_api() for t in items], "total": len(items)}, page={"templates": items})


@described(body=api.TemplateSave, answers={201: api.TemplateSaved})
@writes(actions.TEMPLATE_SAVE, needs="publish")
async def template_save(ctx: Ctx) -> Result:
    from streams import adapters

    body = ctx.body()
    name = str_param(body, "name", max_length=100).strip()
    if not name:
        raise InvalidInput("name is required.", field="name")
    config = await adapters.aget_config(str_param(body, "cluster", max_length=50))
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
    fields = {**job_spec(body, **extra), **_schema_spec(body, keyed=config.kind == Target.KAFKA)}
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
