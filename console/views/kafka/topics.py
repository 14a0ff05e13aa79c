"""Kafka topics: the list (paged before described), one topic, create, delete, grow, purge."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from console.apitypes import kafka as api
from console.apitypes.common import Deleted
from console.openapi import described
from console.params import choice_param, datetime_param, int_param, page_params, str_param
from console.views.kafka.common import lag_api
from console.views.kafka.configs import read_configs
from console.web import Ctx, Result, require_confirmation, writes
from streams.errors import InvalidInput, StreamdeskError
from streams.kafka import actions
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.groups import read_watermarks
from streams.kafka.lag import group_lag, sort_by_lag
from streams.kafka.names import parse_configs, validate_topic_name
from streams.kafka.purge import PurgeRequest
from streams.kafka.types import TopicInfo, TopicPartitionKey, Watermark
from streams.policies import CONSUMER_GROUPS, TOPICS
from streams.schemas import subjects
from streams.schemas.local import bound_to


def _count(info: TopicInfo, marks: Mapping[TopicPartitionKey, Watermark]) -> int | None:
    known = [marks[(info.name, p)].messages for p in info.partition_ids if (info.name, p) in marks]
    return sum(known) if known else None


@described(query=api.TopicsQuery, answers={200: api.TopicList})
async def topics_list(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=249).strip()
    internal = choice_param(ctx.query, "internal", ("show", "hide"), "show")
    page, size = page_params(ctx.query, default_size=50, max_size=500)
    adapter = ctx.kafka
    md = await adapter.metadata()
    needle = q.casefold()
    names = [n for n in md.sorted_names if needle in n.casefold() and (internal == "show" or not md.topics[n].internal)]
    names = ctx.visible(TOPICS, names)
    shown = [md.topics[n] for n in names[(page - 1) * size : page * size]]
    marks, warning = await read_watermarks(adapter, shown)
    items = [
        {
            "name": info.name,
            "partitions": len(info.partitions),
            "replication_factor": info.replication_factor,
            "messages": _count(info, marks),
            "internal": info.internal,
        }
        for info in shown
    ]
    return {
        "items": items,
        "total": len(names),
        "page": page,
        "page_size": size,
        "q": q,
        "internal": internal,
        "warning": warning,
    }


@described(body=api.TopicCreate, answers={201: api.TopicCreated}, errors=[409])
@writes(actions.TOPIC_CREATE, needs="edit")
async def topic_create(ctx: Ctx) -> Result:
    body = ctx.body()
    name = validate_topic_name(body.get("name"))
    partitions = int_param(body, "partitions", 1, minimum=1, maximum=100_000)
    replication = int_param(body, "replication_factor", -1, minimum=-1, maximum=100)
    if replication == 0:
        raise InvalidInput(
            "replication_factor must be at least 1 (or -1 for the broker's default).", field="replication_factor"
        )
    configs = parse_configs(body.get("configs"))
    assert partitions is not None and replication is not None
    await actions.do_create_topic(ctx.user, ctx.config, name, partitions, replication, configs)
    params = {"partitions": partitions, "replication_factor": replication, "configs": configs}
    return Result({"name": name, **params, "message": f"Topic {name} created."}, status=201)


@described(answers={200: api.TopicDetail})
async def topic_detail(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["topic"]
    adapter = ctx.kafka
    info = await adapter.topic(name)
    marks, warning = await read_watermarks(adapter, [info])
    (configs, details, configs_note), (readers, groups_note), (schemas, schemas_note) = await asyncio.gather(
        read_configs(adapter, name), _readers(adapter, info, marks), subjects.topic_subjects(ctx.config, name)
    )
    partitions = []
    for p in info.partitions:
        mark = marks.get((name, p.partition))
        partitions.append(
            {
                "partition": p.partition,
                "leader": p.leader,
                "replicas": list(p.replicas),
                "isr": list(p.isr),
                "low": mark.low if mark else None,
                "high": mark.high if mark else None,
                "messages": mark.messages if mark else None,
                "under_replicated": len(p.isr) < len(p.replicas),
                "error": p.error,
            }
        )
    return {
        "name": name,
        "internal": info.internal,
        "replication_factor": info.replication_factor,
        "messages": _count(info, marks),
        "partitions": partitions,
        "configs": configs,
        "config_details": details,
        "configs_note": configs_note,
        "groups": ctx.visible(CONSUMER_GROUPS, readers, lambda r: r["group"]),
        "groups_note": groups_note,
        "schemas": schemas,
        "schemas_note": schemas_note,
        "decoders": bound_to(ctx.config.decoders, name),
        "warning": warning,
    }


async def _readers(
    adapter: KafkaAdapter, info: TopicInfo, marks: Mapping[TopicPartitionKey, Watermark]
) -> tuple[list[dict[str, Any]], str | None]:
    """Groups with commits on this topic and their lag on it (Kafka keeps no reverse index)."""
    try:
        listings = await adapter.groups()
        committed, unanswered = await adapter.committed_some([g.group for g in listings])
    except StreamdeskError as exc:
        return [], f"Consumer groups unavailable: {exc.message}"
    note = None
    if unanswered:
        shown = ", ".join(unanswered[:5]) + (f" and {len(unanswered) - 5} more" if len(unanswered) > 5 else "")
        note = f"Committed offsets of {len(unanswered)} group(s) could not be read, so they may be missing: {shown}."
    rows = []
    for group, offsets in committed.items():
        mine = {k: v for k, v in offsets.items() if k[0] == info.name}
        if not mine:
            continue
        rows.append(group_lag(group, mine, marks, {info.name: info.partition_ids}))
    return [
        {
            "group": g.group,
            **lag_api(g),
            "committed": len(g.partitions) - g.uncommitted,
            "uncommitted": g.uncommitted,
        }
        for g in sort_by_lag(rows)
    ], note


@described(answers={200: Deleted})
@writes(actions.TOPIC_DELETE, needs="delete")
async def topic_delete(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["topic"]
    require_confirmation(ctx, name, what="the deletion")
    await actions.do_delete_topic(ctx.user, ctx.config, name)
    return {"deleted": name, "message": f"Topic {name} deleted."}


@described(body=api.PartitionsAdd, answers={200: api.PartitionsAdded})
@writes(actions.TOPIC_ADD_PARTITIONS, needs="edit")
async def topic_partitions(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["topic"]
    count = int_param(ctx.body(), "count", None, minimum=1, maximum=100_000)
    if count is None:
        raise InvalidInput("count (the new total number of partitions) is required.", field="count")
    await actions.do_add_partitions(ctx.user, ctx.config, name, count)
    return {"name": name, "partitions": count, "message": f"Topic {name} now has {count} partitions."}


def parse_purge(topic: str, body: Mapping[str, Any], *, form: bool) -> PurgeRequest:
    """The API's ``{"partitions": [int]|null, "before": {"offset": N}|{"time": ISO}|null}``, or a page
    form's ``partitions`` ("0, 2"; empty for all), ``before`` (everything|offset|time) and ``before_value``."""
    raw = body.get("partitions")
    if form and isinstance(raw, str):
        raw = raw.replace(",", " ").split() or None
    partitions: tuple[int, ...] | None = None
    if raw is not None:
        if not isinstance(raw, list) or not raw or len(raw) > 100_000:
            raise InvalidInput(
                "partitions must be a non-empty list of partition numbers, or null for all.", field="partitions"
            )
        chosen = {int_param({"partitions": item}, "partitions", minimum=0, maximum=1_000_000) for item in raw}
        partitions = tuple(sorted(p for p in chosen if p is not None))
    before = body.get("before")
    if form:
        kind = body.get("before") or "everything"
        before = None if kind == "everything" else {kind: body.get("before_value")}
    if before is None:
        return PurgeRequest(topic, partitions)
    if not isinstance(before, Mapping) or len(before) != 1 or next(iter(before)) not in ("offset", "time"):
        raise InvalidInput('before must be {"offset": N}, {"time": ISO} or null.', field="before")
    if "offset" in before:
        offset = int_param({"before": before["offset"]}, "before", minimum=0)
        if offset is None:
            raise InvalidInput("before needs an offset.", field="before")
        return PurgeRequest(topic, partitions, before_offset=offset)
    moment = datetime_param({"before": before["time"]}, "before")
    if moment is None:
        raise InvalidInput("before needs a time (ISO-8601).", field="before")
    return PurgeRequest(topic, partitions, before_time=moment)


@described(body=api.Purge, answers={200: api.Purged})
@writes(actions.TOPIC_PURGE, needs="delete")
async def topic_purge(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["topic"]
    req = parse_purge(name, ctx.body(), form=not ctx.is_api)
    require_confirmation(ctx, name, what="the purge")
    done = await actions.do_purge_topic(ctx.user, ctx.config, req)
    return {
        "partitions": [{"partition": p.partition, "low": p.low} for p in done],
        "message": f"Purged {name}: " + ", ".join(f"partition {p.partition} now starts at {p.low}" for p in done),
    }
