"""JetStream consumers of a stream: the list, one consumer, create, edit and delete, pause and resume."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async

from console.apitypes import nats as api
from console.apitypes.common import Deleted
from console.openapi import described
from console.params import bool_param, choice_param, datetime_param, page_params, str_param
from console.views.nats.common import config_rows, paged
from console.web import Ctx, Result, require_confirmation, writes
from streams.errors import InvalidInput
from streams.lag.overview import list_statuses
from streams.nats import actions, editing
from streams.nats.adapter import PAUSE_MIN_VERSION
from streams.nats.convert import at_least
from streams.nats.durations import parse_duration
from streams.nats.types import INDEFINITE_PAUSE, ConsumerSummary, pause_description

CONSUMER_SORTS = ("name", "lag", "ack_pending", "redelivered", "waiting")
SORT_KEYS: dict[str, Callable[[ConsumerSummary], int]] = {
    "lag": lambda c: c.num_pending,
    "ack_pending": lambda c: c.num_ack_pending,
    "redelivered": lambda c: c.num_redelivered,
    "waiting": lambda c: c.num_waiting,
}

POLICY_CHOICES = {
    "deliver_policies": editing.CONSUMER_CHOICES["deliver_policy"],
    "ack_policies": editing.CONSUMER_CHOICES["ack_policy"],
}


@described(query=api.ConsumersQuery, answers={200: api.ConsumerList})
async def consumers_data(ctx: Ctx) -> Result:
    stream = ctx.args["stream"]
    q = str_param(ctx.query, "q", max_length=255).strip().lower()
    sort = choice_param(ctx.query, "sort", CONSUMER_SORTS, "name")
    page, size = page_params(ctx.query, default_size=50, max_size=1000)
    found = await ctx.nats.consumers(stream)
    if q:
        found = [c for c in found if q in c.name.lower() or any(q in f.lower() for f in c.filter_subjects)]
    if sort in SORT_KEYS:
        found = sorted(found, key=SORT_KEYS[sort], reverse=True)
    shown = paged(found, page, size)
    sampled = await sync_to_async(list_statuses)(ctx.slug, "nats", [(stream, c.name) for c in shown])
    data = {
        "stream": stream,
        "items": [{**c.as_api(), **sampled[(stream, c.name)]} for c in shown],
        "total": len(found),
        "page": page,
        "page_size": size,
        "q": q,
        "sort": sort,
    }
    rows = [(c, sampled[(stream, c.name)]) for c in shown]
    return Result(data, page={"consumers": shown, "rows": rows, **POLICY_CHOICES})


@described(answers={200: api.ConsumerDetail})
async def consumer_data(ctx: Ctx) -> Result:
    adapter = ctx.nats
    consumer = await adapter.consumer(ctx.args["stream"], ctx.args["name"])
    version = adapter.server_version()
    page = {
        "consumer": consumer,
        "config_rows": config_rows(consumer.config),
        "form": editing.form_values(consumer.config),
        **POLICY_CHOICES,
        "server_version": version,
        "pause_supported": version is None or at_least(version, PAUSE_MIN_VERSION),
    }
    return Result(consumer.as_api(with_config=True), page=page)


def _pause_until(ctx: Ctx) -> tuple[datetime, dict[str, Any]]:
    """When the pause ends, from ``for`` (a duration) or ``until`` (a time; null: until resumed).

    The page form says "until resumed" with a checkbox; the API with ``"until": null``.
    """
    body = ctx.body()
    now = datetime.now(UTC)
    if not ctx.is_api and bool_param(body, "indefinitely", False):
        return now + INDEFINITE_PAUSE, {"until": None}
    duration = str_param(body, "for", max_length=40).strip()
    if duration:
        try:
            span = parse_duration(duration)
        except ValueError:
            raise InvalidInput(
                "for must be a duration such as 90s, 10m or 1h30m, of at most 100 years.", field="for"
            ) from None
        return now + span, {"for": duration}
    if ctx.is_api and "until" in body and body["until"] is None:
        return now + INDEFINITE_PAUSE, {"until": None}
    if ctx.is_api and "until" not in body:
        raise InvalidInput('Give "until" (an ISO-8601 time, or null for until resumed) or "for" (10m).', field="until")
    if not isinstance(body.get("until"), str | None):
        raise InvalidInput("until must be an ISO-8601 time or null.", field="until")
    until = datetime_param(body, "until")
    if until is None:
        raise InvalidInput("Give a duration (for example 10m) or a time to pause until.", field="for")
    if until <= now:
        raise InvalidInput("until must be in the future.", field="until")
    if until - now > INDEFINITE_PAUSE:
        raise InvalidInput("until may be at most 100 years away.", field="until")
    return until, {"until": until.isoformat()}


@described(body=api.PausePlan, answers={200: api.Paused})
@writes(actions.CONSUMER_PAUSE, needs="edit")
async def consumer_pause(ctx: Ctx) -> dict[str, Any]:
    stream, name = ctx.args["stream"], ctx.args["name"]
    until, params = _pause_until(ctx)
    state = await actions.do_pause_consumer(ctx.user, ctx.config, stream, name, until, params)
    when = pause_description(state.pause_remaining_s)
    return {
        "stream": stream,
        "name": name,
        "paused": state.paused,
        "pause_until": state.pause_until,
        "pause_remaining_s": state.pause_remaining_s,
        "message": f"Consumer {name} paused {when}." if when else f"Consumer {name} paused.",
    }


@described(answers={200: api.Resumed})
@writes(actions.CONSUMER_RESUME, needs="edit")
async def consumer_resume(ctx: Ctx) -> dict[str, Any]:
    stream, name = ctx.args["stream"], ctx.args["name"]
    state = await actions.do_resume_consumer(ctx.user, ctx.config, stream, name)
    return {"stream": stream, "name": name, "paused": state.paused, "message": f"Consumer {name} resumed."}


@described(body=api.ConsumerConfig, answers={201: api.ConsumerWritten}, errors=[409])
@writes(editing.CONSUMER_CREATE, needs="edit")
async def consumer_create(ctx: Ctx) -> Result:
    stream = ctx.args["stream"]
    config = editing.consumer_config(ctx.body())
    ctx.args["name"] = config["durable_name"]
    created = await editing.do_put_consumer(ctx.user, ctx.config, stream, config, update=False)
    return Result({**created.as_api(with_config=True), "message": f"Consumer {created.name} created."}, status=201)


@described(body=api.ConsumerConfig, answers={200: api.ConsumerWritten})
@writes(editing.CONSUMER_UPDATE, needs="edit")
async def consumer_update(ctx: Ctx) -> dict[str, Any]:
    stream, name = ctx.args["stream"], ctx.args["name"]
    config = editing.consumer_config(ctx.body(), name=name)
    updated = await editing.do_put_consumer(ctx.user, ctx.config, stream, config, update=True)
    return {**updated.as_api(with_config=True), "message": f"Consumer {name} updated."}


@described(answers={200: Deleted})
@writes(editing.CONSUMER_DELETE, needs="delete")
async def consumer_delete(ctx: Ctx) -> dict[str, Any]:
    stream, name = ctx.args["stream"], ctx.args["name"]
    require_confirmation(ctx, name, what="deleting the consumer")
    await editing.do_delete_consumer(ctx.user, ctx.config, stream, name)
    return {"deleted": name, "message": f"Consumer {name} deleted."}
