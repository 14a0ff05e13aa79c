"""JetStream streams: the list, one stream with its busiest subjects, purge and delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from console.apitypes import nats as api
from console.apitypes.common import Deleted
from console.openapi import described
from console.params import choice_param, int_param, page_params, str_param
from console.views.nats.common import config_rows, paged, subject_param
from console.web import Ctx, Result, require_confirmation, writes
from streams.nats import actions, editing
from streams.nats.subjects import SUBJECT_MAX_LENGTH
from streams.policies import STREAMS

STREAM_SORTS = ("name", "messages", "bytes", "consumers", "last")
PAGE_SUBJECTS_SHOWN = 500


@described(query=api.StreamsQuery, answers={200: api.StreamList})
async def streams_data(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=SUBJECT_MAX_LENGTH).strip().lower()
    sort = choice_param(ctx.query, "sort", STREAM_SORTS, "name")
    page, size = page_params(ctx.query, default_size=50, max_size=1000)
    found = ctx.visible(STREAMS, await ctx.nats.streams(), lambda s: s.name)
    if q:
        found = [s for s in found if q in s.name.lower() or any(q in subject.lower() for subject in s.subjects)]
    if sort == "messages":
        found = sorted(found, key=lambda s: s.messages, reverse=True)
    elif sort == "bytes":
        found = sorted(found, key=lambda s: s.bytes, reverse=True)
    elif sort == "consumers":
        found = sorted(found, key=lambda s: s.consumers, reverse=True)
    elif sort == "last":
        epoch = datetime.min.replace(tzinfo=UTC)
        found = sorted(found, key=lambda s: s.last_ts or epoch, reverse=True)
    return {
        "items": [s.as_api() for s in paged(found, page, size)],
        "total": len(found),
        "page": page,
        "page_size": size,
        "q": q,
        "sort": sort,
    }


@described(answers={200: api.StreamDetail})
async def stream_data(ctx: Ctx) -> Result:
    detail = await ctx.nats.stream(ctx.args["stream"])
    top = sorted(detail.subjects.items(), key=lambda kv: (-kv[1], kv[0]))[:PAGE_SUBJECTS_SHOWN]
    page = {
        "stream_obj": detail.summary,
        "config_rows": config_rows(detail.config),
        "top_subjects": top,
        "form": editing.form_values(detail.config),
    }
    return Result(detail.as_api(), page=page)


@described(answers={200: Deleted})
@writes(actions.STREAM_DELETE, needs="delete")
async def stream_delete(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["stream"]
    require_confirmation(ctx, name, what="deleting the stream")
    await actions.do_delete_stream(ctx.user, ctx.config, name)
    return {"deleted": name, "message": f"Stream {name} deleted."}


@described(body=api.StreamPurge, answers={200: api.StreamPurged})
@writes(actions.STREAM_PURGE, needs="delete")
async def stream_purge(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["stream"]
    body = ctx.body()
    subject = subject_param(body, "subject")
    keep = int_param(body, "keep", None, minimum=0, maximum=2**53)
    require_confirmation(ctx, name, what="the purge")
    purged = await actions.do_purge_stream(ctx.user, ctx.config, name, subject=subject, keep=keep)
    scope = f" on {subject}" if subject else ""
    kept = f", kept the newest {keep}" if keep is not None else ""
    return {"purged": purged, "message": f"Purged {purged} messages{scope} from {name}{kept}."}


@described(body=api.StreamConfig, answers={201: api.StreamWritten}, errors=[409])
@writes(editing.STREAM_CREATE, needs="edit")
async def stream_create(ctx: Ctx) -> Result:
    config = editing.stream_config(ctx.body())
    ctx.args["stream"] = config["name"]
    created = await editing.do_create_stream(ctx.user, ctx.config, config)
    return Result({**created.as_api(), "message": f"Stream {config['name']} created."}, status=201)


@described(body=api.StreamConfig, answers={200: api.StreamWritten})
@writes(editing.STREAM_UPDATE, needs="edit")
async def stream_update(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["stream"]
    changes = editing.stream_config(ctx.body(), name=name)
    updated = await editing.do_update_stream(ctx.user, ctx.config, name, changes)
    return {**updated.as_api(), "message": f"Stream {name} updated."}
