"""Managed consumers: the Workers page and its API, the create/edit form, pause, resume,
restart and delete (operators), and the handlers they can run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.urls import URLPattern, reverse

from console.apitypes import workers as api
from console.openapi import described
from console.params import choice_param, int_param, str_param
from console.resources import ANYONE, WORKER
from console.web import Ctx, Result, action, endpoint, require_confirmation, writes
from streams import adapters, jsontext
from streams.errors import InvalidInput, NotFound
from streams.policies import MESSAGES, PUBLISH, STREAMS, SUBJECTS, TOPICS, VIEW, WORKER_KIND, WORKERS
from streams.workers import actions
from streams.workers import registry as handlers
from streams.workers.actions import Definition
from streams.workers.models import ManagedConsumer
from streams.workers.overview import WorkerView, worker, workers

DESIRED = tuple(ManagedConsumer.Desired.values)
STARTS = tuple(ManagedConsumer.Start.values)
CONFIG_LIMIT = 256 * 1024


def _json_object(data: Mapping[str, Any], name: str, *, nullable: bool) -> dict[str, Any] | None:
    """An object from the API, or the JSON text of a form field."""
    raw = data.get(name)
    if raw is None or raw == "":
        if nullable:
            return None
        return {}
    if isinstance(raw, str):
        if len(raw) > CONFIG_LIMIT:
            raise InvalidInput(f"{name} is too large.", field=name)
        try:
            raw = jsontext.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"{name} is not valid JSON: {exc}.", field=name) from None
        if raw is None and nullable:
            return None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{name} must be a JSON object{' or null' if nullable else ''}.", field=name)
    return raw


async def _dead_letter(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """``dead_letter`` as the API gives it, or the form's cluster and topic/subject fields."""
    if "dead_letter" in body:
        return _json_object(body, "dead_letter", nullable=True)
    cluster = str_param(body, "dead_letter_cluster", max_length=50).strip()
    target = str_param(body, "dead_letter_target", max_length=1024).strip()
    if not cluster and not target:
        return None
    if not cluster or not target:
        raise InvalidInput(
            "Give both the dead-letter cluster and its topic or subject, or neither.", field="dead_letter"
        )
    try:
        config = await adapters.aget_config(cluster)
    except NotFound as exc:
        raise InvalidInput(exc.message, field="dead_letter") from None
    return {"cluster": cluster, "topic" if config.kind == "kafka" else "subject": target}


async def _definition(ctx: Ctx, name: str | None = None, current: ManagedConsumer | None = None) -> Definition:
    body = ctx.body()
    if "topic" in body or "stream" in body:
        kind = "topic" if body.get("topic") not in (None, "") else "stream"
        source = str_param(body, kind, max_length=255).strip()
    else:
        kind = choice_param(body, "source_kind", ("topic", "stream"), current.source_kind if current else None) or ""
        if not kind:
            raise InvalidInput('Give "topic" (Kafka) or "stream" (JetStream).', field="topic")
        source = str_param(body, "source", current.source if current else "", max_length=255).strip()
    if not source:
        raise InvalidInput(f"{kind} is required.", field=kind)
    group_field = "group" if "group" in body or kind == "topic" else "durable"
    group = str_param(body, group_field, current.group if current else "", max_length=255).strip()
    if not group:
        raise InvalidInput(
            f"{group_field} is required: the Kafka group id or the JetStream durable name.", field=group_field
        )
    cluster = str_param(body, "cluster", current.cluster if current else "", max_length=50).strip()
    if not cluster:
        raise InvalidInput("cluster is required.", field="cluster")
    handler = str_param(body, "handler", current.handler if current else "", max_length=100).strip()
    if not handler:
        raise InvalidInput("handler is required.", field="handler")
    config = _json_object(body, "config", nullable=False) if "config" in body else (current.config if current else {})
    assert config is not None

    def number(field: str, default: int, maximum: int, minimum: int = 0) -> int:
        fallback = getattr(current, field) if current is not None else default
        value = int_param(body, field, fallback, minimum=minimum, maximum=maximum)
        assert value is not None
        return value

    dead_letter = await _dead_letter(body) if _mentions_dead_letter(body) or current is None else current.dead_letter
    final_name = (name or str_param(body, "name", max_length=100)).strip()
    # What the worker will be and read, which the body may change: its cluster, its source.
    ctx.need(WORKERS, WORKER_KIND, final_name, cluster)
    ctx.need(MESSAGES, TOPICS if kind == "topic" else STREAMS, source, cluster)
    if dead_letter and _mentions_dead_letter(body):
        dead_kind, dead_target = (TOPICS, "topic") if "topic" in dead_letter else (SUBJECTS, "subject")
        ctx.need(PUBLISH, dead_kind, str(dead_letter.get(dead_target) or ""), str(dead_letter.get("cluster") or ""))
    return Definition(
        name=final_name,
        cluster=cluster,
        source_kind=kind,
        source=source,
        group=group,
        filter_subject=str_param(
            body, "filter_subject", current.filter_subject if current else "", max_length=1024
        ).strip(),
        handler=handler,
        config=config,
        start=choice_param(body, "start", STARTS, current.start if current else "latest") or "latest",
        batch_size=number("batch_size", 500, actions.MAX_BATCH, minimum=1),
        concurrency=number("concurrency", 1, actions.MAX_CONCURRENCY, minimum=1),
        max_retries=number("max_retries", 3, actions.MAX_RETRIES),
        retry_backoff_ms=number("retry_backoff_ms", 200, 600_000),
        retry_backoff_max_ms=number("retry_backoff_max_ms", 10_000, 3_600_000),
        dead_letter=dead_letter,
        desired=choice_param(body, "desired", DESIRED, current.desired if current else "running") or "running",
    )


def _mentions_dead_letter(body: Mapping[str, Any]) -> bool:
    return any(k in body for k in ("dead_letter", "dead_letter_cluster", "dead_letter_target"))


def _page(view: WorkerView) -> dict[str, Any]:
    return {"worker": view}


# -- API and pages --------------------------------------------------------------------------------


@described(answers={200: api.WorkerList})
async def workers_list(ctx: Ctx) -> Result:
    found = [w for w in await workers() if ctx.may(VIEW, WORKER_KIND, w.consumer.name, w.consumer.cluster)]
    return Result({"items": [w.as_api() for w in found], "total": len(found)}, page={"workers": found})


@described(body=api.Definition, answers={201: api.WorkerChanged}, errors=[409])
@writes(actions.WORKER_CREATE, needs="workers")
async def worker_create(ctx: Ctx) -> Result:
    definition = await _definition(ctx)
    consumer = await actions.do_create_worker(ctx.user, definition)
    view = await worker(consumer.name, with_lag=False)
    data = {**view.as_api(), "message": f"Managed consumer {consumer.name} created."}
    return Result(data, status=201, page={**_page(view), "created": view})


@described(answers={200: api.Worker})
async def worker_detail(ctx: Ctx) -> Result:
    view = await worker(ctx.args["name"])
    return Result(view.as_api(), page=_page(view))


@described(body=api.Definition, answers={200: api.WorkerChanged}, errors=[409])
@writes(actions.WORKER_UPDATE, needs="workers")
async def worker_update(ctx: Ctx) -> Result:
    name = ctx.args["name"]
    current = await actions.get_consumer(name)
    definition = await _definition(ctx, name, current)
    await actions.do_update_worker(ctx.user, name, definition)
    view = await worker(name, with_lag=False)
    data = {**view.as_api(), "message": f"Saved; every instance of {name} restarts with the new definition."}
    return Result(data, page={**_page(view), "updated": view})


@described(answers={200: api.WorkerDeleted})
@writes(actions.WORKER_DELETE, needs="workers")
async def worker_delete(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["name"]
    require_confirmation(ctx, name, what="the deletion")
    consumer = await actions.do_delete_worker(ctx.user, name)
    left = "group" if consumer.source_kind == "topic" else "durable"
    return {
        "deleted": name,
        "message": f"Managed consumer {name} deleted; it stops everywhere. Its {left} {consumer.group} stays on "
        f"{consumer.cluster}.",
    }


async def _control(ctx: Ctx, verb: str) -> Result:
    name = ctx.args["name"]
    if verb == "pause":
        await actions.do_pause_worker(ctx.user, name)
    elif verb == "resume":
        await actions.do_resume_worker(ctx.user, name)
    else:
        await actions.do_restart_worker(ctx.user, name)
    view = await worker(name, with_lag=False)
    said = {"pause": "is pausing", "resume": "is resuming", "restart": "is restarting"}[verb]
    return Result({**view.as_api(), "message": f"{name} {said} on every instance."}, status=202)


@described(answers={202: api.WorkerChanged}, errors=[409])
@writes(actions.WORKER_PAUSE, needs="workers", stops=True)
async def worker_pause(ctx: Ctx) -> Result:
    return await _control(ctx, "pause")


@described(answers={202: api.WorkerChanged}, errors=[409])
@writes(actions.WORKER_RESUME, needs="workers")
async def worker_resume(ctx: Ctx) -> Result:
    return await _control(ctx, "resume")


@described(answers={202: api.WorkerChanged}, errors=[409])
@writes(actions.WORKER_RESTART, needs="workers")
async def worker_restart(ctx: Ctx) -> Result:
    return await _control(ctx, "restart")


@described(answers={200: api.Handlers})
async def handlers_list(ctx: Ctx) -> dict[str, Any]:
    found = handlers.all_handlers()
    return {"items": [h.as_api() for h in found], "import_errors": handlers.import_errors()}


# -- the create / edit form -----------------------------------------------------------------------------


async def _form_choices() -> dict[str, Any]:
    found = handlers.all_handlers()
    return {
        # An unsaved row: a new consumer's form shows the model's defaults.
        "blank": ManagedConsumer(),
        "clusters": await adapters.aclusters(),
        "handlers": found,
        "handler_schemas": {h.name: json.dumps(h.config_schema, indent=2) for h in found},
        "starts": STARTS,
        "desireds": DESIRED,
        "import_errors": handlers.import_errors(),
    }


@described(answers={200: api.NewForm})
async def new_form(ctx: Ctx) -> Result:
    return Result(
        {"handlers": [h.as_api() for h in handlers.all_handlers()]},
        page={"prefill": {"config": "{}"}, **await _form_choices()},
    )


@described(answers={200: api.Worker})
async def edit_form(ctx: Ctx) -> Result:
    view = await worker(ctx.args["name"], with_lag=False)
    consumer = view.consumer
    dead = consumer.dead_letter or {}
    prefill = {
        "config": json.dumps(consumer.config, indent=2),
        "dead_letter_cluster": dead.get("cluster", ""),
        "dead_letter_target": dead.get("topic") or dead.get("subject") or "",
    }
    return Result(view.as_api(), page={**_page(view), "prefill": prefill, **await _form_choices()})


def _back(ctx: Ctx, data: dict[str, Any]) -> str:
    if ctx.body().get("next") == "list":
        return reverse("workers")
    return reverse("worker", args=[ctx.args["name"]])


W = "workers/<str:name>"

urlpatterns: list[URLPattern] = [
    *endpoint(
        "workers",
        name="workers",
        resource=WORKER,
        template="workers/index.html",
        partial="workers/_list.html",
        page={"nav": "workers"},
        get=workers_list,
        post=worker_create,
    ),
    *endpoint(
        "workers/new",
        name="worker-new",
        resource=WORKER,
        template="workers/form.html",
        form="workers/_form_outcome.html",
        page={"nav": "workers"},
        get=new_form,
        post=worker_create,
    ),
    *endpoint("handlers", name="handlers", resource=ANYONE, get=handlers_list),
    *endpoint(
        W,
        name="worker",
        resource=WORKER,
        template="workers/detail.html",
        partial="workers/_detail.html",
        page={"nav": "workers"},
        get=worker_detail,
        post=worker_update,
        delete=worker_delete,
    ),
    *endpoint(
        f"{W}/edit",
        name="worker-edit",
        resource=WORKER,
        template="workers/form.html",
        form="workers/_form_outcome.html",
        page={"nav": "workers", "editing": True},
        get=edit_form,
        post=worker_update,
    ),
    *endpoint(f"{W}/pause", name="worker-pause", resource=WORKER, post=worker_pause),
    *endpoint(f"{W}/resume", name="worker-resume", resource=WORKER, post=worker_resume),
    *endpoint(f"{W}/restart", name="worker-restart", resource=WORKER, post=worker_restart),
    *action(f"{W}/pause", name="worker-pause", resource=WORKER, handler=worker_pause, redirect=_back),
    *action(f"{W}/resume", name="worker-resume", resource=WORKER, handler=worker_resume, redirect=_back),
    *action(f"{W}/restart", name="worker-restart", resource=WORKER, handler=worker_restart, redirect=_back),
    *action(
        f"{W}/delete",
        name="worker-delete",
        resource=WORKER,
        handler=worker_delete,
        redirect=lambda ctx, data: reverse("workers"),
    ),
]
