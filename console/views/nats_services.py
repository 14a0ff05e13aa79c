"""NATS micro services: every service with its versions, instances, endpoints and counts, and
"try it": one request to an endpoint's subject through the request-reply publisher (a publish:
operators only, audited as one)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from console.apitypes import nats_stores as api
from console.apitypes import publish as publish_api
from console.openapi import described
from console.params import choice_param, float_param, str_param
from console.resources import CLUSTER_PAGES
from console.views.nats.common import KIND, tab
from console.views.publish.nats import masked_reply
from console.web import Ctx, Result, endpoint, writes
from streams.errors import InvalidInput
from streams.nats import services
from streams.nats.subjects import SUBJECT_MAX_LENGTH, validate_subject
from streams.policies import PUBLISH, SUBJECTS
from streams.publish import actions
from streams.publish.message import ENCODINGS, Outgoing, encode
from streams.publish.nats import MAX_REQUEST_TIMEOUT

TRY_TIMEOUT_S = 2.0
VALUE_LIMIT = 1024 * 1024


def _endpoints(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The service's endpoints once each, whatever the number of instances that serve them."""
    seen: dict[str, dict[str, Any]] = {}
    for instance in service["instances"]:
        for ep in instance["endpoints"]:
            if ep["subject"] and ep["subject"] not in seen:
                seen[ep["subject"]] = {"name": ep["name"], "subject": ep["subject"]}
    return list(seen.values())


@described(answers={200: api.Services}, errors=[504])
async def services_data(ctx: Ctx) -> Result:
    found = await ctx.nats.with_client(services.services, what="listing services")
    # Subjects with wildcards take no request as they stand: the form leaves those to the publish page.
    tries = [[ep for ep in _endpoints(s) if validate_subject(ep["subject"], wildcards=False) is None] for s in found]
    return Result({"items": found}, page={"listed": list(zip(found, tries, strict=True)), "encodings": ENCODINGS})


@described(body=publish_api.ServiceRequest, answers={200: publish_api.ServiceReply}, errors=[504])
@writes(actions.NATS_PUBLISH, needs=PUBLISH)
async def service_request(ctx: Ctx) -> Result:
    body = ctx.body()
    subject = str_param(body, "subject", max_length=SUBJECT_MAX_LENGTH).strip()
    problem = validate_subject(subject, wildcards=False) if subject else "the endpoint's subject is required"
    if problem:
        raise InvalidInput(f"subject: {problem}.", field="subject")
    # The page is the cluster's; the request is a publish to the endpoint's subject.
    ctx.need(PUBLISH, SUBJECTS, subject)
    encoding = choice_param(body, "encoding", ENCODINGS, "text") or "text"
    raw = body.get("value")
    if isinstance(raw, str) and len(raw) > VALUE_LIMIT:
        raise InvalidInput(f"value is longer than {VALUE_LIMIT:,} characters.", field="value")
    message = Outgoing(key=None, value=encode(raw, encoding, "value"))
    timeout = float_param(body, "timeout", TRY_TIMEOUT_S, minimum=0.01, maximum=MAX_REQUEST_TIMEOUT) or TRY_TIMEOUT_S
    outcome = await masked_reply(
        ctx,
        subject,
        await actions.do_publish_nats(
            ctx.user, ctx.config, subject, message, mode="request", timeout=timeout, msg_id=None
        ),
    )
    data = {**outcome.data, "subject": subject, "message": f"Reply from {subject} in {outcome.data['elapsed_ms']} ms."}
    return Result(data, status=outcome.status, page={"reply": outcome.reply})


urlpatterns: list[URLPattern] = [
    *endpoint(
        "clusters/<slug:cluster>/services",
        name="nats-services",
        resource=CLUSTER_PAGES,
        kind=KIND,
        template="nats/services.html",
        form="nats/_service_reply.html",
        page=tab("services"),
        get=services_data,
        post=service_request,
    ),
]
